"""A finding's confidence, with one meaning for every diagnostic, computed here (torch-free).

A finding is a measurement past its threshold. Its confidence is how far past, in units of the measurement's
uncertainty, mapped through the standard normal distribution function: the probability that a measurement
drawn with that uncertainty around the threshold would fall short of the value measured. So, for every check:

    0.5    the measurement sits on its threshold (as likely noise as a finding);
    0.84   one standard error (one `spread`) past it;
    0.98   two past it; about 1 three or more past it;
    1.0    a fact, not a measurement against a threshold (a shape that broadcasts, a NaN, no gradient): `CERTAIN`.

Three scales say what one standard error is:

    "z":    a mean or a share over samples: distance = (measured - threshold) / stderr, with the measurement's
            standard error;
    "share": a share of `n` independent items (units, positions, samples): the "z" scale with the binomial
            standard error of such a share at the threshold (`share_stderr`);
    "log":  a scale or a ratio (norms, gains, update ratios, losses against chance): distance in decades,
            log10(measured / threshold) / spread. Without a standard error, `spread` is half a decade: such
            quantities move with the seed and the batch by a factor of a few, so a factor sqrt(10) ~ 3.2 is one
            standard error; a factor 2 past the threshold reads 0.73, a factor 10 reads 0.98.

`below=True` is for a finding fired by a measurement under its threshold (an update ratio too small).
The ranking (`nndoctor.report.ranking`) uses confidence only to order findings of one severity and group.
"""
from __future__ import annotations

import math

CERTAIN = 1.0
LOG_SPREAD = 0.5  # decades: one standard error of a scale or ratio measured without one (module docstring)


def margin(measured: float, threshold: float, scale: str = "log", spread: float | None = None,
           n: int | None = None, below: bool = False) -> float:
    """Confidence in [0, 1] that `measured` is past `threshold` (above it, or below it when `below`).

    `scale`: "log" (distance in decades, `spread` decades one standard error, default `LOG_SPREAD`), "z"
    (`spread` is the measurement's standard error, required) or "share" (a share of `n` items, required).
    Rounded to 3 digits so reports stay stable."""
    if scale == "share":
        if n is None:
            raise ValueError("margin(scale='share') needs n, the number of items the share is over")
        scale, spread = "z", share_stderr(threshold, n)
    distance = _distance(measured, threshold, scale, spread)
    if below:
        distance = -distance
    if math.isnan(distance):
        return 0.5
    return round(0.5 * (1.0 + math.erf(distance / math.sqrt(2.0))), 3)


def share_stderr(share: float, n: int) -> float:
    """The standard error of a share of `n` independent items with true share `share` (binomial), at least that
    of one item in n (a share of 0 or 1 still has a resolution)."""
    n = max(int(n), 1)
    p = min(max(share, 0.0), 1.0)
    return max(math.sqrt(p * (1.0 - p) / n), 1.0 / n)


def _distance(measured: float, threshold: float, scale: str, spread: float | None) -> float:
    """Standard errors from `threshold` to `measured` (positive above it)."""
    if scale == "z":
        if spread is None:
            raise ValueError("margin(scale='z') needs the measurement's standard error as spread")
        if spread <= 0:
            return math.copysign(math.inf, measured - threshold) if measured != threshold else 0.0
        return (measured - threshold) / spread
    if scale == "log":
        width = LOG_SPREAD if spread is None else spread
        if measured <= 0 or threshold <= 0:
            if measured == threshold:
                return 0.0
            return math.inf if measured > threshold else -math.inf
        return math.log10(measured / threshold) / width
    raise ValueError(f"margin: scale must be 'log', 'z' or 'share', got {scale!r}")
