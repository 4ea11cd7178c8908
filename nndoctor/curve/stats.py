"""Measurement for `nndoctor curve`: a curve measured once, the same way for a log of 200 rows or of ten million,
so that the analysers (`analysers/`) only judge.

- Losses go on a log scale: a loss that halves moves as much at 2.0 as at 0.02, so every threshold is in log-loss
  units and scale-free (0.1 is about 10%). An accuracy becomes an error rate (1 - acc) first (when it is read).
- A grid of at most `GRID` bin medians summarises the curve; a moving median over the grid is the trend.
- Noise is the MAD of second differences (a white-noise sigma that a smooth trend does not inflate), corrected
  when a logger wrote a running average (the noise is then read as AR(1), with fewer independent points); trends
  are rank-based (Mann-Kendall, Theil-Sen).

`measure(log)` gives the `Curves` every analyser reads: the training and validation `Profile`s and the learning-rate
schedule's `LRFacts`. numpy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .log import CurveLog, Series

GRID = 512  # most bins a curve is summarised into (bin medians)
PLOT_WIDTH = 120  # points kept for a terminal plot
SMOOTHED_RHO = 0.5  # lag-1 correlation of the noise from which a log is read as a running average: an average
#                     over 3 points or more (EMA alpha <= 0.3) gives >= 0.7; swings that fill a quarter of white
#                     noise give < 0.5
DEAD_SHARE = 0.5  # share of the rows from the first NaN/Inf on that are non-finite: at or above, the run is dead
CHUNK = 1 << 20  # values a whole-curve step works on at a time: a copy of a 10-million-row curve would be 80 MB


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


def median_rows(blocks: np.ndarray) -> np.ndarray:
    """(k, b) -> (k,) row medians, CHUNK values at a time (np.median copies what it partitions; each row's median
    is the same whichever rows it is computed with)."""
    rows = max(1, CHUNK // max(1, blocks.shape[1]))
    if len(blocks) <= rows:
        return np.median(blocks, axis=1)
    return np.concatenate([np.median(blocks[i:i + rows], axis=1) for i in range(0, len(blocks), rows)])


def bin_medians(x: np.ndarray, b: int) -> np.ndarray:
    """Medians of consecutive bins of `b` points (the last bin may be shorter)."""
    if b <= 1:
        return x.astype(float, copy=True)
    full = len(x) // b
    out = median_rows(x[: full * b].reshape(full, b))  # (full,)
    if len(x) % b:
        out = np.append(out, np.median(x[full * b:]))
    return out


def median_step(steps: np.ndarray) -> float:
    """Median of the differences between consecutive steps (the differences are partitioned in place)."""
    return float(np.median(np.diff(steps), overwrite_input=True))


def bin_means(x: np.ndarray, f: int) -> np.ndarray:
    """Means of consecutive bins of `f` points (a last, shorter bin is dropped)."""
    if f <= 1:
        return x.astype(float, copy=True)
    full = len(x) // f
    return x[: full * f].reshape(full, f).mean(axis=1)  # (full,)


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
    dev = second_differences(x)
    centre = np.median(dev, overwrite_input=True)  # reorders dev: the medians below do not mind
    np.abs(np.subtract(dev, centre, out=dev), out=dev)
    mad = float(np.median(dev, overwrite_input=True))
    if mad == 0.0:  # the mean, unlike a median, is summed in order: the deviations again, in their order
        return 1.2533 * float(np.abs(second_differences(x) - centre).mean()) / math.sqrt(6)
    return 1.4826 * mad / math.sqrt(6)


def second_differences(x: np.ndarray) -> np.ndarray:
    """np.diff(x, 2), CHUNK values at a time (np.diff(x, 2) holds the first differences too)."""
    out = np.empty(max(0, len(x) - 2))
    for i in range(0, len(out), CHUNK):
        j = min(len(out), i + CHUNK)
        out[i:j] = np.diff(x[i:j + 2], 2)
    return out


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
    medians = bin_medians(x, b)[: len(centres)]
    n_pairs, n_same = _sign_pairs(x, centres, medians)
    if n_pairs < 8:
        return white, 0.0
    share = n_same / n_pairs  # consecutive residuals that share a sign
    rho = min(0.99, max(0.0, math.sin(math.pi * (share - 0.5))))
    if rho < SMOOTHED_RHO:  # white noise, perhaps with a few persistent swings (which are what we look for)
        return white, 0.0
    sigma = white * math.sqrt(3.0 / ((1 - rho) * (3 - rho)))
    # and at least the spread about the trend (the lower quartile of |r| is 0.3186 sigma; swings do not move it);
    # in place, reordered: a median and a quantile do not mind the order
    resid = np.concatenate(list(_residuals(x, centres, medians)))
    np.abs(np.subtract(resid, np.median(resid, overwrite_input=True), out=resid), out=resid)
    sigma = max(sigma, float(np.quantile(resid, 0.25, overwrite_input=True)) / 0.3186)
    return sigma, rho


def _residuals(x: np.ndarray, centres: np.ndarray, medians: np.ndarray, start: int = 0) -> Iterator[np.ndarray]:
    """x[start:] minus the line through the block medians (at the block centres), CHUNK values at a time."""
    for i in range(start, len(x), CHUNK):
        j = min(len(x), i + CHUNK)
        yield x[i:j] - np.interp(np.arange(i, j, dtype=float), centres, medians)


def _sign_pairs(x: np.ndarray, centres: np.ndarray, medians: np.ndarray) -> tuple[int, int]:
    """(pairs of consecutive residuals that both have a sign, those of them that share it), a chunk at a time: a
    residual of exactly 0 (quantised logs) has no sign."""
    n_pairs = n_same = 0
    previous = np.zeros(0)
    for r in _residuals(x, centres, medians):
        s = np.sign(np.concatenate((previous, r)))  # with the last residual of the chunk before
        pairs = (s[1:] != 0) & (s[:-1] != 0)
        n_pairs += int(np.count_nonzero(pairs))
        n_same += int(np.count_nonzero(s[1:][pairs] == s[:-1][pairs]))
        previous = r[-1:]
    return n_pairs, n_same


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
    finite = np.isfinite(blocks)
    all_finite = finite.all(axis=1)  # (full,)
    med = median_rows(blocks if all_finite.all() else np.where(finite, blocks, 0.0))
    med[~all_finite] = np.nan
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
        v, s = finite_part(lr)
        if v.size < 2:
            return None
        peak = float(v.max())
        if peak <= 0:
            return cls(peak, float(v[0]), float(v[-1]), None, float(s[0]), 0)
        warm = None
        i_peak = int(np.argmax(v >= 0.9 * peak))
        if v[0] < 0.5 * peak:
            warm = float(s[i_peak])
        last_high = len(v) - 1 - int(np.argmax((v >= 0.5 * peak)[::-1]))  # the peak itself is one
        decay_start = float(s[last_high])
        after = v[i_peak:]
        low = np.minimum.accumulate(after)  # (n - i_peak,) running low
        positive = low > 0
        climbs = (after >= np.multiply(low, 2, out=low)) & positive
        restarts = int(np.count_nonzero(np.diff(climbs.astype(np.int8)) == 1) + (1 if climbs[:1].any() else 0))
        return cls(peak, float(v[0]), float(v[-1]), warm, decay_start, restarts)


def finite_part(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, steps) of the finite rows; the series' own arrays when every row is (no copy of a long curve)."""
    ok = np.isfinite(series.values)
    if ok.all():
        return series.values, series.steps
    return series.values[ok], series.steps[ok]


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

