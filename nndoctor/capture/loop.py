"""The script's own training loop as a source of findings: what the `train-step` check finds in a config's
`train_step`, read here from the first steps the script made under capture.

- ND409 stale-gradients: a backward() after an optimizer step finds the gradients that step applied still in
  `.grad` (no zero_grad, nor `grad = None`, in between);
- ND408 weights-not-updating: optimizer.step() runs on zeroed gradients (zero_grad between backward and step),
  or the loop makes backward passes and never steps; reported once a standard step with the same optimizer does
  change the weights (so the fault is the loop's, not the learning rate's);
- ND310 stuck-in-eval-mode: the model's forwards whose loss is backpropagated run with `model.training` False
  (an error when dropout or BatchNorm change the output, else an info note).

Gradient accumulation is not a finding: gradients may pile up across backward passes as long as no step has
applied them.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Iterator

import torch

from ..engine.isolation import RNGState
from ..probes.batches import Batch, call_model, read_batches, take_output, to_device
from ..report.model import Finding

if TYPE_CHECKING:
    from .build import Captured

CHECK = "train-step"  # the check these findings stand in for (its codes, its selection)
FIX_ORDER = ("Order each step as optimizer.zero_grad(set_to_none=True); loss = loss_fn(model(x), y); "
             "loss.backward(); optimizer.step() (with gradient accumulation: step and zero_grad every k backwards).")
MODE_TOLERANCE = 1e-5  # relative change of the output between train and eval mode above which the modes matter


def loop_findings(captured: "Captured", seed: int = 0) -> Iterator[Finding]:
    """The findings the script's loop gives (possibly none)."""
    yield from _stale(captured)
    yield from _not_updating(captured, seed)
    yield from _eval_mode(captured, seed)


def _stale(captured: "Captured") -> Iterator[Finding]:
    rec, opt = captured.recording, captured.optimizer
    after_step = [b for b in rec.backwards if b.steps_before > 0]
    stale = [b for b in after_step if b.leftover.get(id(opt))]
    if not stale:
        return
    first = stale[0]
    yield Finding(
        "ND409", f"the loop never resets the gradients: {len(stale)} of {len(after_step)} backward passes after an "
        "optimizer step add to the gradient that step already applied", {
            "backwards": len(rec.backwards), "optimizer_steps": len(rec.steps), "stale_backwards": len(stale),
            "loop": captured.parts.get("loop", ""), "first_stale_backward": str(first.site or "")},
        fix="Call optimizer.zero_grad(set_to_none=True) once per step, before loss.backward(); with gradient "
        "accumulation, zero the gradients right after each optimizer.step().",
        where=str(first.site) if first.site else "the training loop", check=CHECK)


def _first_batch(captured: "Captured", model: torch.nn.Module) -> Batch | None:
    """The first training batch, on the model's device."""
    s = captured.subject
    batches = read_batches(s.data, 1, s.batch_spec)
    if not batches:
        return None
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    return Batch(to_device(batches[0].inputs, device), to_device(batches[0].targets, device))


def _standard_step_moves(captured: "Captured", seed: int) -> bool:
    """One plain step (zero_grad, forward, loss, backward, step) with the user's optimizer changes the weights."""
    s = captured.subject
    rng = RNGState()
    try:
        RNGState.seed(seed)
        model = copy.deepcopy(s.model).train()
        batch = _first_batch(captured, model)
        if batch is None:
            return False
        opt = s.optimizer(model)
        before = [p.detach().clone() for p in model.parameters()]
        opt.zero_grad(set_to_none=True)
        out = take_output(call_model(model, batch.inputs), s.outputs)
        s.loss(out, batch.targets).backward()
        opt.step()
        return any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters()))
    except Exception:
        return False
    finally:
        rng.restore()


def _not_updating(captured: "Captured", seed: int) -> Iterator[Finding]:
    rec, opt = captured.recording, captured.optimizer
    steps = [s for s in rec.steps if s.optimizer is opt]
    zeroed = [s for s in steps if s.backwards_before > 0 and s.grad_norm == 0 and not s.closure]
    never = not steps and rec.backwards
    if not (never or (steps and len(zeroed) == len(steps))):
        return
    if not _standard_step_moves(captured, seed):
        return  # the optimizer does not move them either (lr 0, zero gradients): not the loop's fault
    ev = {"backwards": len(rec.backwards), "optimizer_steps": len(steps), "loop": captured.parts.get("loop", "")}
    if never:
        title = (f"the loop makes {len(rec.backwards)} backward passes and never calls optimizer.step(): no weight "
                 "changes")
        fix = "Call optimizer.step() after loss.backward(), on the optimizer that holds the model's parameters."
    else:
        title = "optimizer.step() runs on zeroed gradients: zero_grad() comes between backward() and step()"
        ev["grad_norm_at_step"] = 0.0
        fix = FIX_ORDER
    site = next((b.site for b in rec.backwards if b.site), None)
    yield Finding("ND408", title, ev, fix=fix, where=str(site) if site else "the training loop", check=CHECK)


def _mode_effect(captured: "Captured", seed: int) -> float:
    """Relative change of the model's output between train and eval mode on the first batch."""
    s = captured.subject
    rng = RNGState()
    try:
        model = copy.deepcopy(s.model)
        batch = _first_batch(captured, model)
        if batch is None:
            return 0.0
        outs = []
        with torch.no_grad():
            for train in (True, False):
                RNGState.seed(seed)
                model.train(train)
                outs.append(take_output(call_model(model, batch.inputs), s.outputs))
    except Exception:
        return 1.0
    finally:
        rng.restore()
    a, b = outs
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
        return 1.0
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / a.norm().clamp_min(1e-12))


def _eval_mode(captured: "Captured", seed: int) -> Iterator[Finding]:
    calls = captured.training_calls
    in_eval = [c for c in calls if not c.training]
    if not in_eval:
        return
    change = _mode_effect(captured, seed)
    matters = change > MODE_TOLERANCE
    title = (f"the loop trains the model in eval mode: {len(in_eval)} of {len(calls)} training forwards run with "
             "model.training False")
    if not matters:
        title += " (no effect yet: the output is the same in both modes)"
    site = in_eval[0].site
    yield Finding("ND310", title, {"training_forwards": len(calls), "forwards_in_eval_mode": len(in_eval),
                                   "train_eval_output_change": change},
                  fix="Call model.train() at the start of each training epoch (and after any evaluation); keep "
                  "model.eval() for evaluation under torch.no_grad().",
                  where=str(site) if site else "the training loop", severity="error" if matters else "info",
                  check=CHECK)
