"""`curve-oscillation` (ND605): swings of the loss that a converging run does not make."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ...common.options import Option
from ...report.model import Finding
from ..analyser import Analyser
from ..stats import Curves, bin_medians, count_swings, effective, median_step, moving_median, noise_model


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
        "min_swing": Option(0.2, "a smaller climb above the last low is not a swing (~22%)", unit="log-loss", low=0),
        "min_swings": Option(3, "complete swings needed; one or two bumps are a warm-up peak or a restart",
                             unit="swings", low=1),
        "finest": Option(8192, "most points at the finest timescale (bins grow to keep within this)",
                         unit="points", low=1),
        "coarsest": Option(30, "fewest points at the coarsest timescale", unit="points", low=5),
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
                per_step = median_step(steps) if len(steps) > 1 else 1.0
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
                best, where="whole log", confidence=self.margin(best["swings"], o["min_swings"]))

