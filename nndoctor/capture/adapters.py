"""The user's loss and data as the checks take them: `loss(outputs, targets)` and an iterable of batches.

The script's loss call is reproduced from what capture saw of it:
- a loss module called on the model's output is used as it is (`criterion`);
- a functional loss with a module form is that module with the call's keyword arguments
  (`F.cross_entropy(out, y, ignore_index=0)` -> `nn.CrossEntropyLoss(ignore_index=0)`), so the checks know its
  kind, class weights and ignored index as they do in a config run; another function is called with its extra
  arguments (`CalledLoss`);
- reshapes and casts the loop applied to the output before the loss (`logits.view(-1, V)`) are applied again
  inside the loss; a loss module keeps its class (a subclass of it whose forward applies them first).

The data: the captured DataLoader itself when its batches go to the model and the loss unchanged (with the
config's `batch` spec when the inputs and targets sit elsewhere than at 0 and 1); `AdaptedLoader` over it when
the loop picks, reshapes or casts them first; the batches the loop gave the model when they came from elsewhere
(`RecordedBatches`).
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Iterator

import torch
from torch import nn

from . import ops

LOSS_ATTRIBUTES = ("weight", "pos_weight", "ignore_index", "reduction", "label_smoothing")


# -- the loss ---------------------------------------------------------------------------------------------------
def split_target_chain(target_chain: tuple, input_chain: tuple) -> tuple[tuple, tuple]:
    """(the part the data applies, the part the loss applies) of the loop's operations on the targets.

    When the loop flattens the output before the loss (`logits.view(-1, V)`), it flattens the targets too
    (`y.view(-1)`): both belong to the loss, so that the checks see outputs and targets with their batch and time
    axes, as a config's loss function would take them. When it also slices the output (a causal LM's shift,
    `logits[..., :-1, :]` against `labels[..., 1:]`), the targets' whole chain belongs to the loss."""
    if any(op[0] == "getitem" for op in input_chain):
        return (), target_chain
    if not any(op[0] in ("reshape", "flatten") for op in input_chain):
        return target_chain, ()
    cut = len(target_chain)
    while cut > 0 and target_chain[cut - 1][0] in ("reshape", "flatten"):
        cut -= 1
    return target_chain[:cut], target_chain[cut:]


def chained(module: nn.Module, chain: tuple, target_chain: tuple = ()) -> nn.Module:
    """A copy of the loss module `module` that applies `chain` to its input (and `target_chain` to its target)
    first, still an instance of its class (the checks tell the loss's kind by its class)."""
    cls = type(module)

    def forward(self, input, target, *args, **kwargs):
        return super(sub, self).forward(ops.replay(chain, input), ops.replay(target_chain, target), *args, **kwargs)

    sub = type(cls.__name__, (cls,), {"forward": forward, "__module__": cls.__module__,
                                      "__qualname__": cls.__qualname__, "nndoctor_chain": (chain, target_chain)})
    out = copy.deepcopy(module)
    out.__class__ = sub
    return out


class CalledLoss:
    """A loss function called as the script called it: `fn(chain(outputs), targets, *extra, **kwargs)`. The
    keyword arguments a check reads off a loss module (`ignore_index`, `weight`, ...) are attributes."""

    def __init__(self, fn: Any, extra: tuple = (), kwargs: dict | None = None, chain: tuple = (),
                 target_chain: tuple = ()) -> None:
        self.fn, self.extra, self.kwargs = fn, tuple(extra), dict(kwargs or {})
        self.chain, self.target_chain = chain, target_chain
        for name in LOSS_ATTRIBUTES:
            if name in self.kwargs:
                setattr(self, name, self.kwargs[name])
            elif isinstance(fn, nn.Module) and hasattr(fn, name):  # a loss module's ignore_index, weight
                setattr(self, name, getattr(fn, name))

    def __call__(self, outputs, targets):
        return self.fn(ops.replay(self.chain, outputs), ops.replay(self.target_chain, targets), *self.extra,
                       **self.kwargs)

    def __repr__(self) -> str:
        return describe_call(self.fn, self.extra, self.kwargs)


def bound_arguments(fn: Any, args: tuple, kwargs: dict) -> dict | None:
    """The call's arguments after (input, target), by name, those that differ from the defaults only (a torch
    function mode is given every argument, defaults included)."""
    try:
        sig = inspect.signature(fn)
        bound = sig.bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None
    params = sig.parameters
    first_two = list(params)[:2]

    def is_default(name, value):
        default = params[name].default
        if isinstance(value, torch.Tensor) or isinstance(default, torch.Tensor):
            return value is default
        return value is default or (default is not inspect.Parameter.empty and value == default)

    return {k: v for k, v in bound.arguments.items() if k not in first_two and not is_default(k, v)}


def loss_from_call(fn: Any, args: tuple, kwargs: dict, chain: tuple, target_chain: tuple = ()) -> Any:
    """The loss the checks call as `loss(outputs, targets)`, reproducing one call the script made; `chain` and
    `target_chain` are the operations it applies to them first."""
    extra_args, extra_kwargs = tuple(args[2:]), {k: v for k, v in kwargs.items() if k not in ("input", "target")}
    chains = chain or target_chain
    if isinstance(fn, nn.Module):
        # With a softmax between the model and the loss, the loss's class no longer says what it is given (NLLLoss
        # after the loop's log_softmax is a cross-entropy on the model's output): the checks judge a function.
        if extra_args or extra_kwargs or ops.squashes(chain):
            return CalledLoss(fn, extra_args, extra_kwargs, chain, target_chain)
        return chained(fn, chain, target_chain) if chains else fn
    bound = bound_arguments(fn, args, kwargs)
    module_cls = ops.LOSS_MODULES.get(fn)
    if bound is not None and module_cls is not None and not ops.squashes(chain):
        accepted = inspect.signature(module_cls.__init__).parameters
        if all(k in accepted for k in bound):
            module = module_cls(**bound)
            return chained(module, chain, target_chain) if chains else module
    if bound is not None:
        return CalledLoss(fn, (), bound, chain, target_chain)
    return CalledLoss(fn, extra_args, extra_kwargs, chain, target_chain)


def describe_call(fn: Any, extra: tuple = (), kwargs: dict | None = None) -> str:
    """`F.cross_entropy(ignore_index=0)`, `CrossEntropyLoss(label_smoothing=0.1)`: a loss call, briefly."""
    if isinstance(fn, nn.Module):
        name = type(fn).__name__
    elif getattr(fn, "__module__", "") == "torch.nn.functional":
        name = f"F.{fn.__name__}"
    else:
        name = getattr(fn, "__name__", str(fn))
    parts = [_short(a) for a in extra] + [f"{k}={_short(v)}" for k, v in (kwargs or {}).items()]
    return f"{name}({', '.join(parts)})"


def describe_module_loss(module: nn.Module) -> str:
    """A loss module with the settings that differ from its class's defaults."""
    try:
        fresh = type(module)() if not hasattr(module, "nndoctor_chain") else type(module).__mro__[1]()
    except Exception:
        return f"{type(module).__name__}()"
    changed = []
    for name in LOSS_ATTRIBUTES + ("beta", "delta", "log_target"):
        mine, default = getattr(module, name, None), getattr(fresh, name, None)
        if isinstance(mine, torch.Tensor) or (mine is not None and mine != default):
            changed.append(f"{name}={_short(mine)}")
    return f"{type(module).__name__}({', '.join(changed)})"


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor{list(value.shape)}"
    return repr(value)


# -- the data ---------------------------------------------------------------------------------------------------
def pick(batch: Any, path: tuple) -> Any:
    """The element of a raw batch at `path` (indices and keys)."""
    for key in path:
        batch = batch[key]
    return batch


class AdaptedLoader:
    """The captured loader, each batch turned into `(inputs, targets)` as the script's loop made them.

    `inputs` is `[(slot, path, chain)]` with slot `args.i` or `kwargs.name` (and `constants` the arguments that
    are not tensors); the model gets one tensor, a tuple
    (several positional inputs) or a dict (keyword inputs). Attributes (sampler, dataset, batch_size) are the
    loader's: the checks read them."""

    def __init__(self, loader: Any, inputs: list[tuple[str, tuple, tuple]], target: tuple[tuple, tuple] | None,
                 constants: dict | None = None):
        self.loader, self.inputs, self.target = loader, inputs, target
        self.constants = dict(constants or {})  # slot -> an argument that is not a tensor (a flag)

    def adapt(self, raw: Any) -> tuple:
        values = {slot: ops.replay(chain, pick(raw, path)) for slot, path, chain in self.inputs}
        values.update(self.constants)
        if all(s.startswith("kwargs.") for s in values):
            inputs: Any = {s.split(".", 1)[1]: v for s, v in values.items()}
        elif len(values) == 1:
            inputs = next(iter(values.values()))
        else:
            inputs = tuple(values[s] for s in sorted(values, key=lambda s: int(s.split(".")[1])))
        targets = ops.replay(self.target[1], pick(raw, self.target[0])) if self.target else None
        return inputs, targets

    def __iter__(self) -> Iterator[tuple]:
        for raw in self.loader:
            yield self.adapt(raw)

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        if name in ("loader", "inputs", "target", "constants"):
            raise AttributeError(name)
        return getattr(self.loader, name)


class RecordedBatches(list):
    """The `(inputs, targets)` the script's loop gave its model and loss, for a loop whose batches do not come
    from a DataLoader as they are (a generator, tensors sliced by hand, inputs computed in the loop)."""
