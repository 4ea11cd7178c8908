"""Every check on outputs the loss takes whole (the PyTorch examples' VAE) and on sparse, full-batch graphs with an
index-masked loss (pygcn's GCN): healthy setups pass every check (none crashes), the bugs are found first."""
from __future__ import annotations

import warnings

import pytest

import nndoctor

from conftest import assert_silent


def run(family, **kw):
    from benchmarks.zoo.real import gcn, vae

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return nndoctor.diagnose(**{"vae": vae.setup, "gcn": gcn.setup}[family](seed=7, **kw), device="cpu")


@pytest.mark.parametrize("family", ["vae", "gcn"])
def test_every_check_passes_on_the_healthy_setup(family):
    assert_silent(run(family), skipped={"train-step": "no train_step"})


@pytest.mark.parametrize("family, kw, code", [
    ("gcn", {"log_softmax": False}, "ND203"),
    ("vae", {"sigmoid": False}, "ND203"),
])
def test_the_bug_ranks_first(family, kw, code):
    report = run(family, **kw)
    assert report.findings[0].code == code
    assert all(c.status not in ("crashed", "timeout") for c in report.checks)
