"""`curve-finite` (ND602): NaN or Inf in the logged loss, and the step where it begins."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ...common.options import Option
from ...report.model import Finding
from ..analyser import Analyser, step_text, step_value
from ..stats import DEAD_SHARE, Curves


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
        "dead_share": Option(DEAD_SHARE, "share of the rows from the first NaN/Inf on that are non-finite: at or "
                             "above, the run did not recover (error); below, isolated values it survived (warning)",
                             unit="share of rows", low=0, high=1),
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
                               where=f"{role} step {step_text(s.steps[k])}", confidence=1.0)

