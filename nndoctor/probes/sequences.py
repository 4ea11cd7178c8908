"""Sequences: whether the data is next-step prediction (its targets are its inputs shifted by one position), read
from the data itself rather than from the declared task, so that the checks that depend on it (the causal test,
class balance and order, the input-independent baseline) follow what the data says."""
from __future__ import annotations

import torch

from .batches import tensors

# Next-step data: at least this share of the scored positions t has targets[:, t] == inputs[:, t + 1] (a shifted
# copy gives 1; noise or augmentation of the inputs may lower it a little), and at most half of that share is
# explained by the token frequencies alone (the same comparison against another sample's inputs). The default of
# the calling checks' option `shift_share`.
SHIFT_SHARE = 0.9


def next_step_shares(inputs, targets, ignore: int | None = None, layout=None) -> tuple[float, float] | None:
    """(share, chance) for the first input tensor laid out like the targets, (B, T, ...) with T >= 2: the share of
    scored positions t (targets not `ignore`) where targets[:, t] equals inputs[:, t + 1] (whole feature vectors
    for float sequences), and the same share against the inputs of another sample (rolled by one along the
    batch), which token frequencies alone explain. None when no input tensor has the targets' layout.
    With a `layout` (`nndoctor.probes.layout`), time-major (T, B) inputs and flattened (T * B,) targets are first
    brought to (B, T)."""
    if layout is not None:
        inputs, targets = _batch_first(inputs, targets, layout)
    if not isinstance(targets, torch.Tensor) or targets.dim() < 2 or targets.shape[1] < 2 or targets.shape[0] < 2:
        return None
    x = next((t for t in tensors(inputs) if t.shape == targets.shape
              and t.is_floating_point() == targets.is_floating_point()), None)
    if x is None:
        return None
    y = targets[:, :-1]  # (B, T-1, ...)
    keep = (y != ignore) if ignore is not None and not y.is_floating_point() else torch.ones_like(y, dtype=torch.bool)
    keep = keep.reshape(*y.shape[:2], -1).all(-1)  # (B, T-1) positions scored
    n = int(keep.sum())
    if n == 0:
        return None
    shares = []
    for other in (x, x.roll(1, dims=0)):  # this sample's inputs, another sample's
        same = (y == other[:, 1:]).reshape(*y.shape[:2], -1).all(-1)  # (B, T-1)
        shares.append(float((same & keep).sum()) / n)
    return shares[0], shares[1]


def _batch_first(inputs, targets, layout):
    """The first input tensor and the targets as (B, T, ...), by the layout of that input."""
    x = next(iter(tensors(inputs)), None)
    if x is None:
        return inputs, targets
    return layout.batch_first(x, tuple(x.shape)), layout.batch_first(targets, tuple(x.shape))


def predicts_next_step(inputs, targets, ignore: int | None = None, share: float = SHIFT_SHARE,
                       layout=None) -> bool:
    """Whether the data is next-step prediction: its targets are its inputs shifted by one (along the layout's
    time axis) at `share` of the positions (a check passes its option `shift_share`)."""
    shares = next_step_shares(inputs, targets, ignore, layout)
    return shares is not None and shares[0] >= share and shares[1] <= shares[0] / 2
