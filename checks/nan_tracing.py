"""Where NaN and Inf are born, in forward and in backward (37 reasons #37).

What it catches, on a copy of the model with hooks on every module (in execution order) and on every parameter
(`nndoctor.probes.nonfinite_trace`): first on the real batches at initialisation, then during a short training run
with the user's optimizer (`steps` steps, stopping at the first NaN), since NaN often appears only after some steps (a
learning rate too high, a log of a value that reaches zero). The training steps are the user's own `train_step` when
the config names one (its gradient clipping counts), else the plain step, `step(closure)` for LBFGS:
- ND306 non-finite-forward: the first module whose output holds NaN or Inf while its inputs were finite, when
  those values reach the loss; or the loss itself when it is NaN/Inf on finite outputs and targets. A module that
  writes -inf which the model then absorbs (an attention mask before a softmax) is not a finding.
- ND406 non-finite-gradients: the first parameter whose gradient holds NaN or Inf although the forward pass and
  the loss were finite, with the module where backward broke (the one whose output gradient was finite and whose
  input or parameter gradient is not: sqrt or log at zero, a division by zero in the backward formula).
The evidence names the module and its type, the training step, the batch and how many values are non-finite.
An Inf whose neighbours (the module's finite outputs, or its inputs) are past the square root of the dtype's range
is an overflow (`overflow` in the evidence): the activations grew layer after layer, or step after step through a
recurrence, and the fix is the scale that grew (activation-scale, ND305), not an epsilon in this module. A
NaN that appears only after the weights have grown `diverged_growth` times is the end of a divergence, not a bug
of the module: it is a note, and the learning rate is the finding (update-ratio ND407, loss-diverges ND502).

Batches whose inputs or targets are already non-finite are left out of ND306 and of the training run: that is
the data's fault (ND101, ND104, reported by input-sanity), not a module's. They are traced at initialisation for
ND406 only, when the loss on them is finite: the model or the loss masked the data's NaN in forward (torch.where or
masked_fill on the result of an op that took it, nanmean), and backward still carries it, since the mask's zero
gradient times the op's NaN derivative is NaN; one step then makes every weight NaN.

Why it matters: once a value is NaN, the loss, every gradient and, after one step, every weight are NaN too; the
run is dead from there, and the NaN loss says nothing about where it came from.

How to fix it: in the named module add an epsilon or a clamp (torch.log(x + 1e-8), torch.sqrt(x + 1e-12), x / (d
+ eps)), use fused stable ops (log_softmax, logsumexp, BCEWithLogitsLoss), mask the inputs of an op rather than its
output (torch.where on the argument of sqrt/log); for a late NaN after the weights grew, lower the learning rate
and clip gradients.
"""
from __future__ import annotations

import math

import torch

from nndoctor import Check, Option
from nndoctor.probes.batches import tensors
from nndoctor.probes.hooks import module_label, on_forward
from nndoctor.probes.nonfinite_trace import NonFiniteTracer, locate_in_backward
from nndoctor.probes.params import nonfinite
from nndoctor.probes.lr_warmup import Ramp


class NanTracing(Check):
    """The first module whose output (ND306), and the first parameter whose gradient (ND406), turns NaN or Inf."""

    name = "nan-tracing"
    codes = ("ND306", "ND406")
    cost = "medium"
    needs_backward = True  # trains a copy on the loss
    options = {
        "steps": Option(30, "training steps on a copy with the hooks on (stops at the first NaN/Inf; 0: the first "
                        "forward and backward only)", unit="steps", low=0),
        "diverged_growth": Option(10.0, "weight norm at the NaN over its initial norm above this: the run diverged",
                                  unit="ratio", low=1),
        "warmup_steps": Option(10, "steps of the ramp to the base lr when the user's scheduler starts from lr 0",
                               unit="steps", low=0),
    }
    quick_options = {"steps": 10, "warmup_steps": 4}

    def run(self, ctx):
        batches = ctx.batches()
        clean = [i for i, b in enumerate(batches)
                 if not any(nonfinite(t) for t in tensors(b.inputs) + tensors(b.targets))]
        model = ctx.new_model(train=True)
        loss_fn = ctx.new_loss()
        tracer = NonFiniteTracer(model, loss_name=f"loss ({_name(ctx.subject.loss)})")
        checked = tracer.checked_loss(loss_fn)
        norm0 = _norm(model)
        path = PathAfter(tracer)  # for the chart only: the module calls from the first NaN/Inf output on

        # -- measure: the real batches at initialisation (forward, loss, backward; no step) ------------------------
        phase, loss_value, located, masked = "real batches at initialisation", None, None, False
        with tracer, on_forward(model, path, all_modules=True):  # `path` after the tracer: it reads its event
            for i in clean:
                loss = _start_pass(ctx, model, tracer, batches, i, checked)
                if loss.dim() != 0:
                    return  # a loss that is not a scalar cannot be trained on: forward-probe reports it (ND308)
                loss_value = float(loss.detach().float())
                if not math.isfinite(loss_value):
                    break
                located = _trace_backward(ctx, model, tracer, batches[i], loss, loss_fn)
                if tracer.grad:
                    break

            loss_value, located, masked = self._masked_data(ctx, model, batches, clean, tracer, loss_fn, loss_value,
                                                            located)

            # -- measure: a short training run, stopping at the first NaN ----------------------------------------
            trains = any(p.requires_grad for p in model.parameters())
            norm = norm0
            if math.isfinite(loss_value) and not tracer.grad and trains and self.opts["steps"] > 0:
                phase = "training"
                model.zero_grad(set_to_none=True)
                optimizer = ctx.new_optimizer(model)
                ramp = Ramp(optimizer, self.opts["warmup_steps"])
                ramp(0)
                tracer.step, tracer.batch = 0, clean[0]
                tracer.new_pass()

                def before_step(opt, args, kwargs):  # the gradients of this step, before they are applied
                    nonlocal located
                    tracer.end_backward()
                    if tracer.grad and located is None:
                        located = locate_in_backward(
                            lambda: ctx.forward_loss(model, batches[tracer.batch], loss_fn)[1].backward())

                def stop(losses):
                    nonlocal norm
                    before_step(optimizer, (), {})  # a closure optimizer (LBFGS) makes its gradients inside step()
                    if tracer.grad:
                        return True
                    norm = _norm(model)  # the weights the next forward uses
                    tracer.step, tracer.batch = len(losses), clean[len(losses) % len(clean)]
                    tracer.new_pass()
                    ramp(len(losses))
                    return False

                handle = optimizer.register_step_pre_hook(before_step)
                try:
                    losses = ctx.train(model, optimizer, [batches[i] for i in clean], self.opts["steps"], stop=stop,
                                       loss_fn=checked)
                finally:
                    handle.remove()
                loss_value = losses[-1]

        # -- judge ---------------------------------------------------------------------------------------------------
        growth = norm / norm0 if norm0 > 0 else 1.0
        late = phase == "training" and growth >= self.opts["diverged_growth"]
        if not math.isfinite(loss_value) and tracer.forward is not None:
            self._plot_path(path, tracer.forward)
            yield self._forward(tracer.forward, phase, growth, late, loss_value, path)
        elif tracer.grad is not None:
            if tracer.forward is not None:  # an Inf that the loss absorbed, yet backward turned it into NaN
                self._plot_path(path, tracer.forward)
                yield self._forward(tracer.forward, phase, growth, late, loss_value, path)
            yield self._grad(tracer.grad, phase, growth, late, located, masked)

    def _masked_data(self, ctx, model, batches, clean, tracer, loss_fn, loss_value, located):
        """The batches whose data hold NaN/Inf, where forward masks them, read when the clean batches found nothing
        (`loss_value`: the last one's loss, None without any): (the loss, the located backward op, True) for the
        first whose finite loss gives a non-finite parameter gradient; else `loss_value` (NaN for None: nothing to
        train on or judge) and `located` as they were, and False.

        Their NaN is the data's, no module's, and where it reaches the loss ND101/ND104 say so. But a NaN masked in
        forward (torch.where or masked_fill on the result of an op that took it, nanmean) is finite there and still
        NaN in backward, since the mask's zero gradient times the op's NaN derivative is NaN: one step makes every
        weight NaN, and only the gradients show where."""
        if tracer.grad or (loss_value is not None and not math.isfinite(loss_value)):
            return loss_value, located, False
        for i in (i for i in range(len(batches)) if i not in clean):  # the data's NaN/Inf: ND101/ND104
            loss = _start_pass(ctx, model, tracer, batches, i, loss_fn)
            tracer.new_pass()  # a module output made non-finite by the data is not judged
            if loss.dim() != 0 or not math.isfinite(float(loss.detach().float())):
                continue  # the data's NaN reached the loss: nothing masked it
            where = _trace_backward(ctx, model, tracer, batches[i], loss, loss_fn)
            if tracer.grad:
                return float(loss.detach().float()), where, True
        return (math.nan if loss_value is None else loss_value), located, False

    def _plot_path(self, path, event) -> None:
        """The share of NaN/Inf in each module output from the first non-finite one on (the HTML report's chart)."""
        calls = path.calls if path.event is event else []
        if not calls:
            return
        more = f", the first {len(calls)} of {path.total} calls" if path.total > len(calls) else ""
        self.plot_layers(
            f"share of NaN/Inf in each module's output from {event.where} on (step {event.step}, batch "
            f"{event.batch}{more})", [label for label, _, _ in calls],
            [bad / values if values else 0.0 for _, bad, values in calls], unit="share", log=False, codes=("ND306",))

    def _forward(self, e, phase, growth, late, loss_value, path):
        when = f"at step {e.step} of the training run" if phase == "training" else "on the real batches at init"
        what = ("the loss is NaN/Inf although the model's outputs and the targets are finite" if e.kind == "loss"
                else f"{e.where} outputs {e.nonfinite} NaN/Inf values of {e.values} while its inputs are finite")
        ev = {"module": e.where, "module_type": e.detail.get("module_type"), "phase": phase, "step": e.step,
              "batch": e.batch, "non_finite": e.nonfinite, "values": e.values, "loss": loss_value,
              "weight_growth": growth, **{k: v for k, v in e.detail.items() if k != "module_type"}}
        # An overflow: the values beside the Inf (the module's finite outputs, or its inputs) are past the square
        # root of the dtype's range, where one product of two of them overflows (and Inf - Inf in the same op gives
        # NaN too). A value born NaN or Inf in one op (log or 0/0 at a healthy scale) has neighbours of ordinary
        # size; these have grown layer after layer, or step after step through a recurrence, and the scale that
        # grew is the cause (ND305), not this module's op.
        peak = max(path.peak if path.event is e else 0.0, e.detail.get("input_max_abs") or 0.0)
        limit = path.limit if path.event is e else math.inf
        ev["overflow"] = overflow = e.kind == "forward" and peak >= math.sqrt(limit)
        if overflow:
            ev["finite_max_abs"] = peak
        if late:
            return self.finding(
                "ND306", f"{what}, {when}, after the weights grew {growth:.3g}x: the run diverges (learning rate "
                "too high?)", ev, where=e.where, severity="info",
                fix="Lower the learning rate 3-10x (or add a warm-up) and clip gradients; the module is where the "
                "overflow surfaced, not its cause.")
        if overflow:
            return self.finding(
                "ND306", f"{what} ({when}, batch {e.batch}): an overflow, the finite values beside it reach "
                f"{peak:.3g}: the activations grew until they passed the largest float", ev, where=e.where,
                fix="The scale that grows up to here is the cause, not this module's op: initialise for the "
                "nonlinearity (kaiming_normal_ for ReLU, xavier_uniform_ for tanh, recurrent weights with gain at "
                "most 1), normalise the inputs, add LayerNorm; a clamp here would only hide it.")
        return self.finding(
            "ND306", f"{what} ({when}, batch {e.batch})", ev, where=e.where,
            fix="Make the op in this module's forward safe: torch.log(x + 1e-8) or torch.log(x.clamp_min(1e-8)), "
            "sqrt(x + eps), x / (d + eps), clamp before exp; prefer log_softmax/logsumexp to log(softmax(x)).")

    def _grad(self, e, phase, growth, late, located, masked=False):
        when = f"at step {e.step} of the training run" if phase == "training" else "on the real batches at init"
        born = e.detail.get("born_in")
        ev = {"parameter": e.where, "module": e.detail.get("module"), "born_in": born, "phase": phase,
              "step": e.step, "batch": e.batch, "non_finite": e.nonfinite, "values": e.values,
              "weight_growth": growth}
        if located:
            ev.update({"backward_op": located["op"], "forward_line": located["user_frame"]})
        ev["data_non_finite"] = masked
        title = (f"the gradient of {e.where} holds {e.nonfinite} NaN/Inf values of {e.values} {when} (batch "
                 f"{e.batch}) although " + ("the loss is finite: the batch's NaN/Inf inputs or targets are masked "
                                            "in forward but not in backward" if masked else
                                            "the forward pass and the loss are finite")
                 + (f"; backward breaks in {born}" if born else "")
                 + (f", in {located['op']} from {located['user_frame']}" if located and located["user_frame"]
                    else ""))
        if late:
            return self.finding("ND406", title + f", after the weights grew {growth:.3g}x", ev, where=e.where,
                                severity="info", fix="Lower the learning rate 3-10x and clip gradients.")
        if masked:
            return self.finding(
                "ND406", title, ev, where=e.where,
                fix="Replace the missing values before the op that takes them, not in its result: y = "
                "torch.where(mask, y, 0) (or x.nan_to_num()) first, then the loss weighted by the mask; or drop "
                "those rows from the data. torch.where, masked_fill and nanmean on a NaN result still pass NaN "
                "back: their zero gradient times the op's NaN derivative is NaN.")
        return self.finding(
            "ND406", title, ev, where=e.where,
            fix="Find the op whose derivative is infinite at the value it gets (sqrt or norm at 0, log at 0, pow with "
            "a fractional exponent, acos at +-1) in the module named and keep its argument away from it: "
            "torch.sqrt(x + 1e-12), or torch.where on the argument, not on the result.")


PATH_SHOWN = 40  # module calls drawn on the chart of the path of a NaN


def _start_pass(ctx, model, tracer, batches, i: int, loss_fn):
    """A new traced pass over batch i, gradients cleared: its loss (forward and loss run, not backward)."""
    ctx.check_time()
    tracer.batch = i
    tracer.new_pass()
    model.zero_grad(set_to_none=True)
    return ctx.forward_loss(model, batches[i], loss_fn)[1]


def _trace_backward(ctx, model, tracer, batch, loss, loss_fn):
    """Backward of `loss` with the tracer on; when a gradient turns non-finite, the backward op where it broke
    (found by replaying the batch: `locate_in_backward`), else None."""
    if loss.requires_grad:
        loss.backward()
        tracer.end_backward()
    if not tracer.grad:
        return None
    return locate_in_backward(lambda: ctx.forward_loss(model, batch, loss_fn)[1].backward())


class PathAfter:
    """A forward hook that keeps the module calls of the pass where the tracer found its first non-finite module
    output, from that module on: (label, non-finite values, values) in execution order, parents after their
    children, up to the model's own output. It runs after the tracer's hook on each module and judges nothing."""

    def __init__(self, tracer: NonFiniteTracer) -> None:
        self.tracer = tracer
        self.event = None  # the tracer's event this path belongs to
        self.calls: list[tuple[str, int, int]] = []  # the first PATH_SHOWN calls
        self.total = 0  # calls on the path
        self.done = False
        self.peak = 0.0  # the largest finite |value| of the first non-finite output (an overflow's neighbours)
        self.limit = math.inf  # the largest value of that output's dtype

    def __call__(self, name, module, args, out) -> None:
        event = self.tracer.forward
        if event is None or event.kind != "forward":
            return  # nothing non-finite yet in this pass (or only the loss: no module path)
        if event is not self.event:  # a new first non-finite output: a new path starts at this module
            self.event, self.calls, self.total, self.done = event, [], 0, False
            y = out.detach()
            finite = y[torch.isfinite(y)] if y.is_floating_point() else y.new_zeros(0)
            self.peak = float(finite.abs().max()) if finite.numel() else 0.0
            self.limit = float(torch.finfo(y.dtype).max) if y.is_floating_point() else math.inf
        if self.done:
            return
        self.total += 1
        if len(self.calls) < PATH_SHOWN:
            self.calls.append((module_label(name, module), nonfinite(out), out.numel()))
        self.done = module is self.tracer.model  # the model's output ends the pass (a replay adds nothing)


def _norm(model) -> float:
    """The norm of all the model's parameters together."""
    sq = sum(float(p.detach().double().pow(2).sum()) for p in model.parameters())
    return math.sqrt(sq) if math.isfinite(sq) else math.inf


def _name(loss) -> str:
    """CrossEntropyLoss for a module, the function's name for a function (or a functools.partial of one)."""
    if isinstance(loss, torch.nn.Module):
        return type(loss).__name__
    fn = getattr(loss, "func", loss)
    return getattr(fn, "__name__", type(fn).__name__)
