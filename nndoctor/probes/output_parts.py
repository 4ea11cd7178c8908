"""The model's output as the loss consumes it: one tensor, or a structure the loss takes whole (a VAE's
`(recon, mu, logvar)`), and which rows of it the loss scores (a loss over `output[idx_train]`).

The rule for the tensor that plays the logits / reconstruction role, the *primary* tensor, in this order:
1. a tensor is its own primary;
2. in a structure (nested tuples, lists, dicts), the first tensor that fits the targets: of the targets' shape,
   of their number of elements (a reconstruction (B, 784) of (B, 1, 28, 28) images), or of their shape with one
   class axis more ((B, C) against (B,));
3. else (no targets, nothing fits) the first floating-point tensor, else the first tensor.

Checks measure the primary tensor and always hand the loss the whole structure, with the primary replaced by a
candidate where they try one (`Output.with_tensor`), so that the parts the loss also reads (mu, logvar) stay
what the model returned.

    out = split_output(ctx.forward(model, x), y)   # Output(whole, path, tensor)
    loss_fn(out.with_tensor(candidate), y)          # the structure, the primary replaced
    scored_rows(loss_fn, out, y)                    # rows the loss reads: None when it reads every row
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from .batches import map_tensors

Path = tuple  # keys and positions from the whole to one tensor; () for a tensor


def leaves(obj: Any, path: Path = ()) -> list[tuple[Path, torch.Tensor]]:
    """(path, tensor) for every tensor inside nested tuples, lists and dicts, in order."""
    if isinstance(obj, torch.Tensor):
        return [(path, obj)]
    if isinstance(obj, dict):
        return [leaf for k, v in obj.items() for leaf in leaves(v, path + (k,))]
    if isinstance(obj, (list, tuple)):
        return [leaf for i, v in enumerate(obj) for leaf in leaves(v, path + (i,))]
    return []


def detached(obj: Any) -> Any:
    """The structure with every tensor detached (the containers rebuilt)."""
    return map_tensors(obj, lambda t: t.detach())


def replace_at(obj: Any, path: Path, new: Any) -> Any:
    """A copy of the structure `obj` with the item at `path` replaced by `new` (the containers are rebuilt; the
    other items are shared, not copied)."""
    if not path:
        return new
    key, rest = path[0], path[1:]
    if isinstance(obj, dict):
        out = type(obj)(obj) if type(obj) is not dict else dict(obj)
        out[key] = replace_at(obj[key], rest, new)
        return out
    items = list(obj)
    items[key] = replace_at(items[key], rest, new)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*items)
    return type(obj)(items)


def fits(t: torch.Tensor, targets: Any) -> bool:
    """`t` can stand against the targets: the same shape, the same number of elements, or one class axis more."""
    if not isinstance(targets, torch.Tensor):
        return False
    if t.shape == targets.shape or (t.numel() == targets.numel() and t.numel() > 1):
        return True
    if t.dim() != targets.dim() + 1:
        return False
    return any(list(t.shape[:d]) + list(t.shape[d + 1:]) == list(targets.shape) for d in (1, t.dim() - 1))


@dataclass
class Output:
    """The model's output as the loss takes it (`whole`) and the primary tensor inside it (at `path`)."""

    whole: Any
    path: Path | None  # None: no tensor in the output
    tensor: torch.Tensor | None

    @property
    def structured(self) -> bool:
        """The loss takes a structure, not one tensor."""
        return bool(self.path)

    def with_tensor(self, t: torch.Tensor) -> Any:
        """The whole output with the primary tensor replaced by `t`: what to hand the loss for a candidate."""
        return t if not self.path else replace_at(self.whole, self.path, t)


def split_output(whole: Any, targets: Any = None) -> Output:
    """The whole output and its primary tensor, by the rule in the module docstring."""
    found = leaves(whole)
    if not found:
        return Output(whole, None, None)
    if len(found) == 1 and not found[0][0]:
        return Output(whole, (), found[0][1])
    pick = next(((p, t) for p, t in found if fits(t, targets)), None) \
        or next(((p, t) for p, t in found if t.is_floating_point()), found[0])
    return Output(whole, pick[0], pick[1])


def primary(whole: Any, targets: Any = None) -> torch.Tensor | None:
    """The tensor that plays the logits / reconstruction role in the model's output (None: no tensor)."""
    return split_output(whole, targets).tensor


def scored_rows(loss_fn: Callable, out: Output, targets: Any, seed: int = 0) -> torch.Tensor | None:
    """The rows (dim 0) of the primary tensor the loss reads, as a bool mask (N,), from the gradient of the loss at
    a random candidate: a loss over `output[idx_train]` leaves every other row without gradient. None when it
    reads every row (or none, or the gradient cannot be had: a loss that raises, a non-float output)."""
    t = out.tensor
    if t is None or not t.is_floating_point() or t.dim() == 0 or t.shape[0] < 2:
        return None
    g = torch.Generator().manual_seed(seed)
    z = (3 * torch.randn(t.shape, generator=g)).to(device=t.device, dtype=t.dtype).requires_grad_(True)
    try:
        with torch.enable_grad():
            value = loss_fn(out.with_tensor(z), targets)
            if not isinstance(value, torch.Tensor) or not value.requires_grad:
                return None
            (grad,) = torch.autograd.grad(value.float().sum(), [z], allow_unused=True)
    except Exception:  # a loss of the wrong kind for this candidate (BCELoss on logits): nothing learnt
        return None
    if grad is None:
        return None
    rows = grad.detach().reshape(grad.shape[0], -1).abs().sum(1) > 0  # (N,)
    return rows if bool(rows.any()) and not bool(rows.all()) else None
