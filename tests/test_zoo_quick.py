"""A quick subset of the bug zoo (benchmarks/zoo/): the right diagnosis ranked first on a few broken setups, and
silence on a few healthy ones. The full zoo is a benchmark (`python benchmarks/zoo/run.py`), not a test."""
from __future__ import annotations

import os
import sys

import pytest

import nndoctor
from conftest import assert_silent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.zoo.registry import FAMILIES, load_cases  # noqa: E402
from benchmarks.zoo.run import run_case  # noqa: E402
from nndoctor.catalogue.codes import CODES  # noqa: E402

# One or two per family, among the cheap cases; `python benchmarks/zoo/run.py --fast` runs the same subset.
QUICK_BROKEN = ["mlp-softmax-before-ce", "mlp-layers-in-list", "mlp-no-zero-grad", "cnn-raw-pixels",
                "rnn-lstm-not-batch-first", "lm-no-causal-mask", "reg-output-n1-target-n", "bin-labels-minus-one"]
QUICK_HEALTHY = ["healthy-mlp-batchnorm-dropout", "healthy-frozen-backbone", "healthy-lm-tied-causal",
                 "healthy-regression-large-mean"]


def test_zoo_is_well_formed():
    cases = load_cases()
    broken = [c for c in cases.values() if not c.healthy]
    healthy = [c for c in cases.values() if c.healthy]
    assert len(broken) >= 40 and len(healthy) >= 12
    assert len({c.family for c in broken}) >= 5 and {c.family for c in cases.values()} <= set(FAMILIES)
    for c in broken:
        assert c.expect and all(code in CODES and not code.startswith("ND6") for code in c.expect), c.id
    assert {c.id for c in cases.values() if c.fast} == set(QUICK_BROKEN + QUICK_HEALTHY)


@pytest.mark.parametrize("case_id", QUICK_BROKEN)
def test_broken_case_is_diagnosed_first(case_id):
    case = load_cases()[case_id]
    r = run_case(case)
    got = [(f["code"], f["severity"]) for f in r["findings"][:3]]
    assert "error" not in r, r.get("traceback")
    assert r["top1"], f"{case_id}: expected {case.expect} ranked first, got {got}"


def run_case_keeping_report(case, monkeypatch):
    """`run_case` as the zoo runs it, with the Report and the arguments it diagnosed kept: its record has the
    checks' statuses, not why one was skipped."""
    real, made = nndoctor.diagnose, []

    def diagnose(**kwargs):
        made.append((real(**kwargs), kwargs))
        return made[-1][0]

    monkeypatch.setattr(nndoctor, "diagnose", diagnose)
    record = run_case(case)
    assert "error" not in record, record.get("traceback")
    (report, kwargs), = made
    return report, kwargs


@pytest.mark.parametrize("case_id", QUICK_HEALTHY)
def test_healthy_case_stays_silent(case_id, monkeypatch):
    report, kwargs = run_case_keeping_report(load_cases()[case_id], monkeypatch)
    assert_silent(report, skipped={} if kwargs.get("train_step") else {"train-step": "no train_step given"})
