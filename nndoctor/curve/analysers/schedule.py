"""`curve-schedule` (ND610): a learning rate decayed to near zero while the loss was still falling, after which the
loss stops improving."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ...common.options import Option
from ...report.model import Finding
from ..analyser import Analyser, SIGNIFICANCE, pct, step_text, step_value
from ..stats import Curves, Profile, finite_part


@dataclass
class Gains:
    """The loss's fall just before the lr reached near zero, and over the whole rest of the run after it."""

    i_start: int  # grid index where the window before starts
    i_end: int  # grid index where it ends: the level just before the near-zero step
    fall_before: float  # log-loss fall over that window
    fall_after: float  # log-loss fall from the level at i_end to the end of the log (median of its last 10%)


class Schedule(Analyser):
    """A learning rate decayed to near zero too early (ND610); needs the lr logged.

    What it catches: the lr falls to a small share of its peak with a good part of the run left, the loss was still
    falling clearly just before (over the `window` of the run that ends where the lr reaches near zero), and over
    the whole rest of the run it falls on average at most `flattened` as fast as in that window: progress stopped
    when the steps became tiny. An lr of 0 throughout is reported too.
    A schedule chosen on purpose stays silent: step decay (MultiStepLR at 50% and 75%, StepLR every 30 of 90
    epochs) cuts the lr once the loss has levelled off, so the loss was not falling fast just before; and each cut
    is followed by a step down of the loss (a smaller lr anneals the batch noise), which is a gain of the small lr:
    the fall after is counted from the level just before the lr reached near zero, so that step down is part of it.
    Why it matters: the curve flattens because the steps became tiny, not because the model converged: StepLR with a
    small step_size, an aggressive ExponentialLR gamma, or a cosine T_max in epochs stepped every batch.
    How to fix it: set T_max / total_steps to the number of scheduler.step() calls actually made, lengthen the decay
    or raise gamma, or use ReduceLROnPlateau.
    """

    name = "curve-schedule"
    codes = ("ND610",)
    options = {
        "near_zero": Option(0.01, "lr / its peak at or below this is \"near zero\"", unit="ratio", low=0, high=1),
        "min_left": Option(0.25, "fraction of the run left when the lr is near zero: \"long before the end\"",
                           unit="fraction of the run", low=0, high=1),
        "still_falling": Option(0.05, "fall over `window` before the lr is near zero that means the loss had not "
                                "settled (~5%)", unit="log-loss", low=0),
        "window": Option(0.1, "fraction of the run before the lr is near zero where the fall is measured",
                         unit="fraction of the run", low=0, high=1),
        "flattened": Option(0.25, "the loss's mean fall rate over the rest of the run / its rate over `window` "
                            "before the lr is near zero: at most this", unit="ratio", low=0),
    }

    def skip_reason(self, c: Curves) -> str | None:
        if c.lr is None:
            return "no learning-rate column in the log (--lr names one)"
        return super().skip_reason(c)

    def run(self, c: Curves) -> Iterator[Finding]:
        p, lr, o = c.train, c.log.lr, self.opts
        vals, steps = finite_part(lr)
        self.plot_curve(f"learning rate ({lr.name}), {len(lr)} rows", lr.values)
        if c.lr.peak <= 0:
            yield self.finding("ND610", f"the learning rate ({lr.name}) is {c.lr.peak:g} throughout the log",
                               {"peak_lr": c.lr.peak}, "Set a positive learning rate: check the optimizer's lr and "
                               "that the scheduler does not start at 0 with nothing to raise it.",
                               severity="error", where="whole log", confidence=1.0)
            return
        # measure: when the lr is near zero for good, how much run is left, the loss's gains before and after
        later_max = np.maximum.accumulate(vals[::-1])[::-1]  # (n,) largest lr from here to the end
        low = later_max <= o["near_zero"] * c.lr.peak * (1 + 1e-6)  # 0.1 * 0.1 is 1% of the peak, as written
        if not low.any():
            return
        zero_step = float(steps[int(np.argmax(low))])
        left = (float(p.grid_steps[-1]) - zero_step) / max(p.span, 1e-12)
        g = self.gains(p, zero_step)
        needed = SIGNIFICANCE * math.sqrt(2) * p.sigma_trend
        # judge: near zero early, the loss still falling just before, and falling far slower over all the rest
        rate_before = g.fall_before / max(float(p.grid_steps[g.i_end] - p.grid_steps[g.i_start]), 1e-12)
        rate_after = g.fall_after / max(float(p.grid_steps[-1] - p.grid_steps[g.i_end]), 1e-12)
        if (left >= o["min_left"] and g.fall_before >= max(o["still_falling"], needed)
                and rate_after <= o["flattened"] * rate_before):
            yield self.finding(
                "ND610",
                f"the learning rate ({lr.name}) is below {o['near_zero']:.0%} of its peak from step "
                f"{step_text(zero_step)} with {left:.0%} of the run left: the loss fell {pct(-g.fall_before)} in the "
                f"{o['window']:.0%} of the run before and only {pct(-max(0.0, g.fall_after))} in all the rest",
                {"near_zero_step": step_value(zero_step), "peak_lr": c.lr.peak, "run_left": round(left, 3),
                 "decay_starts_step": step_value(min(max(c.lr.decay_start_step, p.grid_steps[0]), p.grid_steps[-1])),
                 "fall_before": pct(-g.fall_before), "fall_measured_from_step": step_value(p.grid_steps[g.i_start]),
                 "fall_after": pct(-max(0.0, g.fall_after)),
                 "rate_after_vs_before": round(rate_after / rate_before, 3)},
                where=f"from step {step_text(zero_step)}", confidence=self.margin(left, o["min_left"]))

    def gains(self, p: Profile, zero_step: float) -> Gains:
        """The fall over `window` before the near-zero step, and from there to the end of the log.

        Both are read off trend points whose window ends before the near-zero step: a moving median centred on it
        would already hold the step down that the cut itself causes, which is a gain of the small lr. When there is
        no room before it, the fall from the start of the log to the near-zero step counts."""
        i_end = p.index_at_step(zero_step) - p.window // 2 - 1
        i_start = max(0, i_end - max(2, int(self.opts["window"] * p.G)))
        if i_end - i_start < 2:
            i_start, i_end = 0, max(2, p.index_at_step(zero_step))
        end, _ = p.window_median(0.9, 1.0)
        return Gains(i_start, i_end, float(p.trend[i_start] - p.trend[i_end]), float(p.trend[i_end]) - end)
