"""Thresholds that were module constants are declared options (issue 11): each one is read from the options, so a
config can move it, and moving it moves the judgement."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor
from nndoctor.engine.registry import all_checks
from nndoctor.probes.sequences import SHIFT_SHARE, predicts_next_step

from conftest import make_classification, mlp

DECLARED = {
    "overfit-one-batch": {"slow_factor": 10.0, "pace_z": 2.0},
    "chance-loss": {"head_delta": 0.05, "head_max_unseen": 0.1, "head_width_ratio": 2.0},
    "random-input": {"z_power": 1.2816, "steps": 256, "shift_share": SHIFT_SHARE},
    "batch-independence": {"shift_share": SHIFT_SHARE},
    "input-sanity": {"shift_share": SHIFT_SHARE},
}


def test_the_constants_are_declared_options_with_their_old_values():
    checks = all_checks()
    for name, values in DECLARED.items():
        options = checks[name].declared_options()
        for key, default in values.items():
            assert options[key].default == default, (name, key)
            assert options[key].help and options[key].problem(default) is None, (name, key)


def test_slow_factor_moves_the_crawl_rule():
    """Adam at 1e-4 needs about 6 budgets at its final pace: a note under the default (10 budgets), a warning when
    a crawl is declared at 3 budgets."""
    def run(options):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
        report = nndoctor.diagnose(model, make_classification(seed=1), nn.CrossEntropyLoss(),
                                   torch.optim.Adam(model.parameters(), lr=1e-4), select=["overfit-one-batch"],
                                   device="cpu", options={"overfit-one-batch": options} if options else None)
        return [(f.code, f.severity) for f in report.findings]

    assert run({}) == [("ND501", "info")]
    assert run({"slow_factor": 3.0}) == [("ND501", "warning")]


def test_head_width_ratio_and_max_unseen_move_the_wide_head_rule():
    """A 1000-way head on 10 classes (256 targets read: at most 7.6% of the data in classes not seen): a warning
    by default; silent when the head must be 200x the classes seen, or when at most 5% may be unseen."""
    def run(options):
        torch.manual_seed(0)
        report = nndoctor.diagnose(mlp(classes=1000), make_classification(n=1024, classes=10), nn.CrossEntropyLoss(),
                                   select=["chance-loss"], device="cpu",
                                   options={"chance-loss": options} if options else None)
        return [(f.code, f.severity) for f in report.findings]

    assert run({}) == [("ND201", "warning")]
    assert run({"head_width_ratio": 200.0}) == []
    assert run({"head_max_unseen": 0.05}) == []


def test_shift_share_is_passed_to_the_probe():
    """Targets that are the next input at 80% of the positions: next-step data only when the share asked is below."""
    g = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 50, (64, 11), generator=g)  # (B, T+1)
    x, y = seq[:, :-1], seq[:, 1:].clone()
    noisy = torch.rand(y.shape, generator=g) < 0.2
    y[noisy] = torch.randint(0, 50, (int(noisy.sum()),), generator=g)
    assert not predicts_next_step(x, y)
    assert predicts_next_step(x, y, share=0.7)


def test_random_input_reports_the_power_it_was_given():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(512, 8, generator=g)  # (N, F)
    y = (x @ torch.randn(8, 3, generator=g)).argmax(dim=1)[torch.randperm(512, generator=g)]  # shuffled apart
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 3))
    data = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    report = nndoctor.diagnose(net, data, nn.CrossEntropyLoss(), select=["random-input"], device="cpu",
                               options={"random-input": {"z_power": 2.3263}})  # power 99%
    ev = [f.evidence for f in report.findings if f.code == "ND109"][0]
    assert ev["power"] == 0.99
    # k = (z + z_power) / min_transfer * sqrt(n_train / n_held): the fit the 99% power needs
    k = (2.0 + 2.3263) / 0.25 * math.sqrt(ev["train_samples"] / ev["heldout_samples"])
    assert ev["stderrs_needed_for_power"] == pytest.approx(k, rel=1e-4)
