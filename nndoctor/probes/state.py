"""State a model carries from one call to the next: tensor attributes of its modules that are neither parameters
nor buffers (an RNN's `self.hidden`, a running context), set in forward and read by the next call.

The user's loop handles such state: it detaches it between steps (`repackage_hidden`) and resets it for a new
sequence (`init_hidden`). nndoctor's own passes start every forward of a copy from the state the copy was made with
(`remember_state` when the copy is made, `reset_state` before each of its forwards): two passes of one batch see
the same model, and no step backpropagates into the graph of an earlier one ("backward through the graph a second
time"). The user's own `train_step` is left to handle the state as it does; `attached_state` names a state that
still holds a graph when the user's step fails on it.

    remember_state(model)                 # on a fresh copy: its carried attributes as they are (often None)
    reset_state(model)                    # before a forward: those attributes back, the ones forward added removed
    attached_state(model)                 # ['hidden'] while self.hidden holds the last call's graph
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .batches import tensors


def _is_state(value: Any) -> bool:
    """A tensor, or a tuple/list of tensors (an LSTM's (h, c)); parameters are registered, never state."""
    if isinstance(value, nn.Parameter):
        return False
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, (tuple, list)) and bool(value) and len(tensors(value)) == len(value) \
        and not any(isinstance(t, nn.Parameter) for t in value)


def _attributes(module: nn.Module) -> dict[str, Any]:
    """A module's own attributes (not parameters, buffers or submodules, which torch keeps apart)."""
    return {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"}


def attached_state(model: nn.Module) -> list[str]:
    """The carried attributes that hold a graph (a tensor with grad_fn): the next backward runs into it."""
    return [f"{name}.{k}" if name else k for name, m in model.named_modules()
            for k, v in _attributes(m).items() if _is_state(v) and any(t.grad_fn is not None for t in tensors(v))]


INITIAL_ATTR = "_nndoctor_initial_state"  # on a copy: {module name: {attribute: value}} (underscored: not state)


def _snapshot(model: nn.Module) -> dict:
    """{module name: {attribute: value}} for every attribute that is state or None (an unset state)."""
    return {name: {k: v for k, v in _attributes(m).items() if v is None or _is_state(v)}
            for name, m in model.named_modules()}


def remember_state(model: nn.Module) -> None:
    """Record the copy's carried attributes as its initial state (`reset_state` goes back to it)."""
    object.__setattr__(model, INITIAL_ATTR, _snapshot(model))


def reset_state(model: nn.Module) -> None:
    """Put the remembered initial state back: changed state attributes get their value back, state attributes
    that forward created are removed. A model never remembered, or without state, is left alone."""
    initial = getattr(model, INITIAL_ATTR, None)
    if initial is None:
        return
    for name, m in model.named_modules():
        before = initial.get(name, {})
        for k, v in _attributes(m).items():
            if k in before:
                if before[k] is not v:
                    setattr(m, k, before[k])
            elif _is_state(v):
                delattr(m, k)
