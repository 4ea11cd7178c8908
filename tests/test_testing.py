"""The pytest helper: `assert_healthy` passes on a healthy setup and fails with the ranked diagnosis."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from nndoctor import Check
from nndoctor.engine import registry
from nndoctor.report import Report
from nndoctor.testing import assert_healthy

from conftest import assert_silent, make_classification, mlp
from test_cli import CHEAP


def scaled_batches(scale):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g) * scale  # (N, F)
    y = torch.randint(0, 3, (64,), generator=g)  # (N,)
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]


def test_passes_on_a_healthy_setup_and_returns_the_report():
    model = mlp()
    report = assert_healthy(model, make_classification(), nn.CrossEntropyLoss(),
                            torch.optim.Adam(model.parameters(), lr=1e-3), select=CHEAP, device="cpu")
    assert isinstance(report, Report)
    assert_silent(report, *CHEAP.split(","))  # assert_healthy only warns when a check crashes: the checks ran


def test_failure_message_is_the_ranked_diagnosis():
    with pytest.raises(AssertionError) as info:
        assert_healthy(mlp(), scaled_batches(30.0), nn.CrossEntropyLoss(), select=CHEAP, device="cpu")
    msg = str(info.value)
    assert msg.startswith("nndoctor found 1 finding(s) at or above 'warning'; root cause: ND103 unnormalized-inputs")
    assert "#1 warning ND103 unnormalized-inputs" in msg  # the ranked findings, as the terminal shows them
    assert "mean_abs=" in msg and "Normalise inputs" in msg  # evidence and fix
    assert "\x1b[" not in msg  # plain text: no colour codes in a pytest log


def test_fail_on_sets_the_bar():
    args = (mlp(), scaled_batches(30.0), nn.CrossEntropyLoss())
    report = assert_healthy(*args, fail_on="error", select=CHEAP, device="cpu")  # a warning passes
    assert report.status == "warnings"
    with pytest.raises(AssertionError, match="ND103"):
        assert_healthy(*args, fail_on="warning", select=CHEAP, device="cpu")
    with pytest.raises(AssertionError, match="ND308"):  # errors always fail
        assert_healthy(nn.Linear(5, 3), scaled_batches(1.0), nn.CrossEntropyLoss(), fail_on="error", select=CHEAP)
    with pytest.raises(ValueError, match="fail_on"):
        assert_healthy(*args, fail_on="warnings")


class _Broken(Check):
    """Always crashes (test double)."""
    name = "test-broken-check"
    codes = ("ND102",)

    def run(self, ctx):
        raise RuntimeError("bug inside nndoctor")


def test_a_crashed_check_fails_the_users_test_unless_incomplete_is_allowed():
    """A run that did not look is not healthy: a crashed check fails assert_healthy, with the check named."""
    reg = registry.all_checks()
    reg[_Broken.name] = _Broken
    args = (mlp(), make_classification(), nn.CrossEntropyLoss())
    try:
        with pytest.raises(AssertionError, match="did not finish 1 check.*test-broken-check crashed"):
            assert_healthy(*args, select=["test-broken-check"])
        with pytest.warns(RuntimeWarning, match="test-broken-check crashed"):
            report = assert_healthy(*args, select=["test-broken-check"], allow_incomplete=True)
        assert report.status == "incomplete"
    finally:
        reg.pop(_Broken.name, None)
