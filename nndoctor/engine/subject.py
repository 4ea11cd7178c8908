"""The user's own objects, as the config (or the Python API) names them, the optimizer factory that builds a
fresh optimizer of the user's kind for a copy of the model, and the one way a module is copied (`copy_module`):
a deep copy that carries none of the user's hooks and shares nothing trainable with the user's model, or a one-line
error that says why the model cannot be copied."""
from __future__ import annotations

import copy
import functools
import inspect
import io
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn


@dataclass
class Subject:
    """The user's own objects, as the config (or the Python API) names them. Never modified."""

    model: nn.Module
    data: Iterable
    loss: Callable  # a loss module or function, or a `probes.losses.ModelLoss` (`loss: model`)
    optimizer: Callable[[nn.Module], torch.optim.Optimizer]  # builds an optimizer for a given model
    val_data: Iterable | None = None
    task: str = "auto"
    num_classes: int | None = None
    batch_spec: dict = field(default_factory=dict)  # inputs, targets, targets_arg (see `probes.batches`)
    outputs: str | int | dict | None = None  # the logits' key, or {logits: KEY, loss: KEY} (see `take_parts`)
    train_step: Callable | None = None
    optimizer_desc: str = "torch.optim.Adam(lr=0.001)"


def optimizer_factory(optimizer: Any, kwargs: dict | None = None, model: nn.Module | None = None):
    """Turn what the user gave into `fn(model) -> Optimizer`.

    - an Optimizer subclass: `cls(model.parameters(), **kwargs)`;
    - an Optimizer instance built for `model`: the same class and per-group settings, mapped onto the copy's
      parameters by name (parameters the user left out stay out, so ND403 can see them);
    - any other callable: a factory `fn(model, **kwargs)`.
    """
    kwargs = dict(kwargs or {})
    if optimizer is None:
        return lambda m: torch.optim.Adam(m.parameters(), lr=1e-3)
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return lambda m: optimizer(m.parameters(), **kwargs)
    if isinstance(optimizer, torch.optim.Optimizer):
        if model is None:
            raise ValueError("an optimizer instance needs the model it was built for")
        names = {id(p): n for n, p in model.named_parameters()}
        groups = []
        for g in optimizer.param_groups:
            settings = {k: v for k, v in g.items() if k != "params"}
            groups.append((settings, [names[id(p)] for p in g["params"] if id(p) in names]))
        cls = type(optimizer)
        # defaults may hold keys the constructor does not take (AdamW's decoupled_weight_decay on torch 2.13)
        accepted = inspect.signature(cls.__init__).parameters
        defaults = {k: v for k, v in optimizer.defaults.items() if k in accepted}

        def build(m: nn.Module) -> torch.optim.Optimizer:
            params = dict(m.named_parameters())
            return cls([{**s, "params": [params[n] for n in ns if n in params]} for s, ns in groups], **defaults)

        return build
    if callable(optimizer):
        return lambda m: optimizer(m, **kwargs)
    raise TypeError(f"optimizer must be an Optimizer class, instance or factory, not {type(optimizer).__name__}")


# -- copies of the user's modules ------------------------------------------------------------------------------------
# Every per-module hook registry `copy.deepcopy` carries over (torch 2.13); `_is_full_backward_hook` goes with
# `_backward_hooks`, and the `_with_kwargs`/`_always_called` maps are keyed by the ids of the hooks they flag.
HOOK_REGISTRIES = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                   "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
                   "_load_state_dict_post_hooks")
HOOK_FLAGS = ("_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs")
COPY_FIX = ("nndoctor diagnoses copies and never your model: keep locks/files outside the module or implement "
            "__deepcopy__")


class ModelCopyError(ValueError):
    """The model cannot be deep-copied; the message names the attribute that holds what cannot be copied."""


def defined_in_torch(fn: Any) -> bool:
    """Whether a callable comes from torch itself (a loss, `F.cross_entropy`, weight_norm's hook), seen through
    partials, bound methods and torch's `_WrappedHook`."""
    for _ in range(8):
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif type(fn).__name__ == "_WrappedHook" and hasattr(fn, "hook"):
            fn = fn.hook
        elif inspect.ismethod(fn):
            fn = fn.__func__
        else:
            break
    plain = inspect.isfunction(fn) or inspect.isbuiltin(fn) or isinstance(fn, type)
    module = (getattr(fn, "__module__", None) if plain else type(fn).__module__) or ""
    return module == "torch" or module.startswith("torch.")


def _is_own_hook(hook: Any, modules: set[int]) -> bool:
    """A hook that is part of the model's machinery: torch's own (weight_norm, spectral_norm, pruning, lazy
    modules) or a method of one of the copy's modules (it acts on the copy). Any other hook (a function, a lambda,
    a logger's method) is the user's: it would append to the user's lists or log to the user's run."""
    if defined_in_torch(hook):
        return True
    target = hook.hook if type(hook).__name__ == "_WrappedHook" and hasattr(hook, "hook") else hook
    return inspect.ismethod(target) and id(target.__self__) in modules


def strip_user_hooks(model: nn.Module) -> nn.Module:
    """Remove the user's hooks from every module of `model` (a copy: never call this on the user's model)."""
    modules = {id(m) for m in model.modules()}
    for m in model.modules():
        for name in HOOK_REGISTRIES:
            registry = getattr(m, name, None)
            if not registry:
                continue
            for hook_id in [k for k, h in registry.items() if not _is_own_hook(h, modules)]:
                del registry[hook_id]
                for flag in HOOK_FLAGS:
                    getattr(m, flag, {}).pop(hook_id, None)
        if not getattr(m, "_backward_hooks", None) and hasattr(m, "_is_full_backward_hook"):
            m._is_full_backward_hook = None
    return model


def copy_module(module: nn.Module) -> nn.Module:
    """A deep copy of the user's module without the user's hooks, independent of it (see `independent_copy`).
    Raises ModelCopyError naming what cannot be copied (a lock, an open file) or what the copy would share.

    A tensor computed with autograd and held as a module attribute (the `weight` that the old
    `torch.nn.utils.weight_norm` and `torch.nn.utils.prune` recompute before every forward) cannot be deep-copied:
    the copy holds it detached.
    """
    try:
        memo = _detaching(module)
        duplicate = copy.deepcopy(module, memo)
    except Exception as exc:
        raise ModelCopyError(copy_problem(module, exc)) from None
    return rebind_closures(strip_user_hooks(duplicate), memo)


def independent_copy(module: nn.Module) -> nn.Module:
    """`copy.deepcopy(module)` made independent of `module`: functions held as attributes are rebound to the
    copy's own modules and tensors (`rebind_closures`). Raises ModelCopyError when one still reaches a module or
    trainable tensor that is not the copy's (through a global name)."""
    memo: dict = {}
    return rebind_closures(copy.deepcopy(module, memo), memo)


def check_copyable(module: nn.Module) -> None:
    """Raises ModelCopyError when `module` cannot be deep-copied, or its copy would not be independent, without
    copying its parameters and buffers (they are shared with the throwaway copy), so checking a large model costs
    little memory."""
    try:
        memo = _sharing_tensors(module)
        duplicate = copy.deepcopy(module, memo)
    except Exception as exc:
        raise ModelCopyError(copy_problem(module, exc)) from None
    rebind_closures(duplicate, memo)


# -- copies that are copies ------------------------------------------------------------------------------------------
# copy.deepcopy copies a function by reference: a lambda closing over a submodule (minGPT's and makemore's
# `self.mlpf = lambda x: m.c_proj(m.act(m.c_fc(x)))` built from an nn.ModuleDict `m`) still calls the original's
# modules from the copy, so training the copy trains the user's parameters (the same hazard makes EMA copies and
# torch.optim.swa_utils.AveragedModel share weights with the model). A copy's functions are rebuilt with their
# closure cells and defaults mapped through the deepcopy memo (original -> copy); a module or trainable tensor
# that stays foreign after that is a ModelCopyError naming the attribute.
SKIPPED_SLOTS = ("_parameters", "_buffers", "_modules")  # copied by deepcopy itself; walked as modules/tensors
WALK_DEPTH = 6  # containers and plain objects nested this deep in a module attribute (cycles are cut anyway)
NOT_INDEPENDENT = ("nndoctor diagnoses copies and never your model, and a copy cannot take that reference along: "
                   "call the submodule in a method (e.g. `def mlpf(self, x): ...`) or hold it as an attribute "
                   "of the module; the same reference makes copy.deepcopy-based EMA and "
                   "torch.optim.swa_utils.AveragedModel copies share weights with the model")


def rebind_closures(duplicate: nn.Module, memo: dict) -> nn.Module:
    """Rebind, in place, the functions held in `duplicate`'s module attributes (lambdas, nested functions,
    functools.partial, bound methods, also inside lists, dicts and plain objects) to the copy's objects through
    `memo`, the deepcopy memo that made `duplicate`. Returns `duplicate`; raises ModelCopyError when a function
    still reaches a module or trainable tensor that the copy does not own."""
    rebinder = _Rebinder(memo)
    for name, m in duplicate.named_modules():
        for attr, value in list(vars(m).items()):
            if attr in SKIPPED_SLOTS:
                continue
            rebinder.where = f"{name}.{attr}" if name else attr
            new = rebinder.rebound(value, 0)
            if new is not value:
                m.__dict__[attr] = new
    owned = {id(v) for v in memo.values()} | {id(m) for m in duplicate.modules()} | \
        {id(t) for t in list(duplicate.parameters()) + list(duplicate.buffers())}
    for where, fn in rebinder.functions:
        found = _foreign_reference(fn, owned)
        if found is not None:
            raise ModelCopyError(f"the model's copy would not be independent: `{where}` is a function that reaches "
                                 f"{found}, which is not part of the model's copy, so training the copy would "
                                 f"train your own tensors; {NOT_INDEPENDENT}")
    return duplicate


class _Rebinder:
    """Rebuilds functions, partials, methods and containers whose parts the memo maps to copies; records every
    function it met, with the attribute path that holds it, for the independence test. Only containers and
    objects that deepcopy made are changed in place (one that copied to itself is shared with the user's model)."""

    def __init__(self, memo: dict) -> None:
        self.memo = memo
        self.copied = {id(v) for v in memo.values()}
        self.done: dict[int, Any] = {}  # id(old) -> new, so a function shared by two attributes stays shared
        self.keep: list = []  # the old objects whose ids `done` holds, kept alive
        self.functions: list[tuple[str, Callable]] = []
        self.where = ""  # the module attribute being rebound, e.g. `transformer.h.0.mlpf`

    def rebound(self, value: Any, depth: int) -> Any:
        if id(value) in self.memo:
            return self.memo[id(value)]
        if id(value) in self.done:
            return self.done[id(value)]
        if depth > WALK_DEPTH or isinstance(value, (nn.Module, torch.Tensor, type, types.ModuleType, str, bytes)):
            return value
        self.keep.append(value)
        self.done[id(value)] = value  # cut cycles: a part met again while it is being rebuilt stays as it is
        new = self._rebuilt(value, depth)
        self.done[id(value)] = new
        return new

    def _rebuilt(self, value: Any, depth: int) -> Any:
        if isinstance(value, types.FunctionType):
            return self._function(value, depth)
        if isinstance(value, functools.partial):
            func, args = self.rebound(value.func, depth + 1), tuple(self.rebound(a, depth + 1) for a in value.args)
            kwargs = {k: self.rebound(v, depth + 1) for k, v in value.keywords.items()}
            same = func is value.func and all(a is b for a, b in zip(args, value.args)) and \
                all(kwargs[k] is v for k, v in value.keywords.items())
            return value if same else functools.partial(func, *args, **kwargs)
        if isinstance(value, types.MethodType):
            func, owner = self.rebound(value.__func__, depth + 1), self.rebound(value.__self__, depth + 1)
            return value if func is value.__func__ and owner is value.__self__ else types.MethodType(func, owner)
        if id(value) not in self.copied and not isinstance(value, tuple):
            return value
        if isinstance(value, (list, dict)):  # the copy's own container (deepcopy made it): changed in place
            keys = range(len(value)) if isinstance(value, list) else list(value)
            for k in keys:
                new = self.rebound(value[k], depth + 1)
                if new is not value[k]:
                    value[k] = new
            return value
        if isinstance(value, tuple):
            items = [self.rebound(v, depth + 1) for v in value]
            if all(a is b for a, b in zip(items, value)):
                return value
            return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
        if hasattr(value, "__dict__") and not inspect.isroutine(value):
            for attr, v in list(vars(value).items()):
                new = self.rebound(v, depth + 1)
                if new is not v:
                    setattr(value, attr, new)
        return value

    def _function(self, fn: types.FunctionType, depth: int) -> types.FunctionType:
        """`fn` with its closure cells and defaults mapped to the copy's objects (a new function when any
        changes; cells are made first so that a function found in its own closure maps to the new one)."""
        contents = [_cell_value(c) for c in fn.__closure__ or ()]
        defaults = fn.__defaults__ or ()
        kwdefaults = fn.__kwdefaults__ or {}
        cells = tuple(types.CellType() for _ in contents)
        new = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, cells or None)
        self.done[id(fn)] = new
        mapped = [self.rebound(v, depth + 1) if v is not _EMPTY else v for v in contents]
        new_defaults = tuple(self.rebound(v, depth + 1) for v in defaults)
        new_kwdefaults = {k: self.rebound(v, depth + 1) for k, v in kwdefaults.items()}
        changed = any(a is not b for a, b in zip(mapped, contents)) or \
            any(a is not b for a, b in zip(new_defaults, defaults)) or \
            any(new_kwdefaults[k] is not v for k, v in kwdefaults.items())
        if not changed:
            self.done[id(fn)] = fn
            self.functions.append((self.where, fn))
            return fn
        for cell, v in zip(cells, mapped):
            if v is not _EMPTY:
                cell.cell_contents = v
        new.__defaults__ = new_defaults or None
        new.__kwdefaults__ = new_kwdefaults or None
        new.__dict__.update(fn.__dict__)
        new.__qualname__, new.__module__, new.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
        self.functions.append((self.where, new))
        return new


_EMPTY = object()  # the value of a closure cell not yet assigned


def _cell_value(cell: types.CellType) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY


def _foreign_reference(fn: types.FunctionType, owned: set[int]) -> str | None:
    """What `fn` reaches that the copy does not own: a module, or a tensor that requires grad, held in its
    closure, its defaults, or a global name its code reads; None when it reaches nothing of the kind."""
    names = list(fn.__code__.co_freevars)
    values: list[tuple[str, Any]] = list(zip(names, [_cell_value(c) for c in fn.__closure__ or ()]))
    values += [(f"default {i}", v) for i, v in enumerate(fn.__defaults__ or ())]
    values += [(f"default {k}", v) for k, v in (fn.__kwdefaults__ or {}).items()]
    values += [(f"global `{n}`", fn.__globals__[n]) for n in _global_names(fn.__code__) if n in fn.__globals__]
    for label, value in values:
        foreign = _first_foreign(value, owned, 0, set())
        if foreign is not None:
            return f"{foreign} through {label if label.startswith(('global', 'default')) else f'`{label}`'}"
    return None


def _global_names(code: types.CodeType) -> list[str]:
    """The global names `code` and the functions defined inside it read."""
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_names(const)
    return names


def _first_foreign(value: Any, owned: set[int], depth: int, seen: set[int]) -> str | None:
    """A description of the first module or trainable tensor under `value` that is not owned, or None."""
    if id(value) in seen or depth > WALK_DEPTH:
        return None
    seen.add(id(value))
    if isinstance(value, nn.Module):
        return None if id(value) in owned else f"a {type(value).__name__} module"
    if isinstance(value, torch.Tensor):
        return None if id(value) in owned or not value.requires_grad else f"a tensor of shape {list(value.shape)}"
    if isinstance(value, (list, tuple, set, frozenset)):
        parts = list(value)
    elif isinstance(value, dict):
        parts = list(value.values())
    elif isinstance(value, functools.partial):
        parts = [value.func, *value.args, *value.keywords.values()]
    elif isinstance(value, types.MethodType):
        parts = [value.__self__]
    else:
        return None
    return next((f for f in (_first_foreign(p, owned, depth + 1, seen) for p in parts) if f), None)


def _computed_attributes(module: nn.Module) -> list[torch.Tensor]:
    """Tensors held as plain module attributes and computed with autograd (deepcopy refuses them)."""
    return [v for m in module.modules() for v in vars(m).values() if isinstance(v, torch.Tensor) and not v.is_leaf]


def _detaching(module: nn.Module) -> dict:
    """A deepcopy memo under which those tensors copy to detached clones."""
    memo: dict = {id(t): t.detach().clone() for t in _computed_attributes(module)}
    memo[id(memo)] = list(memo.values())  # deepcopy's keep-alive slot
    return memo


def _sharing_tensors(module: nn.Module) -> dict:
    """A deepcopy memo under which parameters, buffers and attribute tensors copy to themselves (a detached view
    for one computed with autograd), so trying a copy costs little memory."""
    held = list(module.parameters()) + list(module.buffers())
    memo: dict = {id(t): t for t in held}
    memo.update({id(t): t.detach() for t in _computed_attributes(module)})
    memo[id(memo)] = held  # deepcopy's keep-alive slot: the tensors outlive the copy
    return memo


def copy_problem(module: nn.Module, exc: BaseException) -> str:
    """One line: what in `module` cannot be copied, at which attribute, and what nndoctor needs."""
    # The model's own modules copy to themselves, so a part that refers back to one (a hook that is a method of
    # the model) is not blamed for what the rest of the model holds; each module's own attributes are tried.
    memo = {**_sharing_tensors(module), **{id(m): m for m in module.modules()}}
    found = _uncopyable(module, "", memo, set(), depth=0)
    if found is None:
        return f"the model cannot be copied with copy.deepcopy ({type(exc).__name__}: {exc}); {COPY_FIX}"
    path, obj = found
    kind = type(obj).__qualname__ if type(obj).__module__ == "builtins" else \
        f"{type(obj).__module__}.{type(obj).__qualname__}"
    if isinstance(obj, io.IOBase):
        kind += " (an open file)"
    fix = COPY_FIX
    if isinstance(obj, torch.Tensor):
        fix = ("nndoctor diagnoses copies and never your model: a tensor computed with autograd cannot be copied; "
               "store it detached, or register it with register_buffer")
    return f"the model cannot be copied with copy.deepcopy: it holds a {kind} at attribute `{path}`; {fix}"


def _uncopyable(obj: Any, path: str, memo: dict, seen: set[int], depth: int) -> tuple[str, Any] | None:
    """The deepest (attribute path, object) under `obj` that copy.deepcopy fails on, or None."""
    if depth > 30:
        return None
    for label, value in _parts(obj):
        if id(value) in seen:
            continue
        seen.add(id(value))
        trial = dict(memo)
        trial.pop(id(value), None)  # a module under test is copied (its submodules are not: they are parts)
        try:
            copy.deepcopy(value, trial)
        except Exception:
            where = f"{path}.{label}" if path and not label.startswith("[") else f"{path}{label}"
            return _uncopyable(value, where, memo, seen, depth + 1) or (where, value)
    return None


def _parts(obj: Any) -> list[tuple[str, Any]]:
    """The labelled parts deepcopy copies: a module's submodules, tensors and attributes; items; attributes."""
    if isinstance(obj, nn.Module):
        parts = []
        for name, value in vars(obj).items():
            if name in ("_modules", "_parameters", "_buffers"):
                parts += [(str(k), v) for k, v in value.items() if v is not None]
            else:
                parts.append((name, value))
        return parts
    if isinstance(obj, dict):
        return [(f"[{k!r}]", v) for k, v in obj.items()]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [(f"[{i}]", v) for i, v in enumerate(obj)]
    if hasattr(obj, "__dict__") and not isinstance(obj, type) and not inspect.isroutine(obj):
        return list(vars(obj).items())
    return []
