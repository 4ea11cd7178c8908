"""A pytest helper: one test in your own suite runs the doctor on your model, data, loss and optimizer.

    from nndoctor.testing import assert_healthy

    def test_training_setup_is_healthy():
        assert_healthy(build_model(), train_loader(), nn.CrossEntropyLoss(), quick=True)

On failure the assertion message is the ranked diagnosis (plain text, root cause first), so the pytest output
says what is wrong, where, with the numbers and the fix. Any keyword argument of `nndoctor.diagnose` passes
through (`select`, `ignore`, `options`, `quick`, `device`, `seed`, `max_batches`, `train_step`, ...).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable

from torch import nn

from .report import SEVERITIES, Report
from .report.text import render_text  # at import: rich draws from `random` when first imported, so never after a run

__all__ = ["assert_healthy"]


def assert_healthy(model: nn.Module, data: Iterable, loss: Callable, optimizer: Any = None,
                   fail_on: str = "warning", allow_incomplete: bool = False, **kwargs: Any) -> Report:
    """Run `nndoctor.diagnose` and raise AssertionError when a finding is at or above `fail_on`, or when a
    selected check did not finish (a run that did not look is not healthy).

    `fail_on` is "warning" by default (stricter than the CLI's "error": a test is where warnings are cheap to
    look at); "error" lets warnings pass, "info" fails on notes too. Returns the report when it passes. With
    `allow_incomplete=True`, checks that crashed, timed out or were blocked are reported as a warning instead.
    """
    from .api import diagnose

    if fail_on not in SEVERITIES:
        raise ValueError(f"fail_on must be one of {', '.join(SEVERITIES)}, not {fail_on!r}")
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    report = diagnose(model, data, loss, optimizer, **kwargs)
    unfinished = "; ".join(f"{c.name} {c.status}: {c.detail}" for c in report.unfinished)
    if unfinished and allow_incomplete:
        warnings.warn(f"nndoctor: {unfinished}", RuntimeWarning, stacklevel=2)
    failing = report.failing(fail_on)
    if failing:
        head = report.findings[0]  # the root cause (it may rank above the failing findings it explains)
        raise AssertionError(
            f"nndoctor found {len(failing)} finding(s) at or above '{fail_on}'; "
            f"root cause: {head.code} {head.name}: {head.title}\n\n{render_text(report).rstrip()}")
    if unfinished and not allow_incomplete:
        raise AssertionError(f"nndoctor did not finish {len(report.unfinished)} check(s), so it cannot say the "
                             f"setup is healthy: {unfinished}\n\n{render_text(report).rstrip()}")
    return report
