"""The run config's keys, in one place: what the loader validates and what the README's config table is tested
against."""
from __future__ import annotations

TASKS = ("classification", "binary", "multilabel", "regression", "language-modeling")
KEYS = (
    "model", "model_kwargs", "data", "data_kwargs", "val_data", "val_data_kwargs", "loss", "loss_kwargs",
    "optimizer", "optimizer_kwargs", "task", "num_classes", "batch", "train_step", "outputs", "pythonpath",
    "device", "seed", "checks", "max_batches",
)
REQUIRED = ("model", "data", "loss")
MAPPINGS = ("model_kwargs", "data_kwargs", "val_data_kwargs", "loss_kwargs", "optimizer_kwargs", "batch", "checks")
DEFAULT_MAX_BATCHES = 8  # batches read from each loader; the run's cost does not grow with the dataset
