"""`nndoctor run` on a Hugging Face `Trainer.train` script: the model computes its own loss and returns it as
`.loss`; capture finds the cross-entropy inside its forward, on `logits`, with the labels' pad-and-shift, and the
division of the summed loss by the token count. Skipped when transformers (and accelerate) are absent."""
from __future__ import annotations

import textwrap

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from torch import nn  # noqa: E402

from nndoctor.capture.adapters import AdaptedLoader  # noqa: E402
from nndoctor.capture.api import capture  # noqa: E402

SCRIPT = '''
import torch
from torch.utils.data import Dataset
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments


class Tokens(Dataset):
    def __init__(self):
        self.ids = torch.randint(0, 64, (64, 16), generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


model = GPT2LMHeadModel(GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=2, n_head=2))
args = TrainingArguments(output_dir="out", per_device_train_batch_size=8, num_train_epochs=1, report_to=[],
                         use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True)
Trainer(model=model, args=args, train_dataset=Tokens()).train()
'''


def test_trainer_train_is_captured(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "hf_train.py"
    path.write_text(textwrap.dedent(SCRIPT))
    c = capture(str(path))
    assert type(c.model).__name__ == "GPT2LMHeadModel" and c.subject.outputs == "logits"
    loss = c.subject.loss
    assert isinstance(loss, nn.CrossEntropyLoss) and loss.reduction == "mean"  # sum / tokens is the mean
    assert isinstance(c.subject.data, AdaptedLoader)
    inputs, targets = next(iter(c.subject.data))
    assert set(inputs) == {"input_ids"} and targets.shape == inputs["input_ids"].shape  # labels shifted by one
    assert bool((targets[:, :-1] == inputs["input_ids"][:, 1:]).all()) and bool((targets[:, -1] == -100).all())
    # The trainer's linear schedule has moved the live lr; the checks get the initial one (the default 5e-5).
    assert c.optimizer.param_groups[0]["lr"] < 5e-5
    assert c.subject.optimizer(c.subject.model).param_groups[0]["lr"] == pytest.approx(5e-5)
