"""curve-schedule (ND610) on step decay: the ResNet recipes (StepLR x0.1 every third of the run, MultiStepLR at 50%
and 75%, three milestones) are silent, with the loss still falling slowly before each cut and stepping down after
it; a decay that comes while the loss falls fast, after which it gains little, is found (exponential, or step
decay at 10% and 20%, or one cut x0.01 at 15%)."""
from __future__ import annotations

import numpy as np
import pytest

from nndoctor.curve import CurveLog, Series, diagnose_log


def power_law_loss(lr, A=2.2, alpha=0.5, c=20.0, kappa=0.35, lag=0.01):
    """A * (1 + c * integral(lr)) ** -alpha, never quite flat, plus an SGD noise floor kappa * lr that follows the lr
    with a lag of `lag` of the run: each cut of the lr steps the loss down."""
    n = len(lr)
    progress = c * np.cumsum(lr) / n
    m = min(n, 2000)  # the lagged floor on at most 2000 points, interpolated: it is smooth on that scale
    where = np.linspace(0, n - 1, m)
    coarse = np.interp(where, np.arange(n), lr)
    a = 1.0 / max(1.0, lag * m)
    floor, f = np.empty(m), kappa * coarse[0]
    for i in range(m):
        f += a * (kappa * coarse[i] - f)
        floor[i] = f
    return A * (1 + progress) ** -alpha + np.interp(np.arange(n), where, floor)


def step_lr(n, milestones, gamma=0.1):
    u = np.arange(n) / n
    return gamma ** np.searchsorted(np.asarray(milestones), u, side="right")  # (n,) gamma ** cuts so far


def report_of(lr, sigma, seed, **loss):
    n = len(lr)
    values = power_law_loss(lr, **loss) * np.exp(sigma * np.random.default_rng(seed).standard_normal(n))
    steps = np.arange(n, dtype=float)
    log = CurveLog("synthetic.csv", "csv", [], {}, Series("loss", steps, values), None, Series("lr", steps, lr * 0.1),
                   None, n)
    return diagnose_log(log)


CANONICAL = {"StepLR every third": (1 / 3, 2 / 3), "MultiStepLR 50/75": (0.5, 0.75),
             "three milestones": (0.3, 0.6, 0.8)}
SHAPES = [dict(c=20.0, alpha=0.5), dict(c=10.0, alpha=1.0), dict(c=100.0, alpha=0.3), dict(c=3.0, alpha=1.0)]


@pytest.mark.parametrize("recipe", list(CANONICAL))
@pytest.mark.parametrize("n", [100, 2000, 20000])
def test_canonical_step_decay_is_silent(recipe, n):
    for sigma in (0.02, 0.1, 0.3):
        for shape in SHAPES:
            for seed in range(2 if n < 20000 else 1):  # a long log: less noise in its measurement, one seed
                report = report_of(step_lr(n, CANONICAL[recipe]), sigma, seed, **shape)
                assert not [f for f in report.findings if f.code == "ND610"], [f.title for f in report.findings]


EARLY = {"exponential, 1% by 14%": lambda n: np.exp(-np.arange(n) / n / 0.03),
         "step decay at 10% and 20%": lambda n: step_lr(n, (0.1, 0.2)),
         "one cut x0.01 at 15%": lambda n: step_lr(n, (0.15,), gamma=0.01)}


@pytest.mark.parametrize("schedule", list(EARLY))
@pytest.mark.parametrize("n", [2000, 20000])
def test_decay_while_the_loss_falls_fast_is_found(schedule, n):
    for sigma in (0.02, 0.1):
        for shape in (dict(c=20.0, alpha=0.5), dict(c=10.0, alpha=1.0)):
            report = report_of(EARLY[schedule](n), sigma, 0, **shape)
            found = [f for f in report.findings if f.code == "ND610"]
            assert found, [f.title for f in report.findings]
            assert found[0].evidence["rate_after_vs_before"] <= 0.25 and "in all the rest" in found[0].title


def test_the_resnet_recipe_that_was_reported():
    # The rule before measured the fall before the first cut (at the peak lr, still 11% in a tenth of the run) and
    # compared it with the pace after the last: it reported this log (and examples/curves/step_decay_resnet.csv).
    report = report_of(step_lr(2000, (1 / 3, 2 / 3)), 0.02, 0, c=20.0, alpha=0.5)
    schedule = next(c for c in report.checks if c.name == "curve-schedule")
    assert schedule.status == "passed" and not report.findings
