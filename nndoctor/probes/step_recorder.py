"""What one call of a training step does to a model copy: recorded with hooks, registered and removed in one place.

    with record_step(model, optimizer) as rec:
        for batch in batches:
            rec.begin_call(model)
            ctx.user_step(model, batch, loss_fn, optimizer)
    rec.forwards    # one entry per forward of the root module: training flag and whether autograd was on
    rec.backwards   # one entry per backward: the gradient already in .grad before it, and its own gradient
    rec.steps       # one entry per optimizer.step(): the gradient norm it was given

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


@dataclass
class StepRecord:
    params: list[torch.Tensor]
    calls: int = 0
    call_start_training: list[bool] = field(default_factory=list)  # model.training when each call began
    forwards: list[Forward] = field(default_factory=list)
    backwards: list[Backward] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
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
        self._open.incoming_sq += float(g.detach().double().pow(2).sum())

    def on_step(self, optimizer: torch.optim.Optimizer) -> None:
        sq = sum(float(p.grad.detach().double().pow(2).sum()) for g in optimizer.param_groups for p in g["params"]
                 if p.grad is not None)
        self.steps.append(Step(self.calls - 1, math.sqrt(sq)))
        self._open = None


@contextmanager
def record_step(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> Iterator[StepRecord]:
    """Hooks on the root forward, on the gradient of every trainable parameter (those the optimizer holds, when
    one is given: a gradient no step applies cannot go stale) and on `optimizer.step()`."""
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
    try:
        yield rec
    finally:
        for h in handles:
            h.remove()
