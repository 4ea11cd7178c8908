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


def test_a_backward_that_raises_blocks_the_checks_that_train_on_the_loss():
    """A forward that runs under torch.no_grad: forward and the loss run, backward raises. The checks that train
    a copy on the loss are `blocked` naming ND308 (they would only meet the same exception: a crash is a finding
    about nndoctor, this one is the user's), and those that need only forward passes still run."""
    class NoGradForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            with torch.no_grad():  # left over from an inference script
                return self.fc(x)

    report = nndoctor.diagnose(NoGradForward(), make_classification(), nn.CrossEntropyLoss(), device="cpu")
    assert report.findings[0].code == "ND308" and report.findings[0].evidence["stage"] == "backward"
    status = {c.name: (c.status, c.detail) for c in report.checks}
    trains = ["chance-loss", "nan-tracing", "random-input", "overfit-one-batch"]
    assert all(status[name] == ("blocked", "not run: the backward step fails on a real batch (see ND308)")
               for name in trains), status
    assert not [name for name, (s, _) in status.items() if s == "crashed"], status
    assert status["activations"][0] == "passed" and status["loss-inputs"][0] == "passed", status
    assert report.status == "errors"
