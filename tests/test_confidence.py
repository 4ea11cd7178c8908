"""A finding's confidence has one meaning (nndoctor/common/confidence.py): how many standard errors the measurement
is past its threshold, mapped through the normal distribution function, the same for every check."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from nndoctor.common.confidence import CERTAIN, margin, share_stderr
from nndoctor.common.diagnostic import Diagnostic

ROOT = Path(__file__).resolve().parent.parent


def test_on_the_threshold_is_a_coin_toss_and_one_stderr_past_is_084():
    assert margin(1e-3, 1e-3) == 0.5
    assert margin(5.0, 3.0, "z", 2.0) == pytest.approx(0.841, abs=1e-3)
    assert margin(7.0, 3.0, "z", 2.0) == pytest.approx(0.977, abs=1e-3)
    assert margin(2.0, 3.0, "z", 1.0) == pytest.approx(0.159, abs=1e-3)  # short of it: below one half


def test_log_scale_counts_decades_half_a_decade_one_stderr():
    assert margin(math.sqrt(10), 1.0) == pytest.approx(0.841, abs=1e-3)
    assert margin(10.0, 1.0) == pytest.approx(0.977, abs=1e-3)
    assert margin(2.0, 1.0) == pytest.approx(0.726, abs=1e-3)
    # the same distance on either side reads the same: an update ratio 10x under `update_low`, 10x over `update_high`
    assert margin(1e-7, 1e-6, below=True) == margin(1e-2, 1e-3)
    assert margin(10.0, 1.0, spread=1.0) == pytest.approx(0.841, abs=1e-3)


def test_monotone_and_bounded():
    values = [margin(x, 1.0) for x in (0.01, 0.5, 1.0, 1.5, 3.0, 100.0, 1e9, math.inf)]
    assert values == sorted(values)
    assert all(0.0 <= v <= 1.0 for v in values)
    assert margin(math.inf, 1.0) == 1.0 and margin(0.0, 1.0, below=True) == 1.0
    assert margin(math.nan, 1.0) == 0.5


def test_a_share_uses_the_binomial_standard_error_at_the_threshold():
    # 60 % of 100 units against a threshold of 50 %: 0.1 / sqrt(0.25 / 100) = 2 standard errors
    assert margin(0.6, 0.5, "share", n=100) == pytest.approx(0.977, abs=1e-3)
    # the same share over 4 units is weak evidence
    assert margin(0.75, 0.5, "share", n=4) == pytest.approx(0.841, abs=1e-3)  # one standard error
    assert share_stderr(0.0, 10) == pytest.approx(0.1)  # a share of 0 still has the resolution of one item


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="standard error"):
        margin(1.0, 0.5, "z")
    with pytest.raises(ValueError, match="needs n"):
        margin(1.0, 0.5, "share")
    with pytest.raises(ValueError, match="scale must be"):
        margin(1.0, 0.5, "linear")


def test_every_diagnostic_reaches_it_as_self_margin():
    assert Diagnostic.margin(10.0, 1.0) == margin(10.0, 1.0)
    assert CERTAIN == 1.0


def test_no_check_computes_its_own_confidence_formula():
    """Every `confidence=` in the checks and analysers is a fact (1.0), a call of the one mapping, or the fixed
    value of an inconclusive note: no min(1.0, ...) formula of its own."""
    sources = list((ROOT / "checks").glob("*.py")) + list((ROOT / "nndoctor" / "curve" / "analysers").glob("*.py"))
    allowed = re.compile(r"confidence=(1\.0\b|self\.margin\(|0\.3,)")
    offenders = []
    for path in sources:
        for lineno, line in enumerate(path.read_text().splitlines(), start=1):
            for m in re.finditer(r"confidence=\S", line):
                if not allowed.match(line[m.start():]) and not line[m.start():].startswith("confidence=1.0 if"):
                    offenders.append(f"{path.name}:{lineno}: {line.strip()}")
    assert not offenders, offenders
