"""What a loss is and how it reads its inputs, kept in one place: the loss families by class, the target value a
loss ignores, the class axis of an output, and a loss called safely on candidate outputs.

    ignored_target(loss)                 # -100 for CrossEntropyLoss(), the loss's own ignore_index otherwise
    class_axis(outputs, targets, loss)   # 1 for (N, C, d1, ...) against (N, d1, ...), -1 % dim for (..., C)
    loss_value(loss_fn, outputs, y)      # a float, or None when it raises or is not finite
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import torch
from torch import nn

REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)
BINARY_LOSSES = (nn.BCEWithLogitsLoss, nn.BCELoss)
CLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)
DEFAULT_IGNORE_INDEX = -100  # torch's default for CrossEntropyLoss, NLLLoss and their functions


def ignored_target(loss: Any) -> int:
    """The target value the loss skips: its `ignore_index`, else torch's default."""
    return getattr(loss, "ignore_index", DEFAULT_IGNORE_INDEX)


def class_axis(outputs: torch.Tensor, targets: torch.Tensor, loss: Any = None) -> int | None:
    """The dimension of `outputs` that holds the classes: the one whose removal leaves the target's shape (axis 1
    first for the class losses, which take (N, C, d1, ...); the last first for a function, which usually takes
    (..., C)), or None when no axis fits."""
    order = (1, -1) if isinstance(loss, CLASS_LOSSES) else (-1, 1)
    for d in order:
        if outputs.dim() >= 2 and outputs.dim() == targets.dim() + 1:
            rest = list(outputs.shape)
            del rest[d]
            if rest == list(targets.shape):
                return d % outputs.dim()
    return None


def loss_value(loss_fn: Callable, outputs: Any, targets: Any) -> float | None:
    """loss_fn(outputs, targets) as a float (its mean when it is not reduced), without autograd or warnings;
    None when it raises (a candidate of the wrong kind for this loss: BCELoss given logits) or is not finite."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = loss_fn(outputs, targets)
        v = float(v.detach().float().mean()) if isinstance(v, torch.Tensor) else float(v)
    except Exception:
        return None
    return v if math.isfinite(v) else None
