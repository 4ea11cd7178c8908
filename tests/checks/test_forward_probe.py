"""forward-probe: ND308 when the user's forward, loss or backward raises on a real batch, with the user's own
file:line; silent when one step runs."""
from __future__ import annotations

import torch
from torch import nn

import nndoctor

from conftest import assert_silent, make_classification, mlp, run_example


CHECK = "forward-probe"


def diagnose(model, loss, data=None):
    return nndoctor.diagnose(model, data or make_classification(), loss, select=[CHECK], device="cpu")


def test_fires_on_a_model_that_raises_with_the_users_line():
    class WrongWidth(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(5, 3)  # the data has 8 features

        def forward(self, x):
            return self.fc(x)

    (found,) = diagnose(WrongWidth(), nn.CrossEntropyLoss()).findings
    assert found.code == "ND308" and found.severity == "error" and found.evidence["stage"] == "forward"
    assert "test_forward_probe.py" in found.where and "return self.fc(x)" in found.where


def test_fires_on_a_loss_returning_a_vector():
    def per_sample_loss(out, y):
        return nn.functional.cross_entropy(out, y, reduction="none")  # (B,): backward() needs a scalar

    (found,) = diagnose(mlp(), per_sample_loss).findings
    assert found.code == "ND308" and "not a scalar but has shape (32,)" in found.evidence["exception"]


def test_silent_when_one_step_runs():
    assert_silent(diagnose(mlp(), nn.CrossEntropyLoss()), CHECK, fail_on="info")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)  # (N, F)
    regression = [(x[i:i + 16], x[i:i + 16].sum(dim=1, keepdim=True)) for i in range(0, 64, 16)]  # (B, 1) targets
    assert_silent(diagnose(mlp(classes=1), nn.MSELoss(), regression), CHECK, fail_on="info")


def test_example_ranks_its_code_first(example_path):
    report = run_example(example_path("flatten_size_mismatch"))
    first = report.findings[0]
    assert first.code == "ND308" and report.exit_code() == 1
    assert "flatten_size_mismatch_setup.py:22 in forward" in first.where  # the user's line, not torch's
    assert [c.status for c in report.checks if c.name == "overfit-one-batch"] == ["blocked"]
