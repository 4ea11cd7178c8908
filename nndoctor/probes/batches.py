"""Reading and unpacking batches: the one place that knows what a batch looks like.

A batch from the user's loader is a tuple/list `(inputs, targets, ...)`, a dict, or a lone tensor. The config's
`batch` key says where the inputs and the targets are (an index, default 0 and 1, or a key for dict batches).
Inputs may be one tensor, a tuple of tensors (passed as positional arguments) or a dict (keyword arguments).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

TARGET_KEYS = ("targets", "target", "labels", "label", "y")


@dataclass
class Batch:
    inputs: Any  # Tensor, tuple of tensors (positional arguments) or dict (keyword arguments)
    targets: Any  # usually a Tensor; None for a loader that yields inputs only

    @property
    def size(self) -> int:
        t = first_tensor(self.inputs)
        return int(t.shape[0]) if t is not None and t.dim() > 0 else 1


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """Apply `fn` to every tensor inside nested tuples, lists and dicts; other leaves are kept."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(map_tensors(v, fn) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(v, fn) for v in obj)
    return obj


def tensors(obj: Any) -> list[torch.Tensor]:
    """Every tensor inside `obj`, in order."""
    found: list[torch.Tensor] = []
    map_tensors(obj, lambda t: found.append(t))
    return found


def first_tensor(obj: Any) -> torch.Tensor | None:
    ts = tensors(obj)
    return ts[0] if ts else None


def to_device(obj: Any, device: torch.device | str) -> Any:
    """A copy on `device`: the user's batch is never shared with a check that might write into it."""
    return map_tensors(obj, lambda t: t.detach().to(device).clone())


def _pick(raw: Any, key: Any, what: str) -> Any:
    try:
        return raw[key]
    except (KeyError, IndexError, TypeError) as exc:
        kind = type(raw).__name__
        keys = list(raw.keys()) if isinstance(raw, dict) else f"{len(raw)} items" if hasattr(raw, "__len__") else "?"
        raise ValueError(f"cannot take the {what} at {key!r} from a {kind} batch ({keys}); "
                         f"set `batch: {{{what}: ...}}` in the config") from exc


def unpack(raw: Any, spec: dict | None = None) -> Batch:
    """Split one raw batch into inputs and targets following the config's `batch` spec."""
    spec = spec or {}
    if isinstance(raw, torch.Tensor):
        return Batch(inputs=raw, targets=None)
    if isinstance(raw, dict):
        tkey = spec.get("targets")
        if tkey is None:
            tkey = next((k for k in TARGET_KEYS if k in raw), None)
        ikey = spec.get("inputs")
        targets = _pick(raw, tkey, "targets") if tkey is not None else None
        if ikey is None:  # every other key is an input, passed as keyword arguments
            inputs = {k: v for k, v in raw.items() if k != tkey}
        else:
            inputs = _pick(raw, ikey, "inputs")
        return Batch(inputs=inputs, targets=targets)
    if isinstance(raw, (list, tuple)):
        if len(raw) == 1 and "targets" not in spec:
            return Batch(inputs=raw[0], targets=None)
        inputs = _pick(raw, spec.get("inputs", 0), "inputs")
        targets = _pick(raw, spec.get("targets", 1), "targets")
        return Batch(inputs=inputs, targets=targets)
    raise ValueError(f"a batch must be a tensor, a tuple/list or a dict, not {type(raw).__name__}")


def read_batches(data: Iterable, limit: int, spec: dict | None = None) -> list[Batch]:
    """At most `limit` batches from `data`, so a run's cost does not grow with the dataset."""
    out: list[Batch] = []
    if limit <= 0:
        return out
    for raw in data:
        out.append(unpack(raw, spec))
        if len(out) >= limit:
            break
    return out


def call_model(model: torch.nn.Module, inputs: Any) -> Any:
    """model(x), model(*x) for a tuple of inputs, or model(**x) for a dict."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)) and not isinstance(inputs, torch.Tensor):
        return model(*inputs)
    return model(inputs)


def take_output(out: Any, key: str | None) -> Any:
    """The config's `outputs` key: an attribute or a key of the model's return value (e.g. `logits`)."""
    if key is None:
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, dict) and "logits" in out:
            return out["logits"]
        if hasattr(out, "logits"):
            return out.logits
        return out
    if isinstance(out, dict):
        return out[key]
    if isinstance(out, (tuple, list)) and str(key).isdigit():
        return out[int(key)]
    return getattr(out, key)


def head(batch: Batch, n: int) -> Batch:
    """The first `n` samples of a batch: every tensor whose first dimension is the batch size is cut to `n`."""
    size = batch.size
    if n >= size:
        return batch
    cut = lambda t: t[:n] if t.dim() > 0 and t.shape[0] == size else t  # noqa: E731  (B, ...) -> (n, ...)
    return Batch(map_tensors(batch.inputs, cut), map_tensors(batch.targets, cut))
