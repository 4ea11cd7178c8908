"""What a loss is and how it reads its inputs, kept in one place: the loss families by class, the target value a
loss ignores, the class axis of an output, and a loss called safely on candidate outputs.

    ignored_target(loss)                 # -100 for CrossEntropyLoss(), the loss's own ignore_index otherwise
    class_axis(outputs, targets, loss)   # 1 for (N, C, d1, ...) against (N, d1, ...), -1 % dim for (..., C)
    classifier_axis(outputs, y, loss)    # the same, also for targets the loss flattens: where num_classes is read
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
    """The dimension of `outputs` that holds the classes: the one whose removal leaves the target's shape, or None
    when no axis fits. Only axis 1 ((N, C, d1, ...), as the class losses and F.cross_entropy take it) and the last
    ((..., C), as a function that flattens to (N*T, C) takes it) are candidates. When both fit (a (B, C, H, W)
    output with C == H == W, a (B, T, V) one with T == V), the loss decides (`_probed_axis`); without a loss that
    tells them apart, axis 1 first for the class losses and the last first otherwise."""
    if not (outputs.dim() >= 2 and outputs.dim() == targets.dim() + 1):
        return None
    fits = []
    for d in (1, outputs.dim() - 1):
        rest = list(outputs.shape)
        del rest[d]
        if rest == list(targets.shape) and d not in fits:
            fits.append(d)
    if len(fits) == 2:
        probed = _probed_axis(outputs, targets, loss, fits) if callable(loss) and outputs.is_floating_point() else None
        if probed is not None:
            return probed
        return fits[0] if isinstance(loss, CLASS_LOSSES) else fits[1]
    return fits[0] if fits else None


CONFIDENT_LOGIT = 10.0  # a logit this far above the others puts e^-10 of the probability elsewhere


def _probed_axis(outputs: torch.Tensor, targets: torch.Tensor, loss: Callable, axes: list[int]) -> int | None:
    """The axis along which a confident output at the target class gives the loss its lowest value: the class
    axis, for any loss that rewards the target class (logits, log-probabilities or probabilities). None when the
    loss raises on both or cannot tell them apart."""
    values = {}
    for d in axes:
        C = outputs.shape[d]
        index = targets.long().clamp(0, C - 1).unsqueeze(d)  # ignored targets (-100) clamp to a class they skip
        confident = torch.zeros_like(outputs.detach()).scatter_(d, index, CONFIDENT_LOGIT)
        v = loss_value(loss, confident, targets)
        if v is not None:
            values[d] = v
    if not values or (len(values) == 2 and math.isclose(*values.values())):
        return None
    return min(values, key=values.get)


def classifier_axis(outputs: torch.Tensor, targets: torch.Tensor | None, loss: Any) -> int:
    """The class axis of a classifier's output: the one the targets lack (`class_axis`: (B, C, H, W) against
    (B, H, W) masks is axis 1, for a function loss too); for targets flattened by the loss, the one of axis 1 and
    the last whose size is the ratio of the element counts ((B, C, H, W) against (B*H*W,) is axis 1); else axis 1
    for the class losses, which take (N, C, d1, ...), and the last for a function, which usually takes (..., C)."""
    if targets is not None:
        d = class_axis(outputs, targets, loss)
        if d is not None:
            return d
        by_count = {d for d in (1, outputs.dim() - 1) if outputs.shape[d] * targets.numel() == outputs.numel()}
        if len(by_count) == 1:
            return by_count.pop()
    return 1 if isinstance(loss, CLASS_LOSSES) else outputs.dim() - 1


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
