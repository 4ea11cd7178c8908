"""Reading and unpacking batches: the one place that knows what a batch looks like.

A batch from the user's loader is a tuple/list `(inputs, targets, ...)`, a dict, or a lone tensor. The config's
`batch` key (`batch=` in the API) says where the inputs and the targets are:

- `inputs`: a position (tuple batches) or a key (dict batches), or a list of them. One position or key gives one
  input, passed as `model(x)`; a list of positions gives `model(batch[0], batch[1])`, a list of keys gives
  `model(img=batch["img"], mask=batch["mask"])`. A tuple batch's input that is itself a tuple is passed as
  positional arguments, a dict as keyword arguments.
- `targets`: one position or key, handed to the loss as `loss(outputs, targets)`; `null` (None) for a loss that
  takes no targets.
- Defaults: tuple batches take inputs at 0 and targets at the first position the inputs leave free (1, or 2 for
  `inputs: [0, 1]`); a one-item tuple and a lone tensor are inputs only. Dict batches take the targets from the
  first of the keys targets/target/labels/label/y and pass every other key as a keyword argument.

So a flat `(x1, x2, y)` batch is `batch: {inputs: [0, 1], targets: 2}`, and `{"img": ..., "cls": ...}` is
`batch: {inputs: img, targets: cls}`.

When the batch or the model's output cannot be mapped this way, `unpack` and `take_output` raise `WiringError`:
one line that names the config key to set (`batch` or `outputs`), what the batch or output holds, and the value
to set, never a traceback from inside torch.

The loader's own random generators (its `generator=`, its sampler's) are restored after reading, so the user's
next epoch is exactly what it would have been without nndoctor.

Sparse tensors (a graph's adjacency as torch.sparse) are structure, not samples: they travel with the batch (moved
and copied whole by `to_device`), `tensors` and `first_tensor` leave them out (the value checks read the dense
tensors; `tensors(x, sparse=True)` includes them), `map_tensors(..., sparse=False)` passes them through untouched
(perturbing, blanking), and a batch that holds one is a single sample set (`head` keeps it whole: a full-batch
graph's nodes are connected by design and cannot be cut apart).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch

TARGET_KEYS = ("targets", "target", "labels", "label", "y")


class WiringError(ValueError):
    """The batch or the model's output does not fit the config's `batch` or `outputs` key.

    `key` is the config key to set ("batch" or "outputs"); the message says what the batch or output holds and
    what to set the key to, in one line.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass
class Batch:
    inputs: Any  # Tensor, tuple of tensors (positional arguments) or dict (keyword arguments)
    targets: Any  # usually a Tensor; None for a loader that yields inputs only
    targets_key: Any = None  # a dict batch's key of the targets (`labels`): the keyword a model loss takes them by

    @property
    def size(self) -> int:
        t = first_tensor(self.inputs)
        return int(t.shape[0]) if t is not None and t.dim() > 0 else 1


def is_sparse(t: torch.Tensor) -> bool:
    """A sparse tensor (COO, CSR, ...): any layout but the dense, strided one."""
    return t.layout != torch.strided


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], Any], sparse: bool = True) -> Any:
    """Apply `fn` to every tensor inside nested tuples, lists and dicts; other leaves are kept. With
    `sparse=False`, sparse tensors are kept as they are too (an operation on samples leaves structure alone)."""
    if isinstance(obj, torch.Tensor):
        return fn(obj) if sparse or not is_sparse(obj) else obj
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn, sparse) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(map_tensors(v, fn, sparse) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(v, fn, sparse) for v in obj)
    return obj


def tensors(obj: Any, sparse: bool = False) -> list[torch.Tensor]:
    """Every dense tensor inside `obj`, in order; with `sparse=True` the sparse ones too."""
    found: list[torch.Tensor] = []
    map_tensors(obj, lambda t: found.append(t) if sparse or not is_sparse(t) else None)
    return found


def first_tensor(obj: Any) -> torch.Tensor | None:
    """The first dense tensor inside `obj` (its first dimension is the batch's size), or None."""
    ts = tensors(obj)
    return ts[0] if ts else None


def to_device(obj: Any, device: torch.device | str) -> Any:
    """A copy on `device`: the user's batch is never shared with a check that might write into it."""
    return map_tensors(obj, lambda t: t.detach().to(device).clone())


# -- unpacking one batch -----------------------------------------------------------------------------------------
def _kinds(items: Iterable) -> str:
    """`Tensor, Tensor, int`: the types of a batch's or an output's items, for an error message."""
    return ", ".join(type(v).__name__ for v in items)


def _yaml(value: Any) -> str:
    """A spec value as the config would write it: `img`, `2`, `[0, 1]`."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return str(value)


def _describe(raw: Any) -> str:
    if isinstance(raw, dict):
        return f"a dict with keys {list(raw.keys())}"
    return f"a {type(raw).__name__} of {len(raw)} items ({_kinds(raw)})"


def _pick(raw: Any, key: Any, what: str, spec: dict) -> Any:
    """`raw[key]`, or a WiringError that says what the batch holds and what `batch: {what: ...}` may be."""
    if isinstance(raw, dict):
        if key in raw:
            return raw[key]
        valid = f"one of its keys {list(raw.keys())}"
    else:
        if isinstance(key, int) and not isinstance(key, bool) and -len(raw) <= key < len(raw):
            return raw[key]
        valid = f"a position 0..{len(raw) - 1}"
    given = {k: spec[k] for k in ("inputs", "targets") if k in spec}
    shown = "`batch: {" + ", ".join(f"{k}: {_yaml(v)}" for k, v in given.items()) + "}`" if given else "the default"
    raise WiringError("batch", f"{shown}: the batch is {_describe(raw)}, which has no {what} at {key!r}: "
                      f"set `batch: {{{what}: ...}}` to {valid}")


def _take_inputs(raw: Any, ikey: Any, spec: dict) -> Any:
    """One input (`model(x)`), or for a list of positions/keys a tuple (`model(*x)`) or a dict (`model(**x)`)."""
    if not isinstance(ikey, (list, tuple)):
        return _pick(raw, ikey, "inputs", spec)
    if isinstance(raw, dict):
        return {k: _pick(raw, k, "inputs", spec) for k in ikey}
    return tuple(_pick(raw, k, "inputs", spec) for k in ikey)


def _unpack_dict(raw: dict, spec: dict) -> Batch:
    ikey = spec.get("inputs")
    inputs = _take_inputs(raw, ikey, spec) if ikey is not None else None
    if "targets" in spec:
        tkey = spec["targets"]
    else:
        tkey = next((k for k in TARGET_KEYS if k in raw), None)
        if tkey is None and len(raw) > 1:
            raise WiringError("batch", f"the batch is {_describe(raw)} and none of {'/'.join(TARGET_KEYS)}: set "
                              f"`batch: {_suggest_dict_spec(raw, ikey)}`")
    targets = _pick(raw, tkey, "targets", spec) if tkey is not None else None
    if ikey is None:  # every other key is an input, passed as keyword arguments
        return Batch(inputs={k: v for k, v in raw.items() if k != tkey}, targets=targets, targets_key=tkey)
    return Batch(inputs=inputs, targets=targets, targets_key=tkey)


def _suggest_dict_spec(raw: dict, ikey: Any) -> str:
    """`{inputs: img, targets: cls}`: the given inputs (else every key but the last) and the last other key."""
    keys = list(raw.keys())
    taken = list(ikey) if isinstance(ikey, (list, tuple)) else [ikey] if ikey is not None else []
    free = [k for k in keys if k not in taken]
    target = free[-1] if free else keys[-1]
    inputs = taken or [k for k in keys if k != target]
    return f"{{inputs: {_yaml(inputs[0] if len(inputs) == 1 else inputs)}, targets: {target}}}"


def _unpack_sequence(raw: list | tuple, spec: dict) -> Batch:
    if len(raw) == 1 and "targets" not in spec and not isinstance(spec.get("inputs"), (list, tuple)):
        return Batch(inputs=_pick(raw, spec.get("inputs", 0), "inputs", spec), targets=None)
    ikey = spec.get("inputs", 0)
    inputs = _take_inputs(raw, ikey, spec)
    if "targets" in spec:
        tkey = spec["targets"]
    else:  # the first position the inputs leave free
        taken = set(ikey) if isinstance(ikey, (list, tuple)) else {ikey}
        tkey = next((i for i in range(len(raw)) if i not in taken and i - len(raw) not in taken), len(raw))
    targets = _pick(raw, tkey, "targets", spec) if tkey is not None else None
    return Batch(inputs=inputs, targets=targets)


def unpack(raw: Any, spec: dict | None = None) -> Batch:
    """Split one raw batch into inputs and targets following the config's `batch` spec (see the module's
    docstring). Raises WiringError when the spec does not fit the batch."""
    spec = spec or {}
    if isinstance(raw, torch.Tensor):
        return Batch(inputs=raw, targets=None)
    if isinstance(raw, dict):
        return _unpack_dict(raw, spec)
    if isinstance(raw, (list, tuple)):
        return _unpack_sequence(raw, spec)
    raise ValueError(f"a batch must be a tensor, a tuple/list or a dict, not {type(raw).__name__}")


# -- reading batches, leaving the loader as it was ------------------------------------------------------------------
def loader_generators(data: Any) -> list[torch.Generator]:
    """The random generators that reading `data` advances: a DataLoader's `generator=` (it also seeds the
    workers), its sampler's and batch sampler's own `generator` (RandomSampler(generator=...)), the dataset's."""
    batch_sampler = getattr(data, "batch_sampler", None)
    holders = [data, getattr(data, "sampler", None), batch_sampler, getattr(batch_sampler, "sampler", None),
               getattr(data, "dataset", None)]
    found: list[torch.Generator] = []
    for holder in holders:
        g = getattr(holder, "generator", None) if holder is not None else None
        if isinstance(g, torch.Generator) and not any(g is f for f in found):
            found.append(g)
    return found


@contextmanager
def generators_kept(data: Any) -> Iterator[None]:
    """Restores the loader's generators afterwards, so the user's next `iter(loader)` yields what it would have."""
    saved = [(g, g.get_state()) for g in loader_generators(data)]
    try:
        yield
    finally:
        for g, state in saved:
            g.set_state(state)


def read_batches(data: Iterable, limit: int, spec: dict | None = None) -> list[Batch]:
    """At most `limit` batches from `data`, so a run's cost does not grow with the dataset. The loader's random
    generators are left as they were."""
    out: list[Batch] = []
    if limit <= 0:
        return out
    with generators_kept(data):
        for raw in data:
            out.append(unpack(raw, spec))
            if len(out) >= limit:
                break
    return out


NO_TARGETS = object()  # call_model's default: forward is not handed the targets


def call_model(model: torch.nn.Module, inputs: Any, targets: Any = NO_TARGETS, targets_arg: Any = None) -> Any:
    """model(x), model(*x) for a tuple of inputs, or model(**x) for a dict; with `targets` (a model that computes
    its own loss) also the targets, where `targets_arg` says: a keyword name (`model(x, labels=y)`), or a position
    among the positional arguments (`model(x, y)`); None: the next positional argument after the inputs."""
    args, kwargs = _arguments(inputs)
    if targets is not NO_TARGETS:
        if isinstance(targets_arg, str) and not _is_index(targets_arg):
            kwargs[targets_arg] = targets
        elif targets_arg is None:
            args.append(targets)
        elif kwargs and not args:
            raise WiringError("batch", f"`targets_arg: {targets_arg}`: the inputs are keyword arguments "
                              f"({', '.join(kwargs)}); set `batch: {{targets_arg: NAME}}` to forward's keyword for "
                              "the targets")
        else:
            index = int(targets_arg)
            args.insert(index if index >= 0 else len(args) + index + 1, targets)
    return model(*args, **kwargs)


def _arguments(inputs: Any) -> tuple[list, dict]:
    """The positional and keyword arguments the inputs make."""
    if isinstance(inputs, dict):
        return [], dict(inputs)
    if isinstance(inputs, (tuple, list)) and not isinstance(inputs, torch.Tensor):
        return list(inputs), {}
    return [inputs], {}


# -- the model's output ------------------------------------------------------------------------------------------
def _is_index(key: Any) -> bool:
    return (isinstance(key, int) and not isinstance(key, bool)) or str(key).lstrip("-").isdigit()


def _tensor_fields(out: Any) -> list[str]:
    """The names (keys, positions or attributes) under which `out` holds a tensor, for a suggestion."""
    if isinstance(out, dict):
        return [str(k) for k, v in out.items() if isinstance(v, torch.Tensor)]
    if isinstance(out, (tuple, list)):
        return [str(i) for i, v in enumerate(out) if isinstance(v, torch.Tensor)]
    return [k for k, v in vars(out).items() if isinstance(v, torch.Tensor)] if hasattr(out, "__dict__") else []


def _set_outputs(out: Any) -> str:
    """`set `outputs: out` in the config` (the first tensor it holds), or what to do when it holds none."""
    fields = _tensor_fields(out)
    if fields:
        return f"set `outputs: {fields[0]}` in the config (the one the loss takes)"
    return "return the output tensor from forward, or set `outputs` to the key or attribute that holds it"


def _unmapped(out: Any) -> WiringError:
    """No rule maps this return value to a tensor: a dict without `logits`, a tuple, another object."""
    if isinstance(out, dict):
        what = f"a dict with keys {list(out.keys())} and no 'logits'"
    elif isinstance(out, (tuple, list)):
        what = f"a {type(out).__name__} of {len(out)} items ({_kinds(out)}), not a tensor"
    else:
        what = f"a {type(out).__name__} with no `logits` attribute, not a tensor"
    return WiringError("outputs", f"the model returns {what}: {_set_outputs(out)}")


def _missing(out: Any, key: Any) -> WiringError:
    """`outputs: key` names nothing in this return value."""
    if isinstance(out, torch.Tensor):
        held = f"a Tensor, which has no {'item' if _is_index(key) else 'attribute'} {key}"
        fix = "remove `outputs`"
    elif isinstance(out, dict):
        held, fix = f"a dict with keys {list(out.keys())} and no {key!r}", _set_outputs(out)
    elif isinstance(out, (tuple, list)):
        held = f"a {type(out).__name__} of {len(out)} items ({_kinds(out)}), which has no item {key}"
        fix = _set_outputs(out)
    else:
        held, fix = f"a {type(out).__name__}, which has no attribute {key!r}", _set_outputs(out)
    return WiringError("outputs", f"`outputs: {key}`: the model returns {held}: {fix}")


def take_output(out: Any, key: str | int | None, need_tensor: bool = True) -> Any:
    """The config's `outputs` key: an attribute, a key or a position of the model's return value (e.g. `logits`).

    Without a key: a tensor as it is, else its `logits` (key or attribute). A return value that no rule maps to
    a tensor raises WiringError when `need_tensor` (the loss takes a tensor, as torch's losses do); otherwise it
    is handed to the loss as it is (a loss of the user's own may take a tuple). A key that names nothing in the
    return value always raises WiringError.
    """
    if key is None:
        if isinstance(out, torch.Tensor):
            return out
        if isinstance(out, dict) and "logits" in out:
            return out["logits"]
        if not isinstance(out, dict) and hasattr(out, "logits"):
            return out.logits
        if need_tensor and out is not None:  # None: the forward forgot to return; the loss's error shows it
            raise _unmapped(out)
        return out
    if isinstance(out, torch.Tensor):
        raise _missing(out, key)
    if isinstance(out, dict):
        if key in out:
            return out[key]
        raise _missing(out, key)
    if isinstance(out, (tuple, list)) and _is_index(key):
        if -len(out) <= int(key) < len(out):
            return out[int(key)]
        raise _missing(out, key)
    if isinstance(key, str) and hasattr(out, key):
        return getattr(out, key)
    raise _missing(out, key)


def output_key(outputs: Any, part: str = "logits") -> Any:
    """The key of one part of the model's return value in the config's `outputs`: a key, index or attribute
    (`outputs: logits` names the logits), or a mapping `{logits: KEY, loss: KEY}`; None: the default rule."""
    if isinstance(outputs, dict):
        return outputs.get(part)
    return outputs if part == "logits" else None


def take_parts(out: Any, outputs: Any, need_tensor: bool = True, model_loss: bool = False) -> tuple[Any, Any]:
    """(logits, loss) from the model's return value, as the config's `outputs` says. Without `model_loss` the
    loss is None and the logits are `take_output`'s. With it (`loss: model`), a tuple's first item is the logits
    by default (`logits, loss = model(idx, targets)`), and the loss is `outputs: {loss: KEY}`, else the return
    value's `loss` key or attribute (a Hugging Face ModelOutput), else a tuple's second item; it is None when the
    model returned none (called without targets, nanoGPT returns `(logits, None)`)."""
    logits_key = output_key(outputs, "logits")
    if not model_loss:
        return take_output(out, logits_key, need_tensor), None
    if logits_key is None and isinstance(out, (tuple, list)) and out:
        logits = out[0]
    else:
        logits = take_output(out, logits_key, need_tensor=False)
    return logits, take_loss(out, output_key(outputs, "loss"))


def take_loss(out: Any, key: Any) -> Any:
    """The model's own loss in its return value (see `take_parts`), or None when it holds none."""
    if key is not None:
        return take_output(out, key, need_tensor=False)
    if isinstance(out, dict):
        return out.get("loss")
    if isinstance(out, (tuple, list)):
        return out[1] if len(out) >= 2 else None
    return getattr(out, "loss", None)


def head(batch: Batch, n: int) -> Batch:
    """The first `n` samples of a batch: every tensor whose first dimension is the batch size is cut to `n`. A
    batch that holds a sparse tensor (a graph's adjacency over its nodes) is one sample set: it is kept whole."""
    size = batch.size
    if n >= size or holds_sparse(batch):
        return batch
    cut = lambda t: t[:n] if t.dim() > 0 and t.shape[0] == size else t  # noqa: E731  (B, ...) -> (n, ...)
    return Batch(map_tensors(batch.inputs, cut), map_tensors(batch.targets, cut))


def holds_sparse(batch: Batch) -> bool:
    """The batch's inputs or targets hold a sparse tensor: structure (an adjacency) that samples cannot be cut from."""
    return any(is_sparse(t) for t in tensors((batch.inputs, batch.targets), sparse=True))


def population(data) -> int | None:
    """How many samples a loader draws from: its sampler's explicit indices, else len(loader.dataset); None for an
    iterable dataset (no length), a plain iterable of batches, or a DataLoader with automatic batching off
    (`batch_size=None`: each item of the dataset is already a batch, so its length counts batches, not samples)."""
    if isinstance(data, torch.utils.data.DataLoader) and data.batch_size is None and data.batch_sampler is None:
        return None
    indices = getattr(order_sampler(data), "indices", None)
    try:
        if indices is not None:
            return len(indices)
        dataset = getattr(data, "dataset", None)
        return len(dataset) if dataset is not None else None
    except TypeError:  # an IterableDataset has no length
        return None


def order_sampler(data) -> Any:
    """The sampler that decides a loader's read order: its batch sampler's own sampler (a DataLoader given
    `batch_sampler=BatchSampler(RandomSampler(...))`, as Hugging Face and accelerate build them, keeps an unread
    default SequentialSampler in `.sampler`), a batch sampler without one itself, else `.sampler`; None without."""
    batch_sampler = getattr(data, "batch_sampler", None)
    if batch_sampler is not None:
        inner = getattr(batch_sampler, "sampler", None)
        return inner if inner is not None else batch_sampler
    return getattr(data, "sampler", None)


def reads_in_order(data) -> bool:
    """True for a DataLoader that reads its dataset in one fixed order every epoch (shuffle=False): a
    SequentialSampler decides the order (see `order_sampler`), or a plain sequence of indices given as the
    sampler (`sampler=train_idx`, a list, tuple or range, which DataLoader iterates as it is)."""
    sampler = order_sampler(data)
    return isinstance(sampler, (torch.utils.data.SequentialSampler, list, tuple, range))
