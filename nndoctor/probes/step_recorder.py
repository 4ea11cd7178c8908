"""What one call of a training step does to a model copy: recorded with hooks, registered and removed in one place.

    with record_step(model, optimizer) as rec:
        for batch in batches:
            rec.begin_call(model)
            ctx.user_step(model, batch, loss_fn, optimizer)
    rec.forwards    # one entry per forward of the root module: training flag and whether autograd was on
    rec.backwards   # one entry per backward: the gradient already in .grad before it, and its own gradient
    rec.steps       # one entry per optimizer.step(): the gradient norm it was given (after the user's clipping)
    rec.step_grad_norms()   # that norm per step, for a closure optimizer (LBFGS) the first gradient inside it
    rec.update_norms        # with track_updates=True: ||p_after - p_before|| of each step, all parameters together

The gradient a backward finds already in `.grad` (read in a tensor hook, which runs before autograd adds the new
gradient into `.grad`) is what tells a loop that resets gradients from one that lets them pile up.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn


@dataclass
class Backward:
    call: int  # which call of the step (0-based)
    leftover_sq: float = 0.0  # sum over parameters of |grad already in .grad before this backward|^2
    incoming_sq: float = 0.0  # sum over parameters of |this backward's own gradient|^2
    steps_before: int = 0  # optimizer.step() calls since the previous backward
    weights_changed_before: bool = False  # weights written in place since the previous backward

    @property
    def leftover_ratio(self) -> float:
        """|gradient left over| / |this backward's gradient| (0 when .grad was reset)."""
        return math.sqrt(self.leftover_sq / self.incoming_sq) if self.incoming_sq > 0 else 0.0


@dataclass
class Forward:
    call: int  # which call of the step (0-based)
    training: bool  # model.training at this forward
    grad: bool  # autograd was on


@dataclass
class Step:
    call: int  # which call of the step (0-based)
    grad_norm: float  # the norm of the gradient the optimizer step was given
    had_grad: bool = True  # some parameter had a gradient when step() began (not so for a closure's step)
    backwards_before: int = 0  # backward passes recorded before this step began


@dataclass
class StepRecord:
    params: list[torch.Tensor]
    calls: int = 0
    call_start_training: list[bool] = field(default_factory=list)  # model.training when each call began
    forwards: list[Forward] = field(default_factory=list)
    backwards: list[Backward] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    update_norms: list[float] = field(default_factory=list)  # per step, with track_updates
    nonzero: set[int] = field(default_factory=set)  # id() of the parameters that got a non-zero gradient
    _open: Backward | None = None
    _steps_seen: int = 0  # optimizer steps at the previous backward
    _version_seen: int = 0  # sum of parameter versions at the previous backward

    def begin_call(self, model: nn.Module) -> None:
        self.calls += 1
        self.call_start_training.append(bool(model.training))
        self._open = None

    def _version(self) -> int:
        return sum(p._version for p in self.params)

    def on_forward(self, model: nn.Module) -> None:
        self.forwards.append(Forward(self.calls - 1, bool(model.training), torch.is_grad_enabled()))
        self._open = None  # the next gradient starts a new backward

    def on_grad(self, p: torch.Tensor, g: torch.Tensor) -> None:
        if self._open is None:
            version = self._version()
            self._open = Backward(call=self.calls - 1, steps_before=len(self.steps) - self._steps_seen,
                                  weights_changed_before=bool(self.backwards) and version != self._version_seen)
            self._steps_seen, self._version_seen = len(self.steps), version
            self.backwards.append(self._open)
        if p.grad is not None:
            self._open.leftover_sq += float(p.grad.detach().double().pow(2).sum())
        incoming = float(g.detach().double().pow(2).sum())
        self._open.incoming_sq += incoming
        if incoming > 0:
            self.nonzero.add(id(p))

    def on_step(self, optimizer: torch.optim.Optimizer) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        sq = sum(float(gr.detach().double().pow(2).sum()) for gr in grads)
        self.steps.append(Step(self.calls - 1, math.sqrt(sq), bool(grads), len(self.backwards)))
        self._open = None

    def step_grad_norms(self) -> list[float]:
        """The gradient norm each optimizer step applied: the one in `.grad` when step() began (after any clipping
        in the user's step), or, for a step that found no gradient (a closure optimizer, LBFGS, computes it inside
        step()), the norm of the first backward inside it."""
        norms = []
        for s in self.steps:
            inside = self.backwards[s.backwards_before] if s.backwards_before < len(self.backwards) else None
            norms.append(math.sqrt(inside.incoming_sq) if not s.had_grad and inside is not None else s.grad_norm)
        return norms


@contextmanager
def record_step(model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                track_updates: bool = False) -> Iterator[StepRecord]:
    """Hooks on the root forward, on the gradient of every trainable parameter (those the optimizer holds, when
    one is given: a gradient no step applies cannot go stale) and on `optimizer.step()`. With `track_updates`,
    the parameters are copied before each step and the norm of what the step changed is kept (the update the
    optimizer really made of the gradient: Adam's normalised step, momentum, weight decay, a clipped gradient)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer is not None:
        held = {id(p) for g in optimizer.param_groups for p in g["params"]}
        params = [p for p in params if id(p) in held]
    rec = StepRecord(params=params)
    rec._version_seen = rec._version()
    handles = [model.register_forward_pre_hook(lambda m, args: rec.on_forward(m))]
    for p in params:
        handles.append(p.register_hook(lambda g, p=p: rec.on_grad(p, g)))
    if optimizer is not None and hasattr(optimizer, "register_step_pre_hook"):
        handles.append(optimizer.register_step_pre_hook(lambda opt, args, kwargs: rec.on_step(opt)))
        if track_updates:
            handles += _track_updates(rec, optimizer)
    try:
        yield rec
    finally:
        for h in handles:
            h.remove()


def _track_updates(rec: StepRecord, optimizer: torch.optim.Optimizer) -> list:
    """Step pre- and post-hooks that keep ||p_after - p_before|| of each step (all recorded parameters together)."""
    before: list[torch.Tensor] = []

    def pre(opt, args, kwargs):
        before[:] = [p.detach().clone() for p in rec.params]

    def post(opt, args, kwargs):
        sq = sum(float((p.detach() - b).double().pow(2).sum()) for p, b in zip(rec.params, before))
        rec.update_norms.append(math.sqrt(sq))
        before.clear()

    return [optimizer.register_step_pre_hook(pre), optimizer.register_step_post_hook(post)]
