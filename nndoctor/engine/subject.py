"""The user's own objects, as the config (or the Python API) names them, the optimizer factory that builds a
fresh optimizer of the user's kind for a copy of the model, and the one way a module is copied (`copy_module`):
a deep copy that carries none of the user's hooks, or a one-line error that says why the model cannot be copied."""
from __future__ import annotations

import copy
import functools
import inspect
import io
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
    """A deep copy of the user's module without the user's hooks. Raises ModelCopyError naming what cannot be
    copied (a lock, an open file).

    A tensor computed with autograd and held as a module attribute (the `weight` that the old
    `torch.nn.utils.weight_norm` and `torch.nn.utils.prune` recompute before every forward) cannot be deep-copied:
    the copy holds it detached.
    """
    try:
        duplicate = copy.deepcopy(module, _detaching(module))
    except Exception as exc:
        raise ModelCopyError(copy_problem(module, exc)) from None
    return strip_user_hooks(duplicate)


def check_copyable(module: nn.Module) -> None:
    """Raises ModelCopyError when `module` cannot be deep-copied, without copying its parameters and buffers
    (they are shared with the throwaway copy), so checking a large model costs little memory."""
    try:
        copy.deepcopy(module, _sharing_tensors(module))
    except Exception as exc:
        raise ModelCopyError(copy_problem(module, exc)) from None


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
