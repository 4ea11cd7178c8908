"""`curve-trend` (ND601, ND603, ND609): a training loss that stays flat, rises, or is still falling at the end."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ...common.options import Option
from ...report.model import Finding
from ..analyser import Analyser, SIGNIFICANCE, pct, step_text, step_value
from ..stats import Curves, mann_kendall_z, theil_sen


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
        "flat_drop": Option(0.05, "a loss whose trend never falls this far below its start is flat (~5%)",
                            unit="log-loss", low=0),
        "min_rise": Option(0.2, "smallest rise of the end above the best that counts as divergence (~22%)",
                           unit="log-loss", low=0),
        "error_rise": Option(math.log(2.0), "the end this far above the best (twice the best) or more is an error, "
                             "less a warning", unit="log-loss", low=0),
        "tail": Option(0.2, "fraction of the run that is \"the end\" for ND609", unit="fraction of the run",
                       low=0, high=1),
        "tail_drop": Option(0.05, "fall over the tail that counts as still improving (~5%)", unit="log-loss", low=0),
        "annealed": Option(0.1, "logged lr at the end / its peak at or below this: the schedule has run its course, "
                           "and a fall at the end is its annealing, not a run stopped early (no ND609)",
                           unit="ratio", low=0, high=1),
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
                where=f"from step {step_text(p.grid_steps[i_best])}", confidence=self.margin(rise, o["min_rise"]))
            return
        if not learning:
            yield self.finding(
                "ND601",
                f"the {what} stays flat: its trend never falls more than {pct(-max(drop, 0.0))} below the start "
                f"({p.value(start):.4g}) over {len(p.series)} rows",
                {"largest_drop": pct(-max(drop, 0.0)), "drop_needed": pct(-o["flat_drop"]), **evidence},
                severity="error", where="the whole log",
                confidence=self.margin(max(drop, 0.0), o["flat_drop"], below=True))
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
                severity="info", where="end of the log", confidence=self.margin(tail_drop, o["tail_drop"]))

