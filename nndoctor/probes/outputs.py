"""The model's output: the last operation that produced it, read from its autograd node through the operations
that only move values around (views, reshapes, copies), so that a functional call is seen as well as a module."""
from __future__ import annotations

import re

import torch

# Autograd nodes that only move values around: the final activation is found behind them.
SHAPE_OPS = {"View", "UnsafeView", "Reshape", "ReshapeAlias", "Squeeze", "Unsqueeze", "Transpose", "Permute",
             "Clone", "Expand", "ToCopy", "AsStrided", "Alias", "Select", "Slice", "Contiguous", "Flatten"}


def final_op(out: torch.Tensor) -> str | None:
    """The last operation that produced `out` (`Sigmoid`, `Tanh`, `Softmax`, ...), looking through reshapes;
    None for a tensor outside autograd or made only of reshapes of a leaf."""
    node = out.grad_fn
    while node is not None:
        kind = re.sub(r"Backward\d*$", "", type(node).__name__)
        if kind not in SHAPE_OPS:
            return kind
        nxt = [f for f, _ in node.next_functions if f is not None]
        node = nxt[0] if nxt else None
    return None
