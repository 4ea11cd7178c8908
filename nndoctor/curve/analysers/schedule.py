"""`curve-schedule` (ND610): a learning rate decayed to near zero long before the loss settled."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ...common.options import Option
from ...report.model import Finding
from ..analyser import Analyser, SIGNIFICANCE, pct, step_text, step_value
from ..stats import Curves, finite_part


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
        "near_zero": Option(0.01, "lr / its peak at or below this is \"near zero\"", unit="ratio", low=0, high=1),
        "min_left": Option(0.25, "fraction of the run left when the lr is near zero: \"long before the end\"",
                           unit="fraction of the run", low=0, high=1),
        "still_falling": Option(0.05, "fall over `window` before the decay began that means the loss had not "
                                "settled (~5%)", unit="log-loss", low=0),
        "window": Option(0.1, "fraction of the run before the decay begins where the fall is measured",
                         unit="fraction of the run", low=0, high=1),
        "flattened": Option(0.25, "loss fall rate after the lr is near zero / rate before: at most this",
                            unit="ratio", low=0),
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
        # measure: when the lr is near zero for good, how much run is left, the loss fall before and after
        later_max = np.maximum.accumulate(vals[::-1])[::-1]  # (n,) largest lr from here to the end
        low = later_max <= o["near_zero"] * c.lr.peak
        if not low.any():
            return
        zero_step = float(steps[int(np.argmax(low))])
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
                where=f"from step {step_text(zero_step)}", confidence=self.margin(left, o["min_left"]))
