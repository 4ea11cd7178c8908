"""`curve-late-start` (ND604): a long plateau at the start, then a sudden drop."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ...common.options import Option
from ...report.model import Finding
from ..analyser import Analyser, SIGNIFICANCE, pct, step_text, step_value
from ..stats import Curves


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
        "plateau": Option(0.2, "fraction of the run (after the warm-up) the loss stays at its start level: \"long\"",
                          unit="fraction of the run", low=0, high=1),
        "min_drop": Option(0.2, "the fall after the plateau must be at least this (~18%)", unit="log-loss", low=0),
        "started": Option(0.1, "fraction of the total fall that marks the end of the plateau",
                          unit="fraction of the fall", low=0, high=1),
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
                confidence=self.margin(plateau, o["plateau"]))

