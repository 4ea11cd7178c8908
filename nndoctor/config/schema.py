"""The run config's keys, in one place: what the loader validates and what the README's config table is tested
against."""
from __future__ import annotations

TASKS = ("classification", "binary", "multilabel", "regression", "language-modeling")
KEYS = (
    "model", "model_kwargs", "data", "data_kwargs", "val_data", "val_data_kwargs", "loss", "loss_kwargs",
    "optimizer", "optimizer_kwargs", "task", "num_classes", "batch", "train_step", "outputs", "pythonpath",
    "device", "seed", "checks", "max_batches",
    "wrap",  # a run on several ranks (--nproc N, torchrun): wrap(model) -> the data-parallel model
)
REQUIRED = ("model", "data", "loss")
# `batch:` sub-keys: where the inputs and the targets are, where forward takes the targets (`loss: model`), and
# the inputs' layout (`batch_axis: null`: unbatched).
BATCH_KEYS = ("inputs", "targets", "targets_arg", "batch_axis", "time_axis")
LAYOUT_KEYS = ("batch_axis", "time_axis")
MODEL_LOSS = "model"  # `loss: model`: the model computes its own loss (handed the targets, it returns it)
OUTPUT_PARTS = ("logits", "loss")  # `outputs: {logits: KEY, loss: KEY}`
MAPPINGS = ("model_kwargs", "data_kwargs", "val_data_kwargs", "loss_kwargs", "optimizer_kwargs", "batch", "checks")
DEFAULT_MAX_BATCHES = 8  # batches read from each loader; the run's cost does not grow with the dataset

# Bounds on the file itself: a run config is a few dozen lines, so these only stop a wrong file (a dataset, a
# binary, /dev/zero) or a hostile one from taking minutes or gigabytes before the one-line error.
MAX_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 32  # nested mappings and lists (a config needs about five: checks -> name -> option -> list)
MAX_NODES = 100_000  # values once aliases are expanded: shared kwargs reuse a few, a "billion laughs" 10**9
SHOW_CHARS = 80  # a value echoed in an error is cut to this many characters
SEED_RANGE = (0, 2**64 - 1)  # torch.manual_seed's range (numpy takes the seed modulo 2**32)
