"""The tensor operations capture follows, and how it applies them again.

The user's loop often reshapes or casts between the loader, the model and the loss: `x.view(len(x), -1)`,
`y.float().unsqueeze(1)`, `logits.view(-1, V)`, `labels[:, 1:]`. Capture records such a chain of operations on a
tensor whose origin it knows (a batch of the loader, an output of the model), as `(op, args)` pairs with no
tensor among the args, so that the same chain can be applied to another batch or output:

    chain = (("reshape", (10,)), ("to", (torch.float32,)))
    replay(chain, tensor)   # tensor.reshape(-1, 10).to(torch.float32)

A reshape is recorded by the shape it gives without its first dimension (`reshape(-1, *tail)`): the first
dimension is the batch (or batch x time) and changes with the batch size, the rest is fixed by the model.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

T = torch.Tensor

# Tensor methods (and torch functions) that change only shape, layout or dtype: name -> kind of record
RESHAPES = {T.view: "reshape", T.reshape: "reshape", T.view_as: "reshape", T.reshape_as: "reshape",
            torch.reshape: "reshape"}
CASTS = {T.float: "to", T.double: "to", T.half: "to", T.bfloat16: "to", T.long: "to", T.int: "to", T.bool: "to",
         T.to: "to", T.type: "to", T.type_as: "to"}
MOVES = {T.cpu: "same", T.cuda: "same", T.contiguous: "same", T.clone: "same", T.pin_memory: "same"}
EXACT = {T.squeeze: "squeeze", T.unsqueeze: "unsqueeze", T.permute: "permute", T.transpose: "transpose",
         T.flatten: "flatten", T.movedim: "movedim", T.t: "t", T.__getitem__: "getitem", torch.flatten: "flatten",
         torch.squeeze: "squeeze", torch.unsqueeze: "unsqueeze", torch.permute: "permute",
         torch.transpose: "transpose", F.pad: "pad"}
# Squashing functions the loop may apply between the model and the loss (`F.nll_loss(F.log_softmax(out, 1), y)`).
SQUASHES = {F.log_softmax: "log_softmax", F.softmax: "softmax", torch.log_softmax: "log_softmax",
            torch.softmax: "softmax", T.log_softmax: "log_softmax", T.softmax: "softmax", torch.sigmoid: "sigmoid",
            T.sigmoid: "sigmoid", F.logsigmoid: "logsigmoid"}
SQUASH_FUNCTIONS = {"log_softmax": F.log_softmax, "softmax": F.softmax, "sigmoid": torch.sigmoid,
                    "logsigmoid": F.logsigmoid}
CHAIN_OPS = {**RESHAPES, **CASTS, **MOVES, **EXACT, **SQUASHES}

# The functional losses, and the loss module each one is the functional form of (same keyword arguments).
LOSS_MODULES = {
    F.cross_entropy: nn.CrossEntropyLoss, F.nll_loss: nn.NLLLoss, F.binary_cross_entropy: nn.BCELoss,
    F.binary_cross_entropy_with_logits: nn.BCEWithLogitsLoss, F.mse_loss: nn.MSELoss, F.l1_loss: nn.L1Loss,
    F.smooth_l1_loss: nn.SmoothL1Loss, F.huber_loss: nn.HuberLoss, F.kl_div: nn.KLDivLoss,
    F.poisson_nll_loss: nn.PoissonNLLLoss, F.gaussian_nll_loss: nn.GaussianNLLLoss,
    F.soft_margin_loss: nn.SoftMarginLoss, F.multilabel_soft_margin_loss: nn.MultiLabelSoftMarginLoss,
    F.multi_margin_loss: nn.MultiMarginLoss, F.multilabel_margin_loss: nn.MultiLabelMarginLoss,
    F.hinge_embedding_loss: nn.HingeEmbeddingLoss,
}
LOSS_FUNCTIONS = set(LOSS_MODULES) | {F.cosine_embedding_loss, F.margin_ranking_loss, F.triplet_margin_loss,
                                      F.ctc_loss}


def squashes(chain: tuple) -> bool:
    """The chain applies a softmax or sigmoid: what the loss is given is no longer the model's output's kind."""
    return any(op[0] in SQUASH_FUNCTIONS for op in chain)


class NotReplayable(Exception):
    """An operation whose arguments cannot be applied again to another tensor (a tensor among them)."""


def _static(value: Any) -> bool:
    """A value fixed by the code, not by the data: ints, slices, dtypes, None, Ellipsis, and tuples of those."""
    if isinstance(value, (tuple, list)):
        return all(_static(v) for v in value)
    if isinstance(value, slice):
        return all(_static(v) for v in (value.start, value.stop, value.step))
    return value is None or value is Ellipsis or isinstance(value, (bool, int, str, torch.dtype, torch.device))


def record(func: Any, args: tuple, kwargs: dict, out: Any) -> tuple | None:
    """The `(op, args)` record of `func(*args, **kwargs) -> out`; None for an operation that changes nothing
    that matters (a device move); raises NotReplayable when it cannot be applied again."""
    kind = CHAIN_OPS[func]
    if not isinstance(out, torch.Tensor):
        raise NotReplayable(kind)
    if kind == "reshape":
        return ("reshape", tuple(out.shape[1:]))
    if kind == "to":
        return ("to", (out.dtype,)) if out.dtype != args[0].dtype else None
    if kind == "same":
        return None
    rest, named = tuple(args[1:]), {k: v for k, v in (kwargs or {}).items() if k != "_stacklevel"}
    if not (_static(rest) and _static(tuple(named.values()))):
        raise NotReplayable(kind)
    return (kind, rest, tuple(sorted(named.items())))


def _apply(op: tuple, t: torch.Tensor) -> torch.Tensor:
    kind = op[0]
    if kind == "reshape":
        return t.reshape(-1, *op[1]) if t.dim() else t
    if kind == "to":
        return t.to(op[1][0])
    args, kwargs = op[1], dict(op[2])
    if kind == "getitem":
        return t[args[0]]
    if kind == "pad":  # a causal LM's labels padded with the ignored index before the shift
        return F.pad(t, *args, **kwargs)
    if kind in SQUASH_FUNCTIONS:
        return SQUASH_FUNCTIONS[kind](t, *args, **kwargs)
    return getattr(torch.Tensor, kind)(t, *args, **kwargs)


def replay(chain: tuple, t: Any) -> Any:
    """Apply a recorded chain of operations to `t` (a tensor; anything else passes through)."""
    if not isinstance(t, torch.Tensor):
        return t
    for op in chain:
        t = _apply(op, t)
    return t


def describe(chain: tuple) -> str:
    """`.reshape(-1, 10).to(float32)`: the chain as code, for the report."""
    parts = []
    for op in chain:
        if op[0] == "reshape":
            parts.append(f".reshape({', '.join(['-1'] + [str(d) for d in op[1]])})")
        elif op[0] == "to":
            parts.append(f".to({str(op[1][0]).replace('torch.', '')})")
        elif op[0] == "getitem":
            parts.append(f"[{_index_text(op[1][0])}]")
        else:
            args = [repr(a) for a in op[1]] + [f"{k}={v!r}" for k, v in op[2]]
            parts.append(f".{op[0]}({', '.join(args)})")
    return "".join(parts)


def _index_text(index: Any) -> str:
    items = index if isinstance(index, tuple) else (index,)

    def one(i):
        if isinstance(i, slice):
            return ":".join("" if v is None else str(v) for v in (i.start, i.stop)) + \
                (f":{i.step}" if i.step is not None else "")
        return "..." if i is Ellipsis else repr(i)

    return ", ".join(one(i) for i in items)
