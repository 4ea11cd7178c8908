"""`curve-periodicity` (ND606): a pattern in the loss that repeats every epoch."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ...common.options import Option
from ...report.model import Finding
from ..analyser import Analyser, SIGNIFICANCE
from ..stats import CHUNK, Curves, autocorrelation, bin_means, median_step, moving_mean_residual


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
        "min_correlation": Option(0.3, "autocorrelation needed at one and at two periods: the pattern explains at "
                                  "least this share of the detrended variance (white noise gives about 1/sqrt(N))",
                                  unit="correlation", low=0, high=1),
        "min_periods": Option(4, "whole periods needed in the analysed part of the log", unit="periods", low=2),
        "burn_in": Option(0.1, "fraction of the run skipped first (the initial fall dominates there)",
                          unit="fraction of the run", low=0, high=0.9),
        "resolution": Option(16, "points per period the pattern is looked at (bin means average the batch noise "
                             "out)", unit="points", low=1),
        "search_points": Option(4096, "without an epoch column, the period is searched on at most this many bin "
                                "means", unit="points", low=1),
        "lr_correlation": Option(0.5, "the logged lr correlated this much at the same lag: the schedule's pattern, "
                                 "not the data's", unit="correlation", low=0, high=1),
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
            confidence=self.margin(m["correlation_1"], o["min_correlation"], "z", 1 / math.sqrt(m["points"])))

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
        x = bin_means(p.z, f)[burn:]  # (N,) bin means of f rows, after the burn-in
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
        per_step = median_step(p.steps) if p.n_finite > 1 else 1.0
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
        every = ok.all()
        log_lr = np.log(lr.values if every else lr.values[ok])
        x = _interpolated_bin_means(c.train.steps, lr.steps if every else lr.steps[ok], log_lr, f)[burn:]
        resid = moving_mean_residual(x, lag)
        if len(resid) <= 2 * lag or np.ptp(x) <= 1e-9 * max(1.0, float(np.abs(x).max())):
            return 0.0  # a constant lr (rounding noise would fake a pattern)
        return float(autocorrelation(resid, lag)[lag])


def _interpolated_bin_means(at: np.ndarray, xp: np.ndarray, fp: np.ndarray, f: int) -> np.ndarray:
    """bin_means(np.interp(at, xp, fp), f), a whole number of bins at a time (the log lr on the loss rows, without
    a copy of the whole curve)."""
    step = max(1, f) * max(1, CHUNK // max(1, f))
    end = len(at) if f <= 1 else len(at) // f * f  # bin_means drops a last, shorter bin
    parts = [bin_means(np.interp(at[i:min(end, i + step)], xp, fp), f) for i in range(0, end, step)]
    return np.concatenate(parts) if parts else np.zeros(0)
