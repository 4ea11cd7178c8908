"""`curve-spikes` (ND611): the loss jumps far above its trend and takes a few rows to come back, many more times than
its batch noise can explain."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ...common.options import Option
from ...report.model import Finding
from ..analyser import SIGNIFICANCE, Analyser, step_value
from ..stats import CHUNK, Curves

NEIGHBOURS = 4  # rows on each side whose median is a row's trend: a spike of up to 3 rows leaves it on the trend
TAIL_TERMS = 400  # binomial terms summed for a tail (they shrink geometrically once past the mean)


@dataclass
class SpikeCount:
    """Spikes of one curve against the count Gaussian noise of its own scale would give."""

    spikes: int  # rows above the threshold whose next row is still above half of it (a run counts once)
    dips: int  # the same below the trend: what noise with heavy tails on both sides makes as often as spikes
    rows: int  # rows examined
    threshold: float  # log-loss above the trend a row must reach
    scale: float  # sigma of a row's residual under Gaussian noise (log-loss)
    p_row: float  # chance that a row of Gaussian noise of that scale, and the next one at half of it, pass
    log_tail: float  # ln P(Binomial(rows, p_row) >= spikes)
    log_one_sided: float  # ln P(Binomial(spikes + dips, 1/2) >= spikes): spikes outnumber the dips
    largest: float  # largest residual (log-loss)
    first_steps: list[float]  # steps of the first few spikes


def neighbour_median(z: np.ndarray, rows: np.ndarray | None = None, h: int = NEIGHBOURS) -> np.ndarray:
    """The median of the h rows on each side of each of `rows` (every row when None), the row itself left out (so a
    spike does not pull its own trend up); the ends are padded with the end values."""
    padded = np.pad(z, h, mode="edge")
    rows = np.arange(len(z)) if rows is None else rows
    offsets = np.r_[0:h, h + 1:2 * h + 1]  # (2h,) a row's neighbours in `padded`, where it sits at row + h
    out = np.empty(len(rows))
    per = max(1, CHUNK // (2 * h))
    for i in range(0, len(rows), per):
        part = np.partition(padded[rows[i:i + per, None] + offsets], (h - 1, h), axis=1)  # (m, 2h)
        out[i:i + per] = 0.5 * (part[:, h - 1] + part[:, h])
    return out


def candidates(z: np.ndarray, threshold: float, h: int = NEIGHBOURS) -> np.ndarray:
    """Rows that may lie `threshold` or more from their neighbour median: at least that far above the lowest of
    their neighbours or below the highest (the median lies between the two). A median of 8 for every row of a
    10-million-row log takes seconds; the lowest and highest take a few passes, and leave a few percent of the rows.
    CHUNK rows at a time."""
    padded = np.pad(z, h, mode="edge")
    found = []
    for i in range(0, len(z), CHUNK):
        j = min(len(z), i + CHUNK)
        part = padded[i:j + 2 * h]  # (j - i + 2h,) row r of z sits at r - i + h
        row = z[i:j]
        lowest = np.minimum(block_extreme(part, h, np.minimum)[:j - i], block_extreme(part[h + 1:], h, np.minimum))
        highest = np.maximum(block_extreme(part, h, np.maximum)[:j - i], block_extreme(part[h + 1:], h, np.maximum))
        found.append(i + np.flatnonzero((row - lowest >= threshold) | (highest - row >= threshold)))
    return np.concatenate(found)


def block_extreme(x: np.ndarray, h: int, pick) -> np.ndarray:
    """(len(x) - h + 1,) pick (np.minimum or np.maximum) over each h consecutive values x[r:r + h], by doubling:
    blocks of 1, 2, 4, ... then one last overlapping pick (h = 4: two passes)."""
    out, width = x, 1
    while 2 * width <= h:
        out = pick(out[:-width], out[width:])  # blocks of 2 * width
        width *= 2
    if width < h:
        out = pick(out[:-(h - width)], out[h - width:])
    return out[:len(x) - h + 1]


def run_starts(rows: np.ndarray) -> np.ndarray:
    """The rows (ascending) that begin a run of consecutive ones: a stretch of consecutive rows counts once."""
    return rows[np.concatenate(([True], np.diff(rows) > 1))] if len(rows) else rows


def gaussian_tail(x: float) -> float:
    """P(N(0, 1) > x)."""
    return 0.5 * math.erfc(x / math.sqrt(2))


def log_binomial_tail(n: int, p: float, k: int) -> float:
    """ln P(Binomial(n, p) >= k), summed from k up (exact to the terms kept; k above the mean, as when it counts)."""
    if k <= 0:
        return 0.0
    if p <= 0.0:
        return -math.inf
    if k <= n * p:
        return 0.0  # at or below the mean: nothing unusual (a bound, not the exact value, is all that is needed)
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    terms = [base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
             for i in range(k, min(n, k + TAIL_TERMS) + 1)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


class Spikes(Analyser):
    """Loss spikes (ND611): the loss jumps far above its trend and takes a few rows to come back, many times.

    What it catches: rows whose loss is at least `ratio` times its trend (the median of the 4 rows on each side,
    the row itself left out) and at least `k` noise sigmas above it, with the next row still at least half as far
    above (the model was thrown off and recovers; a run of such rows is one spike), when there are more of them
    than noise could make, by two tests, each at the one-sided p of 4 standard errors (3e-5): more than Gaussian
    noise of the curve's own scale makes in that many rows (a binomial tail; the scale is the robust white-noise
    sigma of the rows, from the median of second differences, which spikes do not move), and more than the dips of
    the same shape below the trend (a sign test: of spikes and dips together, spikes are a binomial share of 1/2
    under noise that goes both ways). With no dips that takes 15 spikes.
    Why these tests: a batch's own loss (how many hard or broken samples it holds) moves its row alone; a step that
    throws the model off raises the rows after it too, until the model recovers, so a jump in one row is batch
    noise, whatever its size: near memorisation a batch holding one of the few samples not yet fitted doubles the
    loss, in a healthy run. Batch noise with heavy tails (a Student-t) passes the Gaussian test, but on the log
    scale it goes both ways. Batch noise of any size and tail stays silent, and so do a few bad batches, a warm-up,
    and swings of more than 3 rows (ND605).
    Why it matters: a loss that jumps to 1.5-2x and back, again and again, means some steps throw the model off: a
    learning rate too high for the sharpest directions (Adam's epsilon or beta2 too small, no warm-up), no gradient
    clipping, fp16 overflow, or samples with broken labels or inputs whose gradients are enormous.
    How to fix it: clip gradients (clip_grad_norm_), lower the learning rate or add a warm-up, raise Adam's eps;
    log the loss per sample on a spike to find bad data, and use bf16 or a GradScaler under fp16.
    """

    name = "curve-spikes"
    codes = ("ND611",)
    options = {
        "ratio": Option(1.5, "a row at least this many times its trend can be a spike", unit="ratio", low=1),
        "k": Option(3.0, "and at least this many noise sigmas above its trend (the Gaussian tail is counted from "
                    "there)", unit="sigmas", low=1),
    }

    def skip_reason(self, c: Curves) -> str | None:
        if c.train.scale != "log":
            return "the loss goes below 0: \"times its trend\" has no meaning"
        return super().skip_reason(c)

    def run(self, c: Curves) -> Iterator[Finding]:
        p = c.train
        count = self.count(p.z, p.steps, p.sigma_raw)
        alpha = math.log(gaussian_tail(SIGNIFICANCE))
        if count is None or count.spikes == 0 or count.log_tail > alpha or count.log_one_sided > alpha:
            return
        expected = count.rows * count.p_row
        yield self.finding(
            "ND611",
            f"the {p.what('training')} jumps to {math.exp(count.threshold):.2g}x its trend or more "
            f"{count.spikes} times and takes a few rows to come back (up to {math.exp(count.largest):.3g}x), and dips "
            f"as far below it {count.dips} times: Gaussian batch noise of its size would make {expected:.2g} such "
            f"jumps in {count.rows} rows, and batch noise of any kind about as many dips as jumps",
            {"spikes": count.spikes, "rows": count.rows, "threshold": f"{math.exp(count.threshold):.3g}x",
             "dips": count.dips, "largest": f"{math.exp(count.largest):.3g}x", "noise": round(count.scale, 4),
             "expected_from_noise": float(f"{expected:.3g}"),
             "first_spike_steps": [step_value(s) for s in count.first_steps]},
            where=f"from step {step_value(count.first_steps[0])}",
            confidence=self.margin(math.exp(max(count.log_one_sided, -690.0)), math.exp(alpha), below=True))  # p-values

    def count(self, z: np.ndarray, steps: np.ndarray, sigma: float) -> SpikeCount | None:
        """Spikes of z (log scale) above its neighbour median, and their Gaussian tail probability."""
        n = len(z)
        if n < 2 * NEIGHBOURS + 1 or not math.isfinite(sigma):
            return None
        o = self.opts
        # A row minus the median of 2h others: Gaussian noise of sigma gives a residual of variance
        # sigma^2 (1 + pi / (2 * 2h)) (the median of m points has variance about pi sigma^2 / (2m)).
        scale = sigma * math.sqrt(1 + math.pi / (4 * NEIGHBOURS))
        threshold = max(math.log(o["ratio"]), o["k"] * scale)
        rows = candidates(z, threshold)
        rows = rows[rows < n - 1]  # a spike needs the row after it
        resid = z[rows] - neighbour_median(z, rows)  # (m,) only where it may pass the threshold
        after = z[rows + 1] - neighbour_median(z, rows + 1)  # (m,) the next row
        up = (resid >= threshold) & (after >= threshold / 2)
        starts = run_starts(rows[up])
        dips = len(run_starts(rows[(resid <= -threshold) & (after <= -threshold / 2)]))
        # two rows of Gaussian noise, nearly independent (each one of the other's 8 neighbours)
        p_row = gaussian_tail(threshold / scale) * gaussian_tail(threshold / (2 * scale)) if scale > 0 else 0.0
        k = len(starts)
        return SpikeCount(k, dips, n, threshold, scale, p_row, log_binomial_tail(n, p_row, k),
                          log_binomial_tail(k + dips, 0.5, k), float(resid[up].max()) if up.any() else 0.0,
                          [float(steps[i]) for i in starts[:5]])
