"""`nndoctor curve`: read a training log and diagnose its loss curves (ND601-ND610), from the numbers alone.

The loss curve is the first tool for watching a training run (CS231n, "37 reasons"): a good curve drops fast, then
flattens. A flat curve learns nothing (ND601); a curve that stops has met a NaN (ND602); a rising one climbs the
gradient (ND603); a long plateau before a late drop points to too small an initialisation or bad data (ND604);
swings that do not settle mean a learning rate too high or a batch too small (ND605); a saw-tooth with the period
of an epoch means the data is not shuffled (ND606); a widening train/validation gap is overfitting (ND607); a very
noisy validation curve means the validation set is too small (ND608); a curve still falling when the log ends
wants more training (ND609); a learning rate decayed to near zero while the loss was still falling stalls the run
(ND610).

How it measures, the same for a log of 200 rows or of a million:
- Losses go on a log scale: a loss that halves moves as much at 2.0 as at 0.02, so every threshold below is in
  log-loss units and scale-free (0.1 is about 10%). An accuracy becomes an error rate (1 - acc) first.
- A grid of at most 512 bin medians summarises the curve; a moving median over the grid is the trend.
- Noise is the MAD of second differences (a white-noise sigma that a smooth trend does not inflate), corrected
  when a logger wrote a running average (the noise is then read as AR(1), with fewer independent points); trends
  are rank-based (Mann-Kendall, Theil-Sen). A change counts only when it is both significant (in noise units) and
  material (in log-loss units).

Each analyser below is a small class: its docstring says what it catches, why it matters and how to fix it; its
thresholds are named options with units. Measurement (the functions and `Profile`) is apart from judgement (the
analysers' `run`). numpy only.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..catalogue import CODES
from ..common.diagnostic import Diagnostic
from .log import CurveError, CurveLog, Series, read_log
from ..report.model import CheckResult, Finding, Report

GRID = 512  # most bins a curve is summarised into (bin medians)
SIGNIFICANCE = 4.0  # standard errors a change needs before it counts (one-sided p ~ 3e-5 for Gaussian noise)
MIN_POINTS = 20  # fewer logged points than this: no trend to judge
PLOT_WIDTH = 120  # points kept for a terminal plot
SMOOTHED_RHO = 0.5  # lag-1 correlation of the noise from which a log is read as a running average: an average
#                     over 3 points or more (EMA alpha <= 0.3) gives >= 0.7; swings that fill a quarter of white
#                     noise give < 0.5
DEAD_SHARE = 0.5  # share of the rows from the first NaN/Inf on that are non-finite: at or above, the run is dead


# =============================================================================================================
# Measurement
# =============================================================================================================
def analysis_scale(y: np.ndarray) -> tuple[np.ndarray, str, float]:
    """Finite values -> (z, scale, offset). Log for positive losses; log(y + 1% of the median) when some are 0
    (an error rate that reaches 0); otherwise linear in units of the 10-90% range (a loss that goes negative)."""
    if y.size and np.all(y > 0):
        return np.log(y), "log", 0.0
    if y.size and np.all(y >= 0) and np.any(y > 0):
        off = 0.01 * float(np.median(y[y > 0]))
        return np.log(y + off), "log", off
    span = float(np.subtract(*np.percentile(y, [90, 10]))) if y.size else 1.0
    return y / (span or 1.0), "linear", span or 1.0


def bin_medians(x: np.ndarray, b: int) -> np.ndarray:
    """Medians of consecutive bins of `b` points (the last bin may be shorter)."""
    if b <= 1:
        return x.astype(float, copy=True)
    full = len(x) // b
    out = np.median(x[: full * b].reshape(full, b), axis=1)  # (full,)
    if len(x) % b:
        out = np.append(out, np.median(x[full * b:]))
    return out


def moving_median(x: np.ndarray, w: int) -> np.ndarray:
    """Centred moving median over `w` (odd) points; the ends are padded with the end values."""
    if w <= 1 or len(x) < 3:
        return x.copy()
    h = w // 2
    windows = sliding_window_view(np.pad(x, h, mode="edge"), w)  # (n, w)
    return np.median(windows, axis=1)


def moving_mean_residual(x: np.ndarray, w: int) -> np.ndarray:
    """x minus its centred moving mean over `w` points (valid part only): a trend removed, a period-w pattern kept."""
    w = max(2, int(w))
    if len(x) <= w:
        return np.zeros(0)
    c = np.concatenate(([0.0], np.cumsum(x)))
    mean = (c[w:] - c[:-w]) / w  # (n - w + 1,), window i covers x[i : i + w]
    return x[w // 2: w // 2 + len(mean)] - mean


def noise_sigma(x: np.ndarray) -> float:
    """White-noise sigma of a series: 1.4826 * MAD of second differences / sqrt(6). A smooth trend barely moves
    second differences, and the median ignores the few steep points; quantised logs fall back to the mean
    absolute deviation when more than half the differences are 0."""
    if len(x) < 5:
        return float("nan")
    d2 = np.diff(x, 2)
    dev = np.abs(d2 - np.median(d2))
    mad = float(np.median(dev))
    if mad == 0.0:
        return 1.2533 * float(dev.mean()) / math.sqrt(6)
    return 1.4826 * mad / math.sqrt(6)


def noise_model(x: np.ndarray) -> tuple[float, float]:
    """(sigma, rho): the noise of a series read as AR(1), its marginal sigma and its lag-1 correlation.

    rho comes from how often consecutive residuals (about medians of blocks of 5% of the series) share a sign:
    half the time for white noise, more when a logger smoothed the values (a running average); the sign ignores
    how large the residuals are, so a few big swings do not pass for smoothing (Gaussian arcsine law:
    rho = sin(pi * (share - 1/2))). The second-difference sigma of AR(1) noise is sigma * sqrt(2(1-rho)(3-rho)/6),
    which is undone here."""
    white = noise_sigma(x)
    if len(x) < 10 or not math.isfinite(white):
        return white, 0.0
    b = max(5, len(x) // 20)
    centres = np.arange(len(x) // b) * b + (b - 1) / 2  # (K,) the middle of each full block
    resid = x - np.interp(np.arange(len(x)), centres, bin_medians(x, b)[: len(centres)])
    r = np.sign(resid)
    pairs = (r[1:] != 0) & (r[:-1] != 0)  # quantised logs: a residual of exactly 0 has no sign
    if pairs.sum() < 8:
        return white, 0.0
    share = float(np.mean(r[1:][pairs] == r[:-1][pairs]))
    rho = min(0.99, max(0.0, math.sin(math.pi * (share - 0.5))))
    if rho < SMOOTHED_RHO:  # white noise, perhaps with a few persistent swings (which are what we look for)
        return white, 0.0
    sigma = white * math.sqrt(3.0 / ((1 - rho) * (3 - rho)))
    # and at least the spread about the trend (the lower quartile of |r| is 0.3186 sigma; swings do not move it)
    sigma = max(sigma, float(np.quantile(np.abs(resid - np.median(resid)), 0.25)) / 0.3186)
    return sigma, rho


def effective(n: float, rho: float) -> float:
    """Independent points among n AR(1) points of lag-1 correlation rho."""
    return max(1.0, n * (1 - rho) / (1 + rho))


def mann_kendall_z(x: np.ndarray) -> float:
    """Mann-Kendall trend statistic: about N(0, 1) without a trend, negative for a falling series."""
    n = len(x)
    if n < 4:
        return 0.0
    i, j = np.triu_indices(n, 1)
    s = float(np.sign(x[j] - x[i]).sum())
    var = n * (n - 1) * (2 * n + 5) / 18.0
    return (s - math.copysign(1.0, s)) / math.sqrt(var) if s else 0.0


def theil_sen(x: np.ndarray) -> float:
    """Median of pairwise slopes, per index (robust to outliers and to a few steep points)."""
    n = len(x)
    if n < 2:
        return 0.0
    i, j = np.triu_indices(n, 1)
    return float(np.median((x[j] - x[i]) / (j - i)))


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Unbiased autocorrelation for lags 0..max_lag through one FFT (O(n log n))."""
    n = len(x)
    x = x - x.mean()
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(x, size)
    acov = np.fft.irfft(f * np.conj(f), size)[: max_lag + 1] / (n - np.arange(max_lag + 1))
    return acov / acov[0] if acov[0] > 0 else np.zeros(max_lag + 1)


def count_swings(d: np.ndarray, h: float) -> tuple[int, float]:
    """Complete swings of a smoothed series: a rise of at least `h` from a trough, then a fall of at least `h`
    from the peak. Returns (count, largest rise)."""
    swings, biggest = 0, 0.0
    trough, peak, rising = float(d[0]), 0.0, False
    for v in d.tolist():
        if not rising:
            if v < trough:
                trough = v
            elif v - trough >= h:
                rising, peak = True, v
        elif v > peak:
            peak = v
        elif peak - v >= h:
            swings += 1
            biggest = max(biggest, peak - trough)
            rising, trough = False, v
    return swings, biggest


def plot_values(values: np.ndarray, width: int = PLOT_WIDTH) -> list[float]:
    """At most `width` points for a terminal plot: bin medians; a bin holding a NaN/Inf is drawn as one (×)."""
    n = len(values)
    if n <= width:
        return [float(v) for v in values]
    b = math.ceil(n / width)
    full = n // b
    blocks = values[: full * b].reshape(full, b)  # (full, b)
    med = np.median(np.where(np.isfinite(blocks), blocks, 0.0), axis=1)
    med[~np.isfinite(blocks).all(axis=1)] = np.nan
    out = med.tolist()
    if n % b:
        tail = values[full * b:]
        out.append(float(np.median(tail)) if np.isfinite(tail).all() else float("nan"))
    return out


@dataclass
class Profile:
    """A curve measured once: its finite part on the analysis scale, summarised on a grid with a trend."""

    series: Series
    n_finite: int  # finite points analysed: those before a NaN the run never recovers from, else all finite ones
    steps: np.ndarray  # (n_finite,) steps of the finite part
    z: np.ndarray  # (n_finite,) values on the analysis scale
    scale: str  # "log" or "linear"
    offset: float  # log(y + offset), or the linear unit
    per_bin: int  # raw points per grid bin
    grid_steps: np.ndarray  # (G,)
    grid: np.ndarray  # (G,) bin medians of z
    window: int  # moving-median window over the grid (odd)
    trend: np.ndarray  # (G,) moving median of grid
    sigma: float  # noise of one grid point (log-loss units)
    rho: float  # lag-1 correlation of that noise (a logger's running average makes it > 0)
    sigma_raw: float  # noise of one logged point

    @classmethod
    def of(cls, series: Series) -> "Profile":
        finite = np.isfinite(series.values)
        if finite.all():
            y, st = series.values, series.steps
        else:
            first = int(np.argmin(finite))
            dead = (~finite[first:]).mean() >= DEAD_SHARE or not finite[-1]
            keep = np.arange(len(finite)) < first if dead else finite  # the run up to its death, or every finite row
            y, st = series.values[keep], series.steps[keep]
        k = len(y)
        z, scale, offset = analysis_scale(y)
        b = max(1, math.ceil(len(z) / GRID))
        grid = bin_medians(z, b)
        grid_steps = bin_medians(st, b)
        G = len(grid)
        w = 2 * max(1, round(G / 40)) + 1 if G >= 5 else 1  # about 5% of the run, at least 3 points
        trend = moving_median(grid, w)
        sigma, rho = noise_model(grid)
        raw = noise_model(z)[0] if len(z) >= 5 else 0.0
        return cls(series, k, st, z, scale, offset, b, grid_steps, grid, w, trend,
                   sigma if math.isfinite(sigma) else 0.0, rho, raw if math.isfinite(raw) else 0.0)

    # -- reading the measurement --------------------------------------------------------------------------
    @property
    def G(self) -> int:
        return len(self.grid)

    def median_se(self, m: int) -> float:
        """Standard error of a median of m consecutive grid points (1.2533 sigma / sqrt(independent points))."""
        return 1.2533 * self.sigma / math.sqrt(effective(m, self.rho))

    @property
    def sigma_trend(self) -> float:
        """Noise of one trend point: a median of `window` grid points."""
        return self.median_se(max(1, self.window))

    @property
    def min_bias(self) -> float:
        """How far below the truth the minimum of a noisy trend sits: about sigma * sqrt(2 ln N)."""
        independent = max(2.0, effective(self.G, self.rho) / max(1, self.window))
        return self.sigma_trend * math.sqrt(2 * math.log(independent))

    def window_median(self, a: float, b: float, min_pts: int = 3) -> tuple[float, float]:
        """(median, standard error) of the grid between fractions a and b of the run."""
        G = self.G
        i0 = min(int(a * G), max(0, G - min_pts))
        i1 = max(i0 + min_pts, int(math.ceil(b * G)))
        part = self.grid[i0:min(i1, G)]
        return float(np.median(part)), self.median_se(len(part))

    def at_step(self, step: float) -> float:
        return float(np.interp(step, self.grid_steps, self.trend))

    def index_at_step(self, step: float) -> int:
        return int(np.clip(np.searchsorted(self.grid_steps, step), 0, self.G - 1))

    def value(self, z: float) -> float:
        """Back from the analysis scale to the log's units."""
        if self.scale == "log":
            return math.exp(z) - self.offset
        return z * self.offset

    @property
    def span(self) -> float:
        return float(self.grid_steps[-1] - self.grid_steps[0]) if self.G > 1 else 0.0

    def what(self, role: str) -> str:
        """`training loss (train_loss)`, or `training error (1 - acc)`."""
        kind = "error" if self.series.from_accuracy else "loss"
        name = f"1 - {self.series.name}" if self.series.from_accuracy else self.series.name
        return f"{role} {kind} ({name})"


def step_text(step: float) -> str:
    return f"{step:.0f}" if float(step).is_integer() or abs(step) >= 100 else f"{step:.3g}"


def step_value(step: float) -> float | int:
    """A step for the evidence: an int when it is one (bin medians of steps may fall between two)."""
    step = float(step)
    return int(step) if step.is_integer() else round(step, 3)


def pct(dz: float) -> str:
    """A log-loss change as a percentage of the level: 0.1 -> '11%'; -0.1 -> '10%'."""
    return f"{abs(math.expm1(dz)) * 100:.0f}%"


@dataclass
class LRFacts:
    """The learning-rate schedule, read from a logged lr column."""

    peak: float
    start: float
    end: float
    warmup_end_step: float | None  # first step at 90% of the peak, when the lr starts below half of it
    decay_start_step: float  # last step at or above half the peak (the final decay begins after it)
    restarts: int  # times the lr climbs back to 2x a running low after the warm-up (warm restarts, cycles)

    @classmethod
    def of(cls, lr: Series) -> "LRFacts | None":
        ok = np.isfinite(lr.values)
        v, s = lr.values[ok], lr.steps[ok]
        if v.size < 2:
            return None
        peak = float(v.max())
        if peak <= 0:
            return cls(peak, float(v[0]), float(v[-1]), None, float(s[0]), 0)
        warm = None
        i_peak = int(np.argmax(v >= 0.9 * peak))
        if v[0] < 0.5 * peak:
            warm = float(s[i_peak])
        high = np.nonzero(v >= 0.5 * peak)[0]
        decay_start = float(s[high[-1]])
        after = v[i_peak:]
        low = np.minimum.accumulate(after)
        climbs = (after >= 2 * low) & (low > 0)
        restarts = int(np.count_nonzero(np.diff(climbs.astype(np.int8)) == 1) + (1 if climbs[:1].any() else 0))
        return cls(peak, float(v[0]), float(v[-1]), warm, decay_start, restarts)


@dataclass
class Curves:
    """Everything the analysers read: the log and the measured curves."""

    log: CurveLog
    train: Profile
    val: Profile | None
    lr: LRFacts | None


def measure(log: CurveLog) -> Curves:
    val = Profile.of(log.val) if log.val is not None and len(log.val) else None
    lr = LRFacts.of(log.lr) if log.lr is not None and len(log.lr) else None
    return Curves(log, Profile.of(log.train), val, lr)


# =============================================================================================================
# Judgement: the analysers
# =============================================================================================================
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


class Finite(Analyser):
    """NaN or Inf in the logged loss (ND602), with the step where it begins.

    What it catches: a training or validation loss that turns NaN or Inf; on a plot the curve just stops.
    Why it matters: from that step on the weights are almost certainly NaN too, so everything logged after it and
    every checkpoint saved after it is useless. A rise just before points to divergence, a jump from normal values
    to a bad batch or an unsafe op. Isolated non-finite values that the run recovers from (fp16 overflow skipped by
    a GradScaler) are a warning; a run that stays non-finite is an error.
    How to fix it: resume from a checkpoint before that step with a lower learning rate, gradient clipping and a
    warm-up; check that batch for NaN/Inf; under fp16 use GradScaler or bfloat16; use fused, stable losses.
    """

    name = "curve-finite"
    codes = ("ND602",)
    options = {
        "dead_share": DEAD_SHARE,  # share of the rows from the first NaN/Inf on that are non-finite: at or above,
        #                            the run did not recover (error); below, isolated values it survived (warning)
    }

    def skip_reason(self, c: Curves) -> str | None:
        return None  # a log that is NaN from its first row is exactly what this looks for

    def run(self, c: Curves) -> Iterator[Finding]:
        for prof, role in ((c.train, "training"), (c.val, "validation")):
            if prof is None:
                continue
            s = prof.series
            bad = ~np.isfinite(s.values)
            if not bad.any():
                continue
            # measure
            k = int(np.argmax(bad))
            after = bad[k:]
            share = float(after.mean())
            first = float(s.values[k])
            kind = "NaN" if math.isnan(first) else ("Inf" if first > 0 else "-Inf")
            recovered = bool(np.isfinite(s.values[-1]))
            evidence = {"first_step": step_value(s.steps[k]), "first_row": k, "value": kind,
                        "non_finite_rows": int(bad.sum()), "share_after": round(share, 3),
                        "finite_rows_before": k}
            earlier = prof.trend[prof.grid_steps < s.steps[k]]  # the trend before the first NaN/Inf
            if k >= 5 and earlier.size:
                last = float(np.median(prof.z[max(0, k - max(3, prof.per_bin)):k]))
                evidence["last_finite"] = prof.value(last)
                if prof.scale == "log":
                    evidence["last_vs_best_before"] = f"{math.exp(last - float(earlier.min())):.3g}x"
            # judge
            dead = share >= self.opts["dead_share"] or not recovered
            what = prof.what(role)
            if dead:
                title = (f"the {what} turns {kind} at step {step_text(s.steps[k])} and stays non-finite "
                         f"({share:.0%} of the {len(after)} rows from there on)")
            else:
                title = (f"the {what} is {kind} on {int(bad.sum())} row(s) from step {step_text(s.steps[k])}; the "
                         f"run recovers")
            if k == 0:  # non-finite from the first row: no training step did it
                fix = ("The loss is non-finite before training could move it: check the inputs and targets for "
                       "NaN/Inf (`nndoctor run` does), and the loss for a log of 0 or a division by 0; use fused, "
                       "stable losses (CrossEntropyLoss, BCEWithLogitsLoss) rather than log(softmax) by hand.")
            else:
                fix = (f"Resume from a checkpoint saved before step {step_text(s.steps[k])} with the learning rate "
                       "3-10x lower, gradient clipping (clip_grad_norm_) and a warm-up; if it recurs at the same "
                       "step, check that batch for NaN/Inf. Under fp16 use torch.amp.GradScaler or bfloat16; "
                       "replace hand-written log/softmax with stable fused losses.")
            yield self.finding("ND602", title, evidence, fix, severity="error" if dead else "warning",
                               where=f"{role} step {step_text(s.steps[k])}", confidence=1.0 if dead else 0.7)


class Trend(Analyser):
    """The overall trend of the training loss: flat (ND601), rising (ND603), still falling at the end (ND609).

    What it catches: a loss that never falls materially below where it started (not learning: a learning rate far
    too low or zero, broken gradient flow, labels unlinked from inputs); a loss that ends well above its best
    (divergence: a learning rate past the stable range, a warm-up peak set too high, or gradient ascent); a loss
    still falling clearly over the last fifth of the log (stopped before convergence, info).
    Why it matters: a flat curve will not improve with more steps, a rising one wastes every step after its turn
    and usually ends in NaN, and a curve still falling means the run's metrics understate the setup.
    How to fix it: flat: raise the learning rate by factors of 10 (an LR range test) and run `nndoctor run` on the
    model; rising: restart from the best checkpoint with the learning rate 3-10x lower, a warm-up and clipping, and
    check the sign of the loss; still falling: train longer with the schedule stretched to the new length.
    """

    name = "curve-trend"
    codes = ("ND601", "ND603", "ND609")
    options = {
        "flat_drop": 0.05,  # log-loss units (~5%): a loss whose trend never falls this far below its start is flat
        "min_rise": 0.2,  # log-loss units (~22%): smallest rise of the end above the best that counts as divergence
        "error_rise": math.log(2.0),  # log-loss units: the end at twice the best or more is an error, less a warning
        "tail": 0.2,  # fraction of the run that is "the end" for ND609
        "tail_drop": 0.05,  # log-loss units (~5%): fall over the tail that counts as still improving
        "annealed": 0.1,  # logged lr at the end / its peak at or below this: the schedule has run its course, and a
        #                   fall at the end is its annealing, not a run stopped early (no ND609)
    }

    def run(self, c: Curves) -> Iterator[Finding]:
        p, o, k = c.train, self.opts, SIGNIFICANCE
        what = p.what("training")
        self.plot_curve(f"{what}, {len(p.series)} rows", p.series.values)
        # measure: start (first 5%), end (last 10%), best (trend minimum) and the tests between them
        start, se_start = p.window_median(0.0, 0.05)
        end, se_end = p.window_median(0.9, 1.0)
        i_best = int(np.argmin(p.trend))
        best = float(p.trend[i_best])
        drop = start - best  # how far the trend ever fell below the start
        rise = end - best  # how far the end sits above the best
        drop_needed = k * math.hypot(se_start, p.sigma_trend) + p.min_bias
        rise_needed = k * math.hypot(se_end, p.sigma_trend) + p.min_bias
        mk = mann_kendall_z(p.grid)
        learning = drop >= o["flat_drop"] and (drop >= drop_needed or mk <= -k)
        # a best inside the end window is a curve still falling there, not a rise
        rising = rise >= o["min_rise"] and rise >= rise_needed and i_best < int(0.9 * p.G) - p.window // 2
        evidence = {"start": p.value(start), "best": p.value(best), "end": p.value(end),
                    "best_step": step_value(p.grid_steps[i_best]), "mann_kendall_z": round(mk, 2),
                    "noise": round(p.sigma_raw, 4),
                    "rows": len(p.series)}
        if rising:
            yield self.finding(
                "ND603",
                f"the {what} rises {math.exp(rise):.2g}x from its best ({p.value(best):.4g} at step "
                f"{step_text(p.grid_steps[i_best])}) to {p.value(end):.4g} at the end",
                {"rise": f"{math.exp(rise):.3g}x", **evidence},
                f"Restart from the checkpoint near step {step_text(p.grid_steps[i_best])} with the learning rate 3-10x "
                "lower, a warm-up and gradient clipping (clip_grad_norm_). If the loss rises from the very first "
                "step even at a small lr, check the sign of the loss and of any hand-written update.",
                severity="error" if rise >= o["error_rise"] else "warning",
                where=f"from step {step_text(p.grid_steps[i_best])}", confidence=min(1.0, rise / o["error_rise"]))
            return
        if not learning:
            yield self.finding(
                "ND601",
                f"the {what} stays flat: its trend never falls more than {pct(-max(drop, 0.0))} below the start "
                f"({p.value(start):.4g}) over {len(p.series)} rows",
                {"largest_drop": pct(-max(drop, 0.0)), "drop_needed": pct(-o["flat_drop"]), **evidence},
                severity="error", where="the whole log", confidence=0.9)
            return
        # still improving at the end: the tail falls materially and significantly, and its last half still falls
        if c.lr is not None and c.lr.end <= o["annealed"] * c.lr.peak:
            return
        t0 = 1.0 - o["tail"]
        tail = p.grid[int(t0 * p.G):]
        if len(tail) < 6:
            return
        tail_drop = -theil_sen(tail) * (len(tail) - 1)
        tail_mk = mann_kendall_z(tail)
        last_half_slope = theil_sen(tail[len(tail) // 2:])
        if tail_drop >= o["tail_drop"] and tail_mk <= -k and last_half_slope < 0:
            yield self.finding(
                "ND609",
                f"the {what} fell {pct(-tail_drop)} over the last {o['tail']:.0%} of the log and was still falling "
                f"at the end (step {step_text(p.grid_steps[-1])})",
                {"tail_drop": pct(-tail_drop), "tail_mann_kendall_z": round(tail_mk, 2), **evidence},
                severity="info", where="end of the log", confidence=min(1.0, tail_drop / (4 * o["tail_drop"])))


class LateStart(Analyser):
    """A long plateau at the start, then a sudden drop (ND604).

    What it catches: a loss that stays at its initial level for a long stretch (after the warm-up when the lr is
    logged) and then falls quickly, most of its total fall coming after the plateau.
    Why it matters: the network spent that stretch stuck, usually because its initialisation was too small
    (signals and gradients near zero until symmetry breaks) or because bad or mislabelled data confused it; another
    seed may never leave the plateau.
    How to fix it: use the standard initialisation (Kaiming for ReLU, Xavier for tanh; PyTorch's defaults rather
    than randn * 0.01), add normalisation layers, check the data for mislabelled samples; a short warm-up with a
    slightly higher learning rate often shortens the plateau.
    """

    name = "curve-late-start"
    codes = ("ND604",)
    options = {
        "plateau": 0.2,  # fraction of the run (after the warm-up) the loss stays at its start level: "long"
        "min_drop": 0.2,  # log-loss units (~18%): the fall after the plateau must be at least this
        "started": 0.1,  # fraction of the total fall that marks the end of the plateau
    }

    def run(self, c: Curves) -> Iterator[Finding]:
        p, o = c.train, self.opts
        # measure: where the trend first leaves the start level, and how fast it then falls
        start, se_start = p.window_median(0.0, 0.05)
        i_best = int(np.argmin(p.trend))
        total = start - float(p.trend[i_best])
        if total < max(o["min_drop"], SIGNIFICANCE * math.hypot(se_start, p.sigma_trend) + p.min_bias):
            return  # no material fall: flat (ND601) or rising (ND603), not a late start
        leave = max(o["started"] * total, SIGNIFICANCE * math.hypot(se_start, p.sigma_trend))
        below = np.nonzero(p.trend[: i_best + 1] < start - leave)[0]
        i_leave = int(below[0]) if below.size else i_best
        i_90 = int(np.argmax(p.trend[: i_best + 1] <= start - 0.9 * total))
        t0 = float(p.grid_steps[0])
        warm = c.lr.warmup_end_step if c.lr is not None and c.lr.warmup_end_step is not None else t0
        warm = min(max(warm, t0), float(p.grid_steps[-1]))
        plateau = (float(p.grid_steps[i_leave]) - warm) / max(p.span, 1e-12)
        fall = (float(p.grid_steps[i_90]) - float(p.grid_steps[i_leave])) / max(p.span, 1e-12)
        # judge: long plateau, then a fall quicker than the plateau
        if plateau >= o["plateau"] and fall <= plateau:
            yield self.finding(
                "ND604",
                f"the {p.what('training')} stays near its start ({p.value(start):.4g}) until step "
                f"{step_text(p.grid_steps[i_leave])} ({plateau:.0%} of the run), then falls {pct(-total)} in "
                f"{fall:.0%} of the run",
                {"plateau_share": round(plateau, 3), "plateau_ends_step": step_value(p.grid_steps[i_leave]),
                 "fall_share": round(fall, 3), "total_fall": pct(-total),
                 "warmup_end_step": step_value(warm) if warm > t0 else None},
                where=f"steps {step_text(p.grid_steps[0])}-{step_text(p.grid_steps[i_leave])}",
                confidence=min(1.0, plateau / (2 * o["plateau"])))


class Oscillation(Analyser):
    """Swings that a converging run does not make (ND605): learning rate too high, batch too small.

    What it catches: the smoothed loss climbing back well above a low it had reached, then falling again, over
    and over: at least three complete swings on some timescale (the curve is examined at bins of 1, 3, 9, ...
    rows, each smoothed by a moving median of 5, so single bad batches and white batch noise do not count).
    Why it matters: steps overshoot the minimum or the gradient estimate is too noisy; the model ends wherever the
    last swing left it. Plain batch noise, however large, is not a swing: it does not survive smoothing.
    How to fix it: lower the learning rate 2-10x or add a decay schedule, raise the batch size (or accumulate
    gradients). A schedule that raises the lr on purpose (warm restarts, cycles) is recognised when the lr is logged.
    """

    name = "curve-oscillation"
    codes = ("ND605",)
    options = {
        "min_swing": 0.2,  # log-loss units (~22%): a smaller climb above the last low is not a swing
        "min_swings": 3,  # complete swings needed; one or two bumps are a warm-up peak or a restart
        "finest": 8192,  # most points at the finest timescale (bins grow to keep within this)
        "coarsest": 30,  # fewest points at the coarsest timescale
    }

    def skip_reason(self, c: Curves) -> str | None:
        if c.lr is not None and c.lr.restarts >= 1:
            return f"the learning rate climbs back up {c.lr.restarts} time(s) on purpose (restarts or cycles)"
        return super().skip_reason(c)

    def run(self, c: Curves) -> Iterator[Finding]:
        p, o = c.train, self.opts
        z, steps = p.z, p.steps
        if c.lr is not None and c.lr.warmup_end_step is not None:  # the warm-up may bump the loss once
            i = int(np.searchsorted(steps, c.lr.warmup_end_step))
            z, steps = z[i:], steps[i:]
        # measure: swings at each timescale, against a threshold above what the level's noise can make
        b = 1
        while len(z) / b > o["finest"]:
            b *= 3
        x = bin_medians(z, b)
        best = {"swings": 0}
        while len(x) >= o["coarsest"]:
            d = moving_median(x, 5)
            sigma, rho = noise_model(x)  # rho > 0: a logger's running average, fewer independent points
            # Noise of sigma reaches about sigma * sqrt(2 ln N) from its mean over N independent points: a swing
            # twice that size is beyond anything the noise of this level makes.
            h = max(o["min_swing"], 2 * sigma * math.sqrt(2 * math.log(max(2.0, effective(len(x), rho)))))
            n_sw, biggest = count_swings(d, h)
            if n_sw > best["swings"]:
                per_step = float(np.median(np.diff(steps))) if len(steps) > 1 else 1.0
                best = {"swings": n_sw, "largest": f"{math.exp(biggest):.3g}x", "threshold": f"{math.exp(h):.3g}x",
                        "timescale_steps": round(b * per_step, 3), "noise": round(sigma, 4)}
            x = bin_medians(x, 3)
            b *= 3
        # judge
        if best["swings"] >= o["min_swings"]:
            yield self.finding(
                "ND605",
                f"the {p.what('training')} swings up and down {best['swings']} times (climbs of up to "
                f"{best['largest']} above its last low), far beyond its batch noise",
                best, where="whole log", confidence=min(1.0, best["swings"] / (3 * o["min_swings"])))


class Periodicity(Analyser):
    """A pattern that repeats every epoch (ND606): the data is not shuffled.

    What it catches: the detrended training loss correlated with itself one epoch later (and two epochs later:
    the pattern repeats). The epoch length comes from an `epoch` column when one is logged; otherwise the
    dominant autocorrelation peak is taken, and it must be strong, beyond the first zero crossing, and repeat.
    Why it matters: the model sees the data in the same order every epoch (often sorted by class or source), fits
    whichever slice it is on, and ends biased toward the data at the end of the epoch.
    How to fix it: shuffle=True on the training DataLoader (sampler.set_epoch(epoch) with DistributedSampler),
    shuffling inputs and labels together; shuffle shard order and use a buffer for streaming data. A schedule that
    repeats with the same period (cyclic lr) is recognised when the lr is logged.
    """

    name = "curve-periodicity"
    codes = ("ND606",)
    options = {
        "min_correlation": 0.3,  # autocorrelation at one and at two periods: the pattern explains >= 30% of the
        #                          detrended variance (white noise gives about 1/sqrt(N))
        "min_periods": 4,  # whole periods in the analysed part of the log
        "burn_in": 0.1,  # fraction of the run skipped first (the initial fall dominates there)
        "resolution": 16,  # points per period the pattern is looked at (bin means average the batch noise out)
        "search_points": 4096,  # without an epoch column, the period is searched on at most this many bin means
        "lr_correlation": 0.5,  # the logged lr correlated this much at the same lag: the schedule, not the data
    }

    def run(self, c: Curves) -> Iterator[Finding]:
        o = self.opts
        m = self.measure(c)
        if m is None:
            return
        # judge: strong at one and at two periods, significant, enough periods, and not the lr's own pattern
        strong = m["correlation_1"] >= o["min_correlation"] and m["correlation_2"] >= o["min_correlation"]
        significant = m["correlation_1"] * math.sqrt(m["points"]) >= SIGNIFICANCE
        schedule = m["lr_correlation"] is not None and m["lr_correlation"] >= o["lr_correlation"]
        if not (strong and significant and m["periods_seen"] >= o["min_periods"]) or schedule:
            return
        period = m["period_steps"]
        yield self.finding(
            "ND606",
            f"the {c.train.what('training')} repeats a pattern every {period:.4g} steps "
            f"({'one epoch' if m['period_source'] == 'epoch column' else 'found by autocorrelation'}): correlation "
            f"{m['correlation_1']:.2f} one period apart, {m['correlation_2']:.2f} two apart, a swing of "
            f"{m['swing_in_period']} within each period",
            {k: v for k, v in m.items() if k != "points"}, where=f"every {period:.4g} steps",
            confidence=m["correlation_1"])

    def measure(self, c: Curves) -> dict | None:
        """The period (epoch column, or the first dominant autocorrelation peak) and the correlation at one and two
        periods of the detrended log-loss; None when the log cannot show a period."""
        p, o = c.train, self.opts
        epoch = c.log.epoch_length
        if epoch is not None and epoch < 4:
            return None  # one row per epoch or so: no pattern inside an epoch to see
        f = max(1, int(epoch // o["resolution"])) if epoch is not None else max(1, math.ceil(p.n_finite /
                                                                                           o["search_points"]))
        burn = int(o["burn_in"] * (p.n_finite // f))
        x = _bin_means(p.z, f)[burn:]  # (N,) bin means of f rows, after the burn-in
        N = len(x)
        max_lag = N // o["min_periods"]
        if epoch is not None:
            period, source = epoch / f, "epoch column"
        else:
            if max_lag < 4:
                return None
            r = autocorrelation(moving_mean_residual(x, max(5, max_lag) | 1), max_lag)
            neg = np.nonzero(r[1:] < 0)[0]
            if not neg.size or neg[0] + 1 >= max_lag:
                return None  # never decorrelates: a trend, not a pattern
            k0 = int(neg[0]) + 1
            seg = r[k0: max_lag + 1]
            # the first peak nearly as high as the highest: the fundamental, not a multiple of it
            period, source = float(k0 + int(np.argmax(seg >= 0.8 * seg.max()))), "autocorrelation peak"
        lag = int(round(period))
        resid = moving_mean_residual(x, lag)  # the trend removed, a period-`lag` pattern kept
        if lag < 2 or len(resid) <= 2 * lag + 1:
            return None
        r = autocorrelation(resid, 2 * lag + 1)
        phase = np.arange(len(resid)) % lag
        profile = np.bincount(phase, resid, lag) / np.maximum(np.bincount(phase, None, lag), 1)  # (lag,)
        per_step = float(np.median(np.diff(p.steps))) if p.n_finite > 1 else 1.0
        return {"period_steps": round(period * f * per_step, 3), "period_source": source,
                "correlation_1": round(float(r[lag]), 3),
                "correlation_2": round(float(r[2 * lag - 1: 2 * lag + 2].max()), 3),
                "periods_seen": round(N / period, 1),
                "swing_in_period": f"{math.exp(float(profile.max() - profile.min())):.3g}x",
                "lr_correlation": self._lr_correlation(c, f, burn, lag), "points": len(resid)}

    @staticmethod
    def _lr_correlation(c: Curves, f: int, burn: int, lag: int) -> float | None:
        lr = c.log.lr
        if lr is None or len(lr) < 4:
            return None
        ok = np.isfinite(lr.values) & (lr.values > 0)
        if ok.sum() < 4:
            return None
        at = np.interp(c.train.steps, lr.steps[ok], np.log(lr.values[ok]))  # (n_finite,) lr on the loss rows
        x = _bin_means(at, f)[burn:]
        resid = moving_mean_residual(x, lag)
        if len(resid) <= 2 * lag or np.ptp(x) <= 1e-9 * max(1.0, float(np.abs(x).max())):
            return 0.0  # a constant lr (rounding noise would fake a pattern)
        return float(autocorrelation(resid, lag)[lag])


def _bin_means(x: np.ndarray, f: int) -> np.ndarray:
    if f <= 1:
        return x.astype(float, copy=True)
    full = len(x) // f
    return x[: full * f].reshape(full, f).mean(axis=1)  # (full,)


class Generalisation(Analyser):
    """Training against validation: overfitting (ND607) and a noisy validation curve (ND608).

    What it catches: validation loss rising from its minimum while the training loss keeps falling (or stays
    flat), naming the step where the gap opens; validation noise far above training noise (per logged point, on
    the log scale, after removing the trend), the mark of a validation set too small to measure the model.
    Why it matters: past the named step, every step makes the model worse on new data and the last checkpoint is a
    worse model than the one at the turn; a noisy validation curve makes early stopping and model selection follow
    chance. At equal per-sample spread, noise scales as 1/sqrt(samples), so a noise ratio of 3 means each
    validation value rests on about 9x fewer samples than each training value.
    How to fix it: keep the checkpoint at the validation minimum and add regularisation (weight decay, dropout,
    augmentation) or data; enlarge the validation split (about 20%) and evaluate on all of it.
    """

    name = "curve-generalisation"
    codes = ("ND607", "ND608")
    options = {
        "min_val_rise": 0.05,  # log-loss units (~5%): validation end above its minimum, material rise
        "min_after": 3,  # validation points after the minimum: the rise must persist
        "noise_ratio": 3.0,  # validation noise / training noise per logged point (9x fewer samples)
        "min_val_noise": 0.02,  # log-loss units (~2% per evaluation): quieter validation is precise enough anyway
        "min_val_points": 5,  # validation points needed for ND607 (8 for the noise estimate of ND608)
    }

    def skip_reason(self, c: Curves) -> str | None:
        if c.val is None:
            return "no validation column in the log (--val names one)"
        if c.val.n_finite < self.opts["min_val_points"]:
            return f"{c.val.n_finite} finite validation points, fewer than {self.opts['min_val_points']}"
        return super().skip_reason(c)

    def run(self, c: Curves) -> Iterator[Finding]:
        t, v, o = c.train, c.val, self.opts
        self.plot_curve(f"{v.what('validation')}, {len(v.series)} rows", v.series.values)
        yield from self._overfitting(t, v, o)
        yield from self._noise(t, v, o)

    def _overfitting(self, t: Profile, v: Profile, o: dict) -> Iterator[Finding]:
        # measure: validation minimum, validation end, training over the same stretch, and the gap
        i_best = int(np.argmin(v.trend))
        best = float(v.trend[i_best])
        after = v.G - 1 - i_best
        if after < o["min_after"]:
            return
        end, se_end = v.window_median(0.9, 1.0)
        rise = end - best
        rise_needed = SIGNIFICANCE * math.hypot(se_end, v.sigma_trend) + v.min_bias
        best_step = float(v.grid_steps[i_best])
        end_step = float(v.grid_steps[-1])
        train_change = t.at_step(end_step) - t.at_step(best_step)
        gap = moving_median(v.grid - np.interp(v.grid_steps, t.grid_steps, t.trend), v.window)  # (Gv,) log ratio
        i_open = int(np.argmin(gap[: i_best + 1]))
        open_step = float(v.grid_steps[i_open])
        # judge: a material, significant, persistent rise while training does not rise with it
        if rise >= o["min_val_rise"] and rise >= rise_needed and train_change < rise / 2:
            yield self.finding(
                "ND607",
                f"the {v.what('validation')} rises {pct(rise)} from its minimum at step {step_text(best_step)} while "
                f"the training loss {'falls ' + pct(train_change) if train_change < 0 else 'stays flat'}; the gap "
                f"opens at step {step_text(open_step)}",
                {"gap_opens_step": step_value(open_step), "best_val_step": step_value(best_step),
                 "best_val": v.value(best),
                 "val_end": v.value(end), "val_rise": pct(rise), "train_change": f"{math.exp(train_change):.3g}x",
                 "gap_end": f"{math.exp(float(gap[-1])):.3g}x"},
                f"Keep the checkpoint near step {step_text(best_step)} (early stopping on validation loss) and add "
                "regularisation: weight decay (AdamW), dropout, data augmentation, or a smaller model; more "
                "training data helps most.",
                where=f"from step {step_text(open_step)}", confidence=min(1.0, rise / (4 * o["min_val_rise"])))

    def _noise(self, t: Profile, v: Profile, o: dict) -> Iterator[Finding]:
        if v.n_finite < 8:
            return
        # measure: per-point noise of each curve on the log scale
        ratio = v.sigma_raw / t.sigma_raw if t.sigma_raw > 0 else float("inf")
        # judge
        if ratio >= o["noise_ratio"] and v.sigma_raw >= o["min_val_noise"]:
            yield self.finding(
                "ND608",
                f"the {v.what('validation')} is {ratio:.3g}x noisier than the training loss per logged point "
                f"(±{pct(v.sigma_raw)} against ±{pct(t.sigma_raw)})",
                {"noise_ratio": round(ratio, 2), "val_noise": round(v.sigma_raw, 4),
                 "train_noise": round(t.sigma_raw, 4),
                 "val_points": v.n_finite, "samples_ratio_estimate": round(ratio ** 2, 1)},
                where="validation", confidence=min(1.0, ratio / (3 * o["noise_ratio"])))


class Schedule(Analyser):
    """A learning rate that decays to near zero long before the loss settles (ND610); needs the lr logged.

    What it catches: the lr falls to a small share of its peak with a good part of the run left, while the loss
    was still falling when the decay began and stops falling once the lr is near zero. An lr of 0 throughout is
    reported too. A step-decay schedule that cuts the lr once the loss has plateaued stays silent: the loss was not
    falling when the decay began.
    Why it matters: the curve flattens because the steps became tiny, not because the model converged: StepLR with a
    small step_size, an aggressive ExponentialLR gamma, or a cosine T_max in epochs stepped every batch.
    How to fix it: set T_max / total_steps to the number of scheduler.step() calls actually made, lengthen the decay
    or raise gamma, or use ReduceLROnPlateau.
    """

    name = "curve-schedule"
    codes = ("ND610",)
    options = {
        "near_zero": 0.01,  # lr / its peak at or below this is "near zero"
        "min_left": 0.25,  # fraction of the run left when the lr is near zero: "long before the end"
        "still_falling": 0.05,  # log-loss units (~5%): fall over `window` before the decay began: not settled
        "window": 0.1,  # fraction of the run before the decay begins where the fall is measured
        "flattened": 0.25,  # loss fall rate after the lr is near zero / rate before: at most this
    }

    def skip_reason(self, c: Curves) -> str | None:
        if c.lr is None:
            return "no learning-rate column in the log (--lr names one)"
        return super().skip_reason(c)

    def run(self, c: Curves) -> Iterator[Finding]:
        p, lr, o = c.train, c.log.lr, self.opts
        ok = np.isfinite(lr.values)
        vals, steps = lr.values[ok], lr.steps[ok]
        self.plot_curve(f"learning rate ({lr.name}), {len(lr)} rows", lr.values)
        if c.lr.peak <= 0:
            yield self.finding("ND610", f"the learning rate ({lr.name}) is {c.lr.peak:g} throughout the log",
                               {"peak_lr": c.lr.peak}, "Set a positive learning rate: check the optimizer's lr and "
                               "that the scheduler does not start at 0 with nothing to raise it.",
                               severity="error", where="whole log", confidence=1.0)
            return
        # measure: when the lr is near zero for good, how much run is left, the loss fall before and after
        later_max = np.maximum.accumulate(vals[::-1])[::-1]  # (n,) largest lr from here to the end
        low = np.nonzero(later_max <= o["near_zero"] * c.lr.peak)[0]
        if not low.size:
            return
        zero_step = float(steps[low[0]])
        t0, t1 = float(p.grid_steps[0]), float(p.grid_steps[-1])
        left = (t1 - zero_step) / max(p.span, 1e-12)
        decay = min(max(c.lr.decay_start_step, t0), t1)
        # The fall before the decay is read off trend points whose window ends before it (a moving median
        # centred on the decay would already hold the drop the decay itself causes).
        # When the decay starts at once (no room before it), the fall from the start to the near-zero step counts.
        i_end = p.index_at_step(decay) - p.window // 2 - 1
        i_start = max(0, i_end - max(2, int(o["window"] * p.G)))
        if i_end - i_start < 2:
            i_start, i_end = 0, max(2, p.index_at_step(zero_step))
        fall_before = float(p.trend[i_start] - p.trend[i_end])
        rate_before = fall_before / max(float(p.grid_steps[i_end] - p.grid_steps[i_start]), 1e-12)
        end, _ = p.window_median(0.9, 1.0)
        fall_after = p.at_step(zero_step) - end
        rate_after = fall_after / max(t1 - zero_step, 1e-12)
        needed = SIGNIFICANCE * math.sqrt(2) * p.sigma_trend
        # judge: near zero early, the loss still falling when the decay began, flat once the lr is near zero
        if (left >= o["min_left"] and fall_before >= max(o["still_falling"], needed)
                and rate_after <= o["flattened"] * rate_before):
            yield self.finding(
                "ND610",
                f"the learning rate ({lr.name}) is below {o['near_zero']:.0%} of its peak from step "
                f"{step_text(zero_step)} with {left:.0%} of the run left, while the loss was still falling "
                f"({pct(-fall_before)} in the {o['window']:.0%} of the run before the decay began)",
                {"near_zero_step": step_value(zero_step), "peak_lr": c.lr.peak, "run_left": round(left, 3),
                 "decay_starts_step": step_value(decay), "fall_before": pct(-fall_before),
                 "fall_measured_from_step": step_value(p.grid_steps[i_start]),
                 "rate_after_vs_before": round(rate_after / rate_before, 3) if rate_before > 0 else None},
                where=f"from step {step_text(zero_step)}", confidence=min(1.0, left / (2 * o["min_left"])))


ANALYSERS: tuple[type[Analyser], ...] = (Finite, Trend, LateStart, Oscillation, Periodicity, Generalisation,
                                          Schedule)


# =============================================================================================================
# The driver
# =============================================================================================================
def _matches(code: str, analyser: str, items: Iterable[str]) -> bool:
    return any(analyser == it or code.startswith(it.upper()) for it in items)


def check_selectors(items: Iterable[str]) -> list[str]:
    """--select/--ignore items: codes or prefixes of the ND6 group (ND607, ND60) or analyser names."""
    import difflib

    names = [a.name for a in ANALYSERS]
    out = []
    for item in items:
        up = item.upper()
        if up.startswith("ND") and any(c.startswith(up) for c in CODES):
            out.append(up)
        elif item in names:
            out.append(item)
        else:
            close = difflib.get_close_matches(item, list(CODES) + names, n=1, cutoff=0.6)
            raise CurveError(f"--select/--ignore: '{item}' is not a code, code prefix or curve analyser ("
                             f"{', '.join(names)})" + (f"; did you mean '{close[0]}'?" if close else ""))
    return out


def _suppress(findings: list[Finding]) -> list[Finding]:
    """"Train longer" is no advice for a run that overfits, diverges, swings or died."""
    blocking = {f.code for f in findings
                if f.code in ("ND603", "ND605", "ND607") or (f.code == "ND602" and f.severity == "error")}
    return [f for f in findings if not (f.code == "ND609" and blocking)]


def diagnose_log(log: CurveLog, select: Iterable[str] = (), ignore: Iterable[str] = (),
                 options: dict | None = None, started: float | None = None) -> Report:
    """Run every analyser on a parsed log; returns the ranked report (`config` is the log's path)."""
    started = time.monotonic() if started is None else started
    select, ignore, options = list(select), list(ignore), dict(options or {})
    curves = measure(log)
    findings: list[Finding] = []
    results: list[CheckResult] = []
    for cls in ANALYSERS:
        if cls.name in ignore or all(_matches(code, cls.name, ignore) for code in cls.codes):
            continue
        if select and cls.name not in select and not any(_matches(code, cls.name, select) for code in cls.codes):
            continue
        a = cls(options.get(cls.name))
        t0 = time.monotonic()
        reason = a.skip_reason(curves)
        if reason:
            results.append(CheckResult(cls.name, "skipped", detail=reason))
            continue
        got: list[Finding] = []
        status, detail = "passed", None
        try:
            got = list(a.run(curves) or ())
        except Exception as exc:  # an analyser's bug is reported, the others still run
            status, detail = "crashed", f"{type(exc).__name__}: {exc}"
        got = [f for f in got if not _matches(f.code, f.check, ignore) and
               (not select or _matches(f.code, f.check, select))]
        if status == "passed" and any(f.severity != "info" for f in got):
            status = "failed"
        results.append(CheckResult(cls.name, status, time.monotonic() - t0, detail, a.plots))
        findings += got
    return Report(findings=_suppress(findings), checks=results, seconds=time.monotonic() - started,
                  config=log.path, title="nndoctor curve")


def diagnose_file(path: str, *, train: str | None = None, val: str | None = None, step: str | None = None,
                  lr: str | None = None, epoch: str | None = None, select: Iterable[str] = (),
                  ignore: Iterable[str] = (), options: dict | None = None) -> tuple[CurveLog, Report]:
    """Read `path` and diagnose it. Raises CurveError (one line: the file and the fix) on bad input."""
    started = time.monotonic()
    select, ignore = check_selectors(select), check_selectors(ignore)
    log = read_log(path, train=train, val=val, step=step, lr=lr, epoch=epoch)
    return log, diagnose_log(log, select, ignore, options, started)
