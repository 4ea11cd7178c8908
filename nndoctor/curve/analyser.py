"""The base of every curve analyser, and the wording its findings share.

An analyser is a `Diagnostic` (`nndoctor.common.diagnostic`): its docstring is its documentation (what it catches,
why it matters, how to fix it), a kebab-case `name` starting with `curve-`, the `codes` it may emit, its thresholds
declared as `options` with `Option` (default, help, unit, range), and `run(curves)`, which reads the measured
`Curves` (`stats.measure`) and yields findings. Measurement is done once, in `stats`; an analyser only judges.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ..common.diagnostic import Diagnostic
from ..report.model import Finding
from .stats import Curves, plot_values

SIGNIFICANCE = 4.0  # standard errors a change needs before it counts (one-sided p ~ 3e-5 for Gaussian noise)
MIN_POINTS = 20  # fewer logged points than this: no trend to judge


class Analyser(Diagnostic):
    """Base: a name, the codes it may emit, named options; `run(curves)` yields findings."""

    min_points = MIN_POINTS  # finite training-loss points needed

    def skip_reason(self, c: Curves) -> str | None:
        if c.train.n_finite < self.min_points:
            return f"{c.train.n_finite} finite training-loss points, fewer than {self.min_points}"
        return None

    def run(self, c: Curves) -> Iterator[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    def finding(self, code: str, title: str, evidence: dict, fix: str = "", severity: str = "",
                where: str | None = None, confidence: float = 1.0) -> Finding:
        return super().finding(code, title, evidence, fix, severity, where, round(min(1.0, max(0.0, confidence)), 3))

    def plot_curve(self, title: str, values: np.ndarray) -> None:
        points = plot_values(values)
        super().plot_curve(title, points, points="steps" if len(points) == len(values) else "points (bin medians)")


# -- wording shared by the findings ------------------------------------------------------------------------------
def step_text(step: float) -> str:
    return f"{step:.0f}" if float(step).is_integer() or abs(step) >= 100 else f"{step:.3g}"


def step_value(step: float) -> float | int:
    """A step for the evidence: an int when it is one (bin medians of steps may fall between two)."""
    step = float(step)
    return int(step) if step.is_integer() else round(step, 3)


def pct(dz: float) -> str:
    """A log-loss change as a percentage of the level: 0.1 -> '11%'; -0.1 -> '10%'."""
    return f"{abs(math.expm1(dz)) * 100:.0f}%"
