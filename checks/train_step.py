"""The user's own training step: gradients reset, weights updated, model in train mode.

What it catches, when the config names the user's step (`train_step: module:fn`, called as
`fn(model, batch, loss_fn, optimizer)` with `batch = (inputs, targets)`), by running it for a few calls on copies
with hooks on the forward, on each parameter's gradient and on `optimizer.step()`:
- ND409 stale-gradients: a backward finds in `.grad` a gradient that an optimizer step has already applied (no
  `zero_grad()`): each step then applies the sum of all gradients so far.
- ND408 weights-not-updating: the step leaves every weight unchanged (no `optimizer.step()`, or `zero_grad()`
  between `backward()` and `step()`) while one standard step (zero_grad, backward, step) with the same optimizer
  does change them, so the fault is in the step, not in the learning rate; or every backward gives NaN/Inf
  gradients and the step (a GradScaler's) skips `optimizer.step()` each time.
- ND310 stuck-in-eval-mode: the step's forward with autograd runs with `model.training` False: the step calls
  `model.eval()`, or the model factory returns the model in eval mode (the copy starts in the modes the user's
  model came in) and the step never calls `model.train()`. An info note when the model's output is the same in
  both modes (no dropout or BatchNorm: nothing changes yet).
- ND308 when the step raises on a real batch (its frame is shown).

Gradient accumulation is not flagged when it is done properly: gradients may pile up across backwards as long
as no optimizer step has applied them; only a gradient that survives the `optimizer.step()` that used it is
stale. A step that has made no `optimizer.step()` yet while gradients pile up is given up to `max_steps` calls
(an accumulation period) before ND408 is reported, and then only as a warning.

Why it matters: these loop bugs raise nothing and the loss still moves; the model trains wrongly, or not at all.

How to fix it: `model.train(); optimizer.zero_grad(set_to_none=True); loss = loss_fn(model(x), y);
loss.backward(); optimizer.step()`, in that order, every step (with accumulation: step and zero_grad every k
backwards, the loss divided by k). Call `model.eval()` only for evaluation, under `torch.no_grad()`, and
`model.train()` again before training.
"""
from __future__ import annotations

import math

import torch

from nndoctor import Check, Option
from nndoctor.common.errors import exception_line, user_frame
from nndoctor.probes.state import attached_state
from nndoctor.probes.step_recorder import record_step


class TrainStep(Check):
    """The user's train_step on copies: gradients reset (ND409), weights updated (ND408), train mode (ND310)."""

    name = "train-step"
    codes = ("ND409", "ND408", "ND310", "ND308")
    cost = "low"
    options = {
        "steps": Option(4, "calls of the user's step (each is one forward, backward and update on one batch)",
                        unit="calls", low=1),
        "max_steps": Option(16, "calls allowed while gradients pile up with no optimizer.step() yet (accumulation)",
                            unit="calls", low=1),
        "stale_ratio": Option(0.01, "|gradient left in .grad after a step| / |new gradient| above this: stale",
                              unit="ratio", low=0),
        "mode_tolerance": Option(1e-5, "relative change of the output between train and eval mode: modes matter "
                                 "above", low=0),
    }
    quick_options = {"steps": 3, "max_steps": 8}

    @classmethod
    def skip_reason(cls, ctx):
        if ctx.subject.train_step is None:
            return "no train_step given (config key `train_step: module:fn`)"
        return None

    def run(self, ctx):
        o = self.opts
        batches = ctx.batches()
        # The copy starts in the modes the user's model came in: a factory may hand back an eval-mode model.
        model = ctx.new_model(train=None)
        optimizer = ctx.new_optimizer(model)
        loss_fn = ctx.new_loss()
        before = [p.detach().clone() for p in model.parameters()]

        # -- measure: a few calls of the user's step, recorded ------------------------------------------------
        with record_step(model, optimizer) as rec:
            for i in range(o["max_steps"]):
                ctx.check_time()
                rec.begin_call(model)
                try:
                    ctx.user_step(model, batches[i % len(batches)], loss_fn, optimizer)
                except Exception as exc:
                    yield _step_raises(self, exc, i, attached_state(model))
                    return
                # Enough once a backward has followed an update (staleness shows there), or when the gradients are
                # reset with no update (no accumulation under way); an accumulation gets up to max_steps calls.
                after_update = any(b.steps_before or b.weights_changed_before for b in rec.backwards)
                piling = len(rec.backwards) > 1 and all(b.leftover_sq > 0 for b in rec.backwards[1:])
                if i + 1 >= o["steps"] and (after_update or not (piling or rec.steps)):
                    break
        changed = any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters()))

        # -- judge: stale gradients ------------------------------------------------------------------------
        stale = [b for b in rec.backwards if (b.steps_before or b.weights_changed_before)
                 and b.leftover_ratio > o["stale_ratio"]]
        if stale:
            worst = max(b.leftover_ratio for b in stale)
            growth = [math.sqrt(b.leftover_sq + b.incoming_sq) for b in rec.backwards]
            yield self.finding(
                "ND409", f"gradients are not reset between steps: {len(stale)} of {len(rec.backwards)} backward "
                f"passes add to a gradient that an optimizer step already applied ({worst:.2g}x the new one)",
                {"calls": rec.calls, "backwards": len(rec.backwards), "stale_backwards": len(stale),
                 "optimizer_steps": len(rec.steps), "max_leftover_ratio": worst,
                 "grad_norm_per_backward": growth[:8]},
                where="train_step", confidence=1.0,
                fix="Call optimizer.zero_grad(set_to_none=True) once per step, before loss.backward(); with "
                "gradient accumulation, zero the gradients right after each optimizer.step().")

        # -- judge: weights not updating -------------------------------------------------------------------
        if not changed and rec.backwards:
            yield from self._not_updating(ctx, rec, batches)

        # -- judge: eval mode during training ------------------------------------------------------------------
        in_eval = [f for f in rec.forwards if f.grad and not f.training]
        if in_eval:
            yield self._eval_mode(ctx, rec, in_eval, batches)

    def _not_updating(self, ctx, rec, batches):
        """ND408, once a standard step (zero_grad, backward, step) shows the optimizer itself can update."""
        probe = ctx.new_model(train=True)
        first = [p.detach().clone() for p in probe.parameters()]
        ctx.train(probe, ctx.new_optimizer(probe), batches[:1], steps=1, user=False)  # the plain step
        if all(torch.equal(a, p.detach()) for a, p in zip(first, probe.parameters())):
            return  # the optimizer does not move them either (lr 0, zero gradients): not the step's fault
        ev = {"calls": rec.calls, "backwards": len(rec.backwards), "optimizer_steps": len(rec.steps)}
        if not rec.steps and rec.backwards and not any(math.isfinite(b.incoming_sq) for b in rec.backwards):
            title = (f"the step changed no weight in {rec.calls} calls: every backward gave NaN/Inf gradients and "
                     "optimizer.step() was never called (a GradScaler skips the steps whose gradients are not "
                     "finite)")
            severity = "error"
            ev["non_finite_backwards"] = len(rec.backwards)
            fix = ("Make the gradients finite where they break (nan-tracing names the parameter and the op: sqrt or "
                   "log at zero, a division by zero); a scaler that skips every step hides it.")
        elif not rec.steps:
            piling = all(b.leftover_sq > 0 for b in rec.backwards[1:]) and len(rec.backwards) > 1
            title = f"the step changed no weight in {rec.calls} calls: optimizer.step() is never called"
            severity = "error"
            if piling:  # or a gradient accumulation longer than the calls made
                title += f" (or gradients are accumulated over more than {rec.calls} calls)"
                severity = "warning"
            fix = ("Call optimizer.step() after loss.backward() in the step (every k calls with gradient "
                   "accumulation), on the optimizer the step is given.")
        elif all(s.grad_norm == 0 for s in rec.steps):
            title = "optimizer.step() runs on zeroed gradients: zero_grad() comes between backward() and step()"
            severity = "error"
            ev["grad_norm_at_step"] = 0.0
            fix = "Order the step as zero_grad(); loss.backward(); optimizer.step()."
        else:
            title = (f"the step calls optimizer.step() {len(rec.steps)} times yet changes no weight, while a "
                     "standard step with the same optimizer does")
            severity = "error"
            ev["grad_norm_at_step"] = max(s.grad_norm for s in rec.steps)
            fix = ("Step the optimizer the step is given (not one built over another copy of the model), after "
                   "loss.backward().")
        yield self.finding("ND408", title, ev, where="train_step", severity=severity, fix=fix)

    def _eval_mode(self, ctx, rec, in_eval, batches):
        """ND310: which of the factory or the step left the model in eval mode, and whether it matters."""
        from_factory = not ctx.user_training and not any(rec.call_start_training)
        if from_factory:
            title = "the model factory returns the model in eval mode and the step never calls model.train()"
            where = "model factory"
        else:
            title = "the step trains the model in eval mode: model.eval() is called before its forward/backward"
            where = "train_step"
        change = self._mode_effect(ctx, batches[0])
        matters = change > self.opts["mode_tolerance"]
        if not matters:
            title += " (no effect yet: the output is the same in both modes)"
        return self.finding(
            "ND310", title,
            {"training_forwards": sum(1 for f in rec.forwards if f.grad), "forwards_in_eval_mode": len(in_eval),
             "factory_training": ctx.user_training, "train_eval_output_change": change},
            where=where, severity="error" if matters else "info",
            fix="Call model.train() at the start of each training step (and after any evaluation); keep "
            "model.eval() for evaluation under torch.no_grad().")

    @staticmethod
    def _mode_effect(ctx, batch) -> float:
        """Relative change of the output between train and eval mode on one batch (dropout, BatchNorm)."""
        model = ctx.new_model(train=True)
        with torch.no_grad():
            torch.manual_seed(ctx.seed)
            a = ctx.forward(model, batch.inputs, batch.targets)
            model.eval()
            torch.manual_seed(ctx.seed)
            b = ctx.forward(model, batch.inputs, batch.targets)
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
            return 1.0
        a, b = a.detach().double(), b.detach().double()
        return float((a - b).norm() / a.norm().clamp_min(1e-12))


def _step_raises(check, exc, call: int, attached: list[str]):
    """ND308 for a train_step that raises; when the model still holds the last call's graph in a carried attribute
    (an RNN's self.hidden never detached), the finding says so: the second backward runs into the first's graph."""
    state = ""
    fix = ("Run the step by hand on one batch and read the line shown; the batch it is given is a tuple "
           "(inputs, targets).")
    if attached:
        state = (f"; the model carries state across calls that still holds the previous step's graph "
                 f"({', '.join(attached[:3])}): it is never detached between steps")
        fix = (f"Detach the carried state before each step ({attached[0]} = repackage_hidden({attached[0]}), i.e. "
               "h.detach() for a tensor or each tensor of an (h, c) tuple), and reset it (init_hidden) at the start "
               "of each sequence; retain_graph=True only hides the bug and backpropagates through every past step.")
    return check.finding("ND308", f"the train_step raises on a real batch: {exception_line(exc)}{state}",
                         {"stage": "train_step", "exception": exception_line(exc), "user_frame": user_frame(exc),
                          "call": call + 1, "attached_state": attached}, where=user_frame(exc), fix=fix)
