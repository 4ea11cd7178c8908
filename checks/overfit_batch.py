"""Overfit one small batch (37 reasons #27; Recipe "overfit one batch").

What it catches: a copy of the model trained on one small batch (the first `batch_size` samples of the first
batch) with the user's optimizer and learning rate (and the user's own `train_step` when the config names one),
for at most `steps` steps, stopping as soon as the loss is near its floor. The floor is the user's own loss on
ideal outputs (`nndoctor.probes.loss_floor`): zero for hard labels, the entropy of the smoothed target under label
smoothing, zero for regression targets. The target is reached when loss - floor <= fraction * (initial - floor).
- ND501 cannot-overfit-batch: the target is not reached and the loss curve levels off above it (the level is
  extrapolated from the last three blocks of the curve), and the same batch trained by a reference optimizer
  (Adam at `reference_lr`, no weight decay) levels off above it too, so slowly that even at its last pace it
  would need `stall_pace` times the steps it had: the model and the loss cannot fit it. When the reference fits
  the batch, the user's learning rate or weight decay is what holds training back: a note, or a warning when the
  loss barely moves, that is when at its final pace (the slope of the last half of the curve, made faster by
  `pace_z` standard errors) the user's optimizer would need `slow_factor` (10) times both the budget and the
  steps the reference needed: an order of magnitude, the granularity of a learning-rate search. A loss still
  falling toward the floor at a pace that reaches it within that bound is not a finding.
- ND502 loss-diverges: the loss climbs well above where it started (its gap to the floor, smoothed by a median
  over a window of steps, reaches `rise_factor` times the initial gap), the mark of a learning rate too high; or
  training lowers the loss clearly (by more than `fraction` of its start) while the predictions of `away_share`
  of the samples move away from their targets (the probability of their label falls; for other targets, only
  when perfect outputs have a higher loss than the random initial ones) and the batch as a whole does too (the
  mean log-probability of the labels falls, the mean error rises: a proper loss that falls raises it even when
  a constant output, moving toward the batch's class prior, takes probability from most labels), the mark of a
  sign error (gradient ascent: a loss wrapper that returns -loss, a hand-written cross-entropy without its minus
  sign); or the loss falls without bound: past the target a copy trains on (a window of steps, and up to
  `steps` more while below the floor) and its smoothed loss ends `rise_factor` times the initial gap below the
  floor (below zero without one): a VAE's KL term with its sign flipped, NLL on raw scores.
- ND503 non-finite-loss: the loss becomes NaN or Inf; the step is named.

Why it matters: any model with a reasonable capacity memorises a handful of samples in a few hundred steps. If it
cannot, something between the data and the update is broken (loss wiring, a bounded output layer, gradient flow,
the optimizer), and training on the whole dataset only hides it behind noise. A loss over a structure (a VAE's
(recon, mu, logvar)) has a partial floor, that of its reconstruction alone: the other terms trade against it, so
ND501 is not judged against it; the unbounded fall is.

How to fix it: read the other findings first (they often explain this one). Then train on this batch by hand with
regularisation off, print the loss every step, and remove what limits the output: an activation on the logits
(tanh, sigmoid, clamp), a bottleneck, a detached branch. A rising loss wants a learning rate 3-10x lower; a loss
that falls while the predictions get worse wants the sign of the loss checked.

Healthy and silent: label smoothing (the floor is higher), dropout and BatchNorm (the batch holds at least two
samples), a warm-up from zero (the copy ramps up to the schedule's base rate, `nndoctor.probes.lr_warmup`).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch

from nndoctor import Check, Option
from nndoctor.probes.batches import Batch
from nndoctor.probes.layout import take_samples
from nndoctor.probes.loss_floor import Closeness, Floor, closeness, context_groups, loss_floor
from nndoctor.probes.losses import aligned, ignored_target, is_model_loss
from nndoctor.probes.lr_warmup import Ramp
from nndoctor.probes.sequences import predicts_next_step

# `slow_factor`, a crawl: at its final pace the user's optimizer needs this many times the budget (and the
# reference's steps) to reach the target. One order of magnitude: the granularity of a learning-rate search, which
# moves by decades; within a few budgets a setting is slow but workable.
# `pace_z`: standard errors added to the measured pace before it is extrapolated, so that noise only makes the run
# look faster (a one-sided bound at about 2.5% for Gaussian residuals).


@dataclass
class Fit:
    """What the measurement left for the judgements: the batch, the copy after training, the curve, the floor."""

    batch: Batch
    model: torch.nn.Module
    loss_fn: object
    initial: float  # the loss before the first step
    floor: Floor | None  # the lowest loss the batch allows (None: unknown)
    kind: str  # what the floor's ideal outputs are: logits, probabilities, targets...
    close0: Closeness | None  # how close the initial outputs are to the targets, per sample
    gap0: float  # initial - floor
    target: float | None  # the loss to reach: floor + fraction * gap0
    user: bool  # the updates are the user's own train_step
    losses: list[float]  # per step
    reached: bool
    evidence: dict
    end: float = math.nan  # the median loss over the last window of steps
    settled: bool = False  # fitted, or no floor below the start: nothing more to judge after gradient ascent


class OverfitOneBatch(Check):
    """Train a copy on one small batch: the loss must reach its floor (ND501), not rise (ND502) nor turn NaN (ND503)."""

    name = "overfit-one-batch"
    codes = ("ND501", "ND502", "ND503")
    cost = "high"
    needs_backward = True  # trains a copy on the loss
    options = {
        "batch_size": Option(8, "samples in the batch (the Recipe and 37 reasons say 2-20)", unit="samples", low=2),
        "steps": Option(150, "training steps at most; the run stops as soon as the target is reached", unit="steps",
                        low=1),
        "fraction": Option(0.1, "target: loss - floor <= fraction * (initial loss - floor), 90% of the way down",
                           unit="share", low=0, high=1),
        "rise_factor": Option(2.0, "diverges: final gap to the floor above this many times the initial gap",
                              unit="ratio", low=1),
        "window": Option(0.1, "share of the steps in each median that smooths the curve (at least 3 steps)",
                         unit="share", low=0, high=1),
        "warmup_steps": Option(10, "steps of the ramp to the base lr when the user's scheduler starts from lr 0",
                               unit="steps", low=0),
        "reference_lr": Option(3e-3, "when the curve levels off: the same batch with Adam at this lr, no weight decay",
                               unit="lr", low=1e-12),
        "away_share": Option(0.75, "gradient ascent: share of samples whose prediction moves away from its target",
                             unit="share", low=0, high=1),
        "stall_pace": Option(3.0, "a stall: at its last pace the reference needs more than this many times its steps",
                             unit="ratio", low=0),
        "slow_factor": Option(10.0, "a crawl: at its final pace the user's optimizer needs this many times the budget "
                              "and the reference's steps (a decade, the step of a learning-rate search)",
                              unit="ratio", low=1),
        "pace_z": Option(2.0, "standard errors added to the final pace before it is extrapolated (noise only makes "
                         "the run look faster)", unit="standard errors", low=0),
    }
    quick_options = {"steps": 40, "warmup_steps": 4}

    def run(self, ctx):
        fit = self._measure(ctx)
        if fit is None:
            return
        for judge in (self._non_finite, self._unbounded, self._gradient_ascent, self._rising, self._not_reached):
            found = list(judge(ctx, fit))
            yield from found
            if found or fit.settled:
                return

    # -- measure: the floor, the starting point, then one batch trained until it is near the floor -------------
    def _measure(self, ctx) -> Fit | None:
        o = self.opts
        # the first n samples, cut along the batch axis (dim 1 of time-major windows; one unbatched sequence whole)
        batch = take_samples(ctx.batches(1)[0], max(2, int(o["batch_size"])), ctx.layout())
        model = ctx.new_model(train=True)
        if not any(p.requires_grad for p in model.parameters()):
            return None  # nothing trains: gradient-flow reports the frozen parameters (ND402)
        loss_fn = ctx.new_loss()
        with torch.no_grad():
            outputs0, loss0 = ctx.forward_loss(model, batch, loss_fn)
        if loss0.dim() != 0:
            return None  # a loss that is not a scalar cannot be trained on: forward-probe reports it (ND308)
        initial = float(loss0.detach().float())
        rescore = ctx.rescoring_loss()  # a model's own loss cannot score ideal outputs: its stand-in, if any
        # the stand-in of a model loss takes aligned outputs and targets; a function loss shifts them itself
        shift = ctx.target_shift if is_model_loss(ctx.subject.loss) else 0
        causal = predicts_next_step(batch.inputs, batch.targets, ignored_target(ctx.subject.loss))
        groups = context_groups(batch.inputs, batch.targets, causal) if shift == 0 else None
        floor = loss_floor(rescore, *aligned(outputs0, batch.targets, shift), ctx.task, ctx.subject.loss,
                           groups) if rescore else None
        kind = floor.kind if floor else "logits"
        close0 = closeness(*aligned(outputs0, batch.targets, ctx.target_shift), ctx.task, ctx.subject.loss, kind)
        gap0 = initial - floor.value if floor else math.nan
        target = floor.value + o["fraction"] * gap0 if floor and gap0 > 1e-6 * (1 + abs(initial)) else None

        optimizer = ctx.new_optimizer(model)
        ramp = Ramp(optimizer, o["warmup_steps"])  # the user's warm-up from lr 0, replayed as a short ramp
        user = ctx.subject.train_step is not None  # the user's own step makes the updates when the config has one
        losses = self._fit(ctx, model, optimizer, batch, loss_fn, target, ramp, floor.value if floor else None, user)
        reached = target is not None and math.isfinite(losses[-1]) and losses[-1] <= target
        ev = {"samples": batch.size, "steps": len(losses), "initial_loss": initial, "user_train_step": user,
              "floor": floor.value if floor else None, "floor_outputs": kind if floor else None,
              "final_loss": losses[-1], "best_loss": min((v for v in losses if math.isfinite(v)), default=math.nan)}
        title = f"overfit one batch ({batch.size} samples): " + (
            f"target reached at step {len(losses) - 1}" if reached else f"target not reached in {len(losses)} steps")
        self.plot_curve(title, losses, target=target)
        if ramp.groups:
            ev["warmup_ramp_steps"] = o["warmup_steps"]
        return Fit(batch=batch, model=model, loss_fn=loss_fn, initial=initial, floor=floor, kind=kind, close0=close0,
                   gap0=gap0, target=target, user=user, losses=losses, reached=reached, evidence=ev)

    # -- judge: NaN or Inf ------------------------------------------------------------------------------------------
    def _non_finite(self, ctx, fit: Fit):
        losses = fit.losses
        if math.isfinite(losses[-1]):
            return
        step = len(losses) - 1
        finite = [v for v in losses if math.isfinite(v)]
        when = "on the batch before any step" if step == 0 else f"at step {step}"
        yield self.finding(
            "ND503", f"the loss becomes {losses[-1]} {when} while training on one batch",
            {**fit.evidence, "step": step, "last_finite_loss": finite[-1] if finite else None}, where="loss",
            fix="Look for the first module whose output is NaN/Inf (ND306) or a gradient (ND406); lower the "
            "learning rate and clip gradients if the loss was rising before; add epsilons to log/sqrt/division.")

    # -- judge: the loss falls without bound, far below the lowest loss ideal outputs reach ---------------------------
    def _unbounded(self, ctx, fit: Fit):
        """ND502 when the loss, having passed below its floor (zero without one), keeps falling: its smoothed value
        ends `rise_factor` times the initial gap below the floor. A proper loss cannot pass the loss of ideal outputs
        by more than the slack of the floor (an upper bound on the minimum); one that falls without bound rewards
        something other than the targets (a KL term with its sign flipped, NLL on raw scores). The run stops at
        the target, so once there a copy trains on: for one window of steps (`window`), and for up to `steps` more
        while the loss is below its floor."""
        o, losses, initial = self.opts, fit.losses, fit.initial
        base = fit.floor.value if fit.floor else 0.0  # without a floor, a positive loss is judged against zero
        gap0 = initial - base
        if not (gap0 > 0 and math.isfinite(losses[-1]) and (fit.reached or losses[-1] < base)):
            return  # a run that spent its budget above the floor is judged by the others
        w = self._window()
        limit = base - o["rise_factor"] * gap0

        def conclusive(ls: list[float]) -> bool:
            """Far below the floor (unbounded), or a window of steps past the target without passing the floor."""
            return len(ls) >= w and (statistics.median(ls[-w:]) < limit or min(ls) >= base)

        if len(losses) < w or statistics.median(losses[-w:]) > limit:
            losses = losses + self._train_on(ctx, fit, conclusive)
        finite = [v for v in losses if math.isfinite(v)]
        end = statistics.median(finite[-w:]) if len(finite) >= w else math.nan
        if not (end < limit or (finite and not math.isfinite(losses[-1]) and finite[-1] < base)):
            return  # it levels off: a floor that was only an upper bound on the minimum
        ev = {**fit.evidence, "steps": len(losses), "smoothed_final_loss": end, "floor": fit.floor.value if
              fit.floor else None, "below_floor_by_initial_gaps": (base - end) / gap0 if math.isfinite(end) else "inf"}
        self.plot_curve(f"one batch trained on past its floor {base:.4g}", losses)
        what = f"the floor {base:.4g} (the loss of ideal outputs)" if fit.floor else "zero"
        yield self.finding(
            "ND502", f"the loss falls without bound on one batch: from {initial:.4g} to "
            f"{end if math.isfinite(end) else finite[-1]:.4g} in {len(losses)} steps, far below {what}: minimising "
            "it rewards something other than the targets", ev, where="loss", confidence=1.0,
            fix="Check the sign of every term of the loss (a VAE's KL term is -0.5 * sum(1 + logvar - mu^2 - "
            "exp(logvar)), with its minus sign) and that NLL gets log-probabilities (log_softmax), not raw scores.")

    def _train_on(self, ctx, fit: Fit, stop) -> list[float]:
        """The losses of up to `steps` more steps on the batch, training a copy of the fitted model (the judges
        after this one read `fit.model` as it is), through the user's step when the fit used it."""
        model = ctx.copy_model(fit.model)
        return ctx.train(model, ctx.new_optimizer(model), [fit.batch], self.opts["steps"], stop=stop,
                         loss_fn=fit.loss_fn, user=fit.user)

    # -- judge: the loss falls while the predictions move away from the targets (gradient ascent) -----------------
    def _gradient_ascent(self, ctx, fit: Fit):
        o, floor, initial, close0 = self.opts, fit.floor, fit.initial, fit.close0
        w = self._window()
        end = statistics.median(fit.losses[-w:])
        fit.evidence["smoothed_final_loss"] = end
        fit.end = end
        above_floor = bool(floor and floor.value > initial + 1e-3 * (1 + abs(initial)))  # random beats perfect
        # A probability of the label is a fair judge for any loss (a proper loss raises it as it falls); a squared
        # error is not (soft targets compared with logits), so it is consulted only when perfect outputs lose.
        fell = initial - end > o["fraction"] * abs(initial)  # clearly, not by dropout noise at a slow learning rate
        fit.settled = fit.reached or above_floor  # fitted; or no floor below the initial loss: nothing more to judge
        if close0 is None or not fell or not (above_floor or close0.better == "higher"):
            return
        with torch.no_grad():
            outputs1 = ctx.forward(fit.model, fit.batch.inputs, fit.batch.targets)
        outputs1, targets1 = aligned(outputs1, fit.batch.targets, ctx.target_shift)  # a loss that shifts: t vs t+1
        close1 = closeness(outputs1, targets1, ctx.task, ctx.subject.loss, fit.kind)
        away = self._away(close0, close1) if close1 is not None else 0.0
        if away < o["away_share"] or not self._worse_on_average(close0, close1):
            return
        m = close0.metric
        before, after = float(close0.values.mean()), float(close1.values.mean())
        why = (f"the loss is higher for perfect outputs ({floor.value:.4g}) than for random ones, so "
               "minimising it is gradient ascent" if above_floor else
               "what the loss rewards is not the target: a sign error (gradient ascent)")
        yield self.finding(
            "ND502", f"training lowers the loss ({initial:.4g} to {end:.4g}) while the predictions of "
            f"{away:.0%} of the samples move away from their targets (mean {m} {before:.3g} to {after:.3g}): " + why,
            {**fit.evidence, "metric": m, "metric_before": before, "metric_after": after, "samples_away": away},
            where="loss", confidence=1.0,
            fix="Check the sign of the loss: a hand-written cross-entropy is -(target * log_softmax).sum(-1)."
            "mean(), with its minus sign; a wrapper must return the loss, not -loss.")

    # -- judge: the loss rises ----------------------------------------------------------------------------------------
    def _rising(self, ctx, fit: Fit):
        losses, initial, ev = fit.losses, fit.initial, fit.evidence
        w = self._window()
        base = fit.floor.value if fit.floor else 0.0  # without a floor, a positive loss is judged against zero
        rolling = [statistics.median(losses[i:i + w]) for i in range(len(losses) - w + 1)]  # (steps - w + 1,)
        peak_at = max(range(len(rolling)), key=rolling.__getitem__) if rolling else 0
        peak = rolling[peak_at] if rolling else initial
        rise = (peak - base) / (initial - base) if initial - base > 0 else math.nan
        if not (len(losses) > w and rise > self.opts["rise_factor"]):
            return
        ev.update({"peak_loss": peak, "peak_step": peak_at + w // 2, "rise": rise})
        yield self.finding(
            "ND502", f"the loss rises from {initial:.4g} to {peak:.4g} (median over {w} steps, around step "
            f"{peak_at + w // 2}) on one batch and ends at {fit.end:.4g}: its gap to the floor {base:.3g} grows "
            f"{rise:.3g}x", ev, where="optimizer", confidence=self.margin(rise, self.opts["rise_factor"]),
            fix="Lower the learning rate 3-10x (with a warm-up for Adam), clip gradients, and re-run; if it "
            "still rises at a tiny learning rate, check the sign of the loss and of any hand-written update.")

    # -- judge: the target is not reached -----------------------------------------------------------------------------
    def _not_reached(self, ctx, fit: Fit):
        o, losses, ev, target = self.opts, fit.losses, fit.evidence, fit.target
        if target is None or fit.floor.partial:
            return  # no floor; or one of the primary output alone, which a loss over the parts may rest above
        level = self._level(losses, o["window"])
        needed = self._steps_needed(losses, target, o["pace_z"])
        ev.update({"target": target, "gap_closed": (fit.initial - ev["best_loss"]) / fit.gap0,
                   "levels_off_at": level if math.isfinite(level) else "still falling",
                   "steps_to_target_at_final_pace": needed if math.isfinite(needed) else "never"})
        crawling = needed >= o["slow_factor"] * len(losses)
        if level <= target and not crawling:
            return  # still heading below the target at a useful pace: more steps would get there
        # The curve levels off above the target, or heads for it at a crawl. Is it the model and loss, or the
        # optimizer's settings? The same batch, trained by a reference optimizer without regularisation, tells.
        ref_losses = self._reference(ctx, fit)
        ref_level = self._level(ref_losses, o["window"])
        ev["reference_levels_off_at"] = ref_level if math.isfinite(ref_level) else "still falling"
        if math.isfinite(ref_losses[-1]) and ref_losses[-1] <= target:
            yield from self._held_back(fit, ref_losses, needed)
            return
        if level <= target:
            return  # heading for the target, slowly, and the reference does not fit it either: no conclusion
        yield from self._stalled(fit, ref_losses, level, ref_level)

    def _reference(self, ctx, fit: Fit) -> list[float]:
        """The same batch trained by Adam at `reference_lr`, no weight decay, from the same initial weights."""
        o = self.opts
        ref = ctx.new_model(train=True)
        ref_losses = self._fit(ctx, ref, torch.optim.Adam([p for p in ref.parameters() if p.requires_grad],
                                                          lr=o["reference_lr"]), fit.batch, fit.loss_fn, fit.target)
        fit.evidence.update({"reference": f"Adam(lr={o['reference_lr']:g})", "reference_steps": len(ref_losses),
                             "reference_final_loss": ref_losses[-1]})
        self.plot_curve(f"the same batch with Adam(lr={o['reference_lr']:g}), no weight decay", ref_losses,
                        target=fit.target)
        return ref_losses

    def _stalled(self, fit: Fit, ref_losses: list[float], level: float, ref_level: float):
        """ND501 (error) when the reference levels off above the target too: the model and loss cannot fit it."""
        o, losses, ev, target, floor = self.opts, fit.losses, fit.evidence, fit.target, fit.floor
        ref_pace = self._pace(ref_losses, target, o["window"])
        ev["reference_steps_left_at_pace"] = ref_pace if math.isfinite(ref_pace) else "never"
        if not math.isfinite(ref_level) or ref_level <= target or ref_pace <= o["stall_pace"] * len(ref_losses):
            return  # the reference is still heading for the target, still moving fast, or diverged: no conclusion
        yield self.finding(
            "ND501", f"the loss on one batch of {fit.batch.size} samples levels off: {losses[-1]:.4g} after "
            f"{len(losses)} steps, heading for {level:.4g} (start {fit.initial:.4g}, floor {floor.value:.3g}, target "
            f"{target:.3g}); {ref_losses[-1]:.4g} and heading for {ref_level:.4g} with Adam(lr={o['reference_lr']:g})",
            ev, confidence=self.margin((ref_level - floor.value) / fit.gap0, o["fraction"]),
            fix="Read the other findings first. Then look for what bounds the output (tanh, sigmoid or clamp on the "
            "logits, a bottleneck layer) or a branch that gets no gradient: train this batch by hand, print the loss "
            "and the output range per step.")

    def _held_back(self, fit: Fit, ref_losses: list[float], needed: float):
        """The reference optimizer fits the batch: the user's optimizer (or step) is what holds training back.

        How much it holds back decides the severity. At its final pace the user's optimizer needs `needed` steps
        (an optimistic bound, `_steps_needed`). When that is an order of magnitude beyond both the budget and the
        steps the reference needed, the setting is off by at least the granularity of a learning-rate search
        (decades): a warning. Within a few budgets it is a slow but workable setting: a note.
        """
        o, losses, ev, initial = self.opts, fit.losses, fit.evidence, fit.initial
        ref_steps = max(1, len(ref_losses) - 1)  # updates the reference made before it reached the target
        bounced = max(losses[1:]) > initial  # the loss went above its start: steps overshoot
        ev["loss_above_start"] = bounced
        who = "the user's train_step" if fit.user else "the user's optimizer"
        where = "train_step" if fit.user else "optimizer"
        if max(losses) == min(losses):  # not a slow learning rate: nothing moves at all
            yield self.finding(
                "ND501", f"the loss on one batch never changes in {len(losses)} steps of {who} ({initial:.4g}), "
                f"while Adam(lr={o['reference_lr']:g}) fits it in {ref_steps}: no weight is updated",
                ev, where=where,
                fix="Check that optimizer.step() runs after loss.backward() (and zero_grad() before backward, "
                "not between), on an optimizer built over this model, with a learning rate above 0.")
            return
        if not bounced and needed >= o["slow_factor"] * max(len(losses), ref_steps):
            pace = f"about {needed:.3g} steps" if math.isfinite(needed) else "no end in sight"
            yield self.finding(
                "ND501", f"the loss on one batch barely moves: {initial:.4g} to {fit.end:.4g} in {len(losses)} "
                f"steps of {who} ({100 * ev['gap_closed']:.2g}% of its gap to the floor); at its final pace it needs "
                f"{pace} to reach the target {fit.target:.3g}, while Adam(lr={o['reference_lr']:g}) needed "
                f"{ref_steps}", {**ev, "slow_factor": o["slow_factor"]}, severity="warning", where=where,
                confidence=self.margin(needed, o["slow_factor"] * max(len(losses), ref_steps))
                if math.isfinite(needed) else 1.0,
                fix="The learning rate is far too low for this optimizer (or the weight decay far too strong, or a "
                "scheduler has decayed it to almost 0): raise it by decades (an LR range test finds the edge of "
                "divergence; Adam usually trains at 1e-4 to 3e-3) and compare the loss curves.")
            return
        yield self.finding(
            "ND501", f"{who} does not fit one batch of {fit.batch.size} samples in {len(losses)} steps (loss "
            f"{initial:.4g} to {fit.end:.4g}, target {fit.target:.3g}), while Adam(lr={o['reference_lr']:g}) fits "
            f"it in {ref_steps}: the {'step' if fit.user else 'optimizer'}'s settings hold training back",
            ev, severity="info", where="optimizer",
            fix=("The loss bounces above its start: lower the learning rate 3-10x (or add a warm-up)."
                 if bounced else "Nothing in the model or the loss stops it from learning: try a learning rate "
                 "3-10x higher (an LR range test finds it) or less weight decay, and compare the loss curves."))

    def _window(self) -> int:
        """The smoothing window: `window` of the steps, at least 3."""
        return max(3, int(self.opts["window"] * self.opts["steps"]))

    def _fit(self, ctx, model, optimizer, batch, loss_fn, target, ramp=None, floor=None, user_step=False):
        """Train `model` on the one batch for at most `steps` steps, stopping once the loss is at the target, or
        once its median over a window is `rise_factor` times farther from the floor than at the start. With
        `user_step`, each update is the user's own `train_step` and the loss is measured before it."""
        o = self.opts
        w = max(3, int(o["window"] * o["steps"]))
        if ramp is not None:
            ramp(0)

        def stop(losses):
            if ramp is not None:
                ramp(len(losses))
            if target is not None and losses[-1] <= target:
                return True
            if len(losses) >= 2 * w and max(losses) == min(losses):
                return True  # not one weight moves the loss: conclusive
            gap0 = losses[0] - floor if floor is not None else math.nan
            return len(losses) > w and gap0 > 0 and \
                statistics.median(losses[-w:]) - floor > 2 * o["rise_factor"] * gap0  # conclusive divergence

        if not user_step:
            return ctx.train(model, optimizer, [batch], o["steps"], stop=stop, loss_fn=loss_fn, user=False)
        losses: list[float] = []
        for _ in range(o["steps"]):
            ctx.check_time()
            with torch.no_grad():
                losses.append(float(ctx.forward_loss(model, batch, loss_fn)[1].detach().float()))
            if not math.isfinite(losses[-1]) or stop(losses):
                break
            try:
                ctx.user_step(model, batch, loss_fn, optimizer)
            except Exception:  # the step's own error is train-step's finding (ND308): fit on with the plain step
                optimizer.state.clear()  # a step broken off half-way (LBFGS) may leave it inconsistent
                return losses + ctx.train(model, optimizer, [batch], o["steps"] - len(losses), stop=stop,
                                          loss_fn=loss_fn, user=False)
        return losses

    @staticmethod
    def _level(losses, window) -> float:
        """Where the loss curve levels off: Aitken's extrapolation of three medians over the last three blocks.

        For a loss converging geometrically to a level L (drops d1, d2 = r * d1 between blocks), the level is
        c - d2 * r / (1 - r). A curve that is not slowing down (d2 >= d1) has no level in sight (-inf); one that
        stopped falling (d2 <= 0) levels off where it is.
        """
        n = len(losses)
        b = max(3, int(window * n), n // 6)  # block size (steps)
        if n < 3 * b:
            return -math.inf
        a, m, c = (statistics.median(losses[n - k * b:n - (k - 1) * b]) for k in (3, 2, 1))
        d1, d2 = a - m, m - c
        if d2 <= 0:
            return min(m, c) if d1 <= 0 else c
        if d2 >= d1:
            return -math.inf
        r = d2 / d1
        return c - d2 * r / (1 - r)

    @staticmethod
    def _pace(losses, target, window) -> float:
        """Steps still needed to reach the target at the pace of the last block (an optimistic bound: a curve that
        slows down needs more)."""
        n = len(losses)
        b = max(3, int(window * n), n // 6)  # block size (steps)
        if n < 2 * b:
            return math.inf
        m, c = statistics.median(losses[n - 2 * b:n - b]), statistics.median(losses[n - b:])
        return (c - target) / (m - c) * b if m > c else math.inf

    @staticmethod
    def _steps_needed(losses, target, pace_z: float) -> float:
        """Steps in all to reach the target at the pace of the curve's last half, optimistically (inf: no pace).

        The pace is the least-squares slope of the loss over the last half of the steps, made faster by `pace_z`
        standard errors, so that noise (dropout, a stochastic loss) can only shorten the estimate, and a curve
        that slows down (most do) would need more. The remaining gap is measured from the fitted line's end.
        """
        n = len(losses)
        ys = losses[n // 2:]
        k = len(ys)
        if k < 4 or not all(math.isfinite(v) for v in ys):
            return math.inf
        xm, ym = (k - 1) / 2, statistics.fmean(ys)
        sxx = sum((i - xm) ** 2 for i in range(k))
        slope = sum((i - xm) * (y - ym) for i, y in enumerate(ys)) / sxx
        resid = [y - ym - slope * (i - xm) for i, y in enumerate(ys)]
        se = math.sqrt(sum(r * r for r in resid) / (k - 2) / sxx)
        speed = -slope + pace_z * se  # loss per step, the fastest the last half allows
        left = ym + slope * (k - 1 - xm) - target  # the fitted line's distance to the target at the last step
        if left <= 0:
            return float(n)
        return n + left / speed if speed > 0 else math.inf

    @staticmethod
    def _worse_on_average(before: Closeness, after: Closeness) -> bool:
        """The batch as a whole moved away: the mean log-probability of the targets fell (the mean error rose).
        A falling proper loss raises it even while most samples lose probability (a constant output moving toward
        the batch's class prior takes it from the majority's labels); gradient ascent lowers it."""
        if before.better == "higher":
            log_after, log_before = after.values.clamp_min(1e-12).log(), before.values.clamp_min(1e-12).log()
            return float(log_after.mean()) < float(log_before.mean())
        return float(after.values.mean()) > float(before.values.mean())

    @staticmethod
    def _away(before: Closeness, after: Closeness) -> float:
        """The share of samples whose prediction moved away from its target (less probability, more error)."""
        worse = after.values < before.values if before.better == "higher" else after.values > before.values
        return float(worse.float().mean())
