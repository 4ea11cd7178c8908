"""`curve-generalisation` (ND607, ND608): overfitting, and a validation curve too noisy to trust."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ...common.options import Option
from ...report.model import Finding
from ..analyser import Analyser, SIGNIFICANCE, pct, step_text, step_value
from ..stats import Curves, Profile, moving_median


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
        "min_val_rise": Option(0.05, "validation end above its minimum: a material rise (~5%)", unit="log-loss",
                               low=0),
        "min_after": Option(3, "validation grid points after the minimum: the rise must persist", unit="points",
                            low=0),
        "noise_ratio": Option(3.0, "validation noise / training noise per logged point (3: 9x fewer samples)",
                              unit="ratio", low=0),
        "min_val_noise": Option(0.02, "validation noise per evaluation below this is precise enough anyway (~2%)",
                                unit="log-loss", low=0),
        "min_val_points": Option(5, "finite validation points needed for ND607 (8 for the noise estimate of ND608)",
                                 unit="points", low=1),
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
                where=f"from step {step_text(open_step)}", confidence=self.margin(rise, o["min_val_rise"]))

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
                where="validation", confidence=self.margin(ratio, o["noise_ratio"]))

