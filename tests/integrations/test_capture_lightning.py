"""`nndoctor run` on a PyTorch Lightning script: `Trainer.fit` captured like any loop (the LightningModule is the
model, the loss its training_step computes, the optimizer configure_optimizers returns; Lightning steps with a
closure that runs the forward and backward inside `optimizer.step`). Skipped when pytorch-lightning is absent."""
from __future__ import annotations

import textwrap

import pytest

pl = pytest.importorskip("pytorch_lightning")

from torch import nn  # noqa: E402

from nndoctor.capture.api import capture, diagnose_script  # noqa: E402

SCRIPT = '''
import torch, torch.nn as nn, torch.nn.functional as F
import pytorch_lightning as pl
from torch.utils.data import DataLoader, TensorDataset

g = torch.Generator().manual_seed(0)
x = torch.randn(256, 8, generator=g)
y = (x @ torch.randn(8, 3, generator=g)).argmax(1)


class Lit(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, idx):
        inputs, targets = batch
        loss = F.cross_entropy(self(inputs), targets)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


trainer = pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, accelerator="cpu")
trainer.fit(Lit(), DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True))
'''


@pytest.fixture
def script(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Lightning writes its folders under the current one
    path = tmp_path / "lit_train.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return str(path)


def test_trainer_fit_is_captured(script):
    c = capture(script)
    assert type(c.model).__name__ == "Lit" and type(c.optimizer).__name__ == "Adam"
    assert isinstance(c.subject.loss, nn.CrossEntropyLoss)
    assert "lit_train.py:21" in c.parts["loss"] and c.run.outcome == "steps"
    assert all(s.closure for s in c.recording.steps)  # step(closure): the backward runs inside the step
    assert c.parts["loop"].endswith("zero_grad -> backward -> step, the same in steps 1-3") or \
        "forward -> loss -> zero_grad -> backward -> step" in c.parts["loop"]


def test_a_healthy_lightning_module_is_healthy(script):
    report = diagnose_script(script, quick=True)
    assert report.status == "healthy", [(f.code, f.title) for f in report.findings]
