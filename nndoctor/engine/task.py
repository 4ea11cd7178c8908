"""What kind of problem a run is (classification, binary, multilabel, regression, language modelling), from the
loss's type and the output and target shapes."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)
BINARY_LOSSES = (nn.BCEWithLogitsLoss, nn.BCELoss)
CLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)


def guess_task(loss: Any, outputs: Any, targets: torch.Tensor | None) -> str:
    if isinstance(loss, REGRESSION_LOSSES):
        return "regression"
    if isinstance(loss, BINARY_LOSSES):
        if isinstance(outputs, torch.Tensor) and outputs.dim() >= 2 and outputs.shape[-1] > 1:
            return "multilabel"
        return "binary"
    if isinstance(loss, CLASS_LOSSES):
        if isinstance(outputs, torch.Tensor) and outputs.dim() == 3 and targets is not None and targets.dim() == 2:
            return "language-modeling"
        return "classification"
    # A plain function: judge from the shapes and dtypes.
    if targets is None or not isinstance(outputs, torch.Tensor):
        return "regression"
    if not targets.is_floating_point():
        if outputs.dim() == 3 and targets.dim() == 2:
            return "language-modeling"
        if outputs.dim() == targets.dim() + 1:
            return "classification"
    if outputs.shape == targets.shape and targets.numel() and bool(((targets == 0) | (targets == 1)).all()):
        return "binary" if outputs.dim() == 1 or outputs.shape[-1] == 1 else "multilabel"
    return "regression"
