"""The curve rules of the causal table (nndoctor/catalogue/causes.py, ND6xx) on the sample logs of examples/curves/
(made by make_logs.py): each log is one mistake, and its report holds the cause ranked above the effect.

Pairs of the table with no log here, and why (the lead's report has the file:line argument):
ND610 -> ND604: a learning rate near zero for good cannot make the sudden fall that ND604 needs after its plateau,
and the plateau is measured from the warm-up's end at the start level, before the lr is small: the rule is
speculative.
"""
from __future__ import annotations

import os
from functools import lru_cache

import pytest

from nndoctor.catalogue.causes import EXPLAINS
from nndoctor.curve.runner import diagnose_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CURVES = os.path.join(ROOT, "examples", "curves")

CURVE_PAIRS = {
    ("ND602", "ND603"): "nan.jsonl",  # the loss climbs, then turns NaN
    # lr 1.0: the loss never gets below chance, jumps 2-3x and is back in 3 rows, then NaN from step 1400
    ("ND602", "ND601"): "lr_far_too_high.csv",
    ("ND602", "ND605"): "lr_far_too_high.csv",
    ("ND605", "ND611"): "lr_far_too_high.csv",  # swings 3 rows long are also spikes
    ("ND610", "ND601"): "lr_zero.csv",  # lr = base_lr * batch_size // 256 is 0.0
    ("ND606", "ND605"): "sorted_by_length.csv",  # not shuffled: the loss climbs 2x through every epoch
    ("ND607", "ND608"): "overfitting_per_epoch.csv",  # the overfit model's confident mistakes make val_loss erratic
}


@lru_cache(maxsize=None)
def findings(name: str) -> tuple[tuple[str, str, str | None], ...]:
    _, report = diagnose_file(os.path.join(CURVES, name))
    return tuple((f.code, f.severity, f.explained_by) for f in report.findings)


def test_curve_pairs_are_rules_of_the_table():
    assert all(effect in EXPLAINS[cause] for cause, effect in CURVE_PAIRS)


@pytest.mark.parametrize("pair,name", sorted(CURVE_PAIRS.items()), ids=[f"{c}>{e}:{n}" for (c, e), n in
                                                                         sorted(CURVE_PAIRS.items())])
def test_curve_report_puts_the_cause_first(pair, name):
    cause, effect = pair
    got = findings(name)
    codes = [code for code, _, _ in got]
    assert cause in codes and effect in codes, f"{name} no longer shows {pair}: {got}"
    assert got[codes.index(cause)][1] != "info", got  # a note explains nothing
    assert codes.index(cause) < codes.index(effect), got
    assert os.path.getsize(os.path.join(CURVES, name)) < 200_000
