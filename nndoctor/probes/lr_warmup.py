"""Learning rates under a warm-up: the rate an optimizer fresh from the user's factory is meant to reach.

A torch LR scheduler built inside the optimizer factory (LambdaLR with a linear warm-up, LinearLR(start_factor=0),
OneCycleLR...) sets each param group's `lr` to the schedule's first value, often 0, and keeps the base rate in
`initial_lr`. nndoctor's loops step the optimizer, never the user's scheduler, so a copy would stay at lr 0 for
ever: a check that trains ramps the rate itself from 0 to `initial_lr`, and a check that judges one step judges it
at `initial_lr`, the rate the schedule reaches.

    ramp = Ramp(optimizer, steps=10)   # groups with lr < initial_lr: lr = initial_lr * (step + 1) / steps
    ramp(0)                            # before the first step; then ramp(k) before step k
"""
from __future__ import annotations

import torch


def warmup_groups(optimizer: torch.optim.Optimizer) -> list[int]:
    """Indices of the param groups whose lr is below the base rate their scheduler recorded (`initial_lr`)."""
    out = []
    for i, g in enumerate(optimizer.param_groups):
        base = g.get("initial_lr")
        if isinstance(base, (int, float)) and base > 0 and _lr(g) < base:
            out.append(i)
    return out


def use_base_lr(optimizer: torch.optim.Optimizer) -> list[int]:
    """Set lr = initial_lr in the groups under a warm-up; returns their indices (empty: nothing changed)."""
    groups = warmup_groups(optimizer)
    for i in groups:
        g = optimizer.param_groups[i]
        _set_lr(g, g["initial_lr"])
    return groups


class Ramp:
    """A linear warm-up of our own for the groups under the user's: lr = initial_lr * min(1, (step + 1) / steps)."""

    def __init__(self, optimizer: torch.optim.Optimizer, steps: int) -> None:
        self.optimizer = optimizer
        self.groups = warmup_groups(optimizer)
        self.steps = max(1, int(steps))

    def __call__(self, step: int) -> None:
        for i in self.groups:
            g = self.optimizer.param_groups[i]
            _set_lr(g, g["initial_lr"] * min(1.0, (step + 1) / self.steps))


def _lr(group: dict) -> float:
    lr = group.get("lr", 0.0)
    return float(lr.item() if isinstance(lr, torch.Tensor) else lr)


def _set_lr(group: dict, value: float) -> None:
    if isinstance(group.get("lr"), torch.Tensor):  # a tensor lr (capturable Adam): keep its type
        group["lr"].fill_(value)
    else:
        group["lr"] = value
