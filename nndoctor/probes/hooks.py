"""Forward hooks, registered and removed in one place.

    with capture_forward(model) as outs:      # name -> output tensor of every leaf module
        model(x)
    with on_forward(model, fn):               # fn(name, module, args, output) after every module call
        model(x)
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from .batches import first_tensor


def leaf_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules without children, in registration order (which is usually execution order)."""
    return [(name or type(m).__name__, m) for name, m in model.named_modules() if not list(m.children())]


def selected_modules(model: nn.Module, select: Callable[[str, nn.Module], bool] | None = None,
                     all_modules: bool = False) -> list[tuple[str, nn.Module]]:
    """The modules to hook: every module (`all_modules`) or the leaves, kept by `select(name, module)`."""
    mods = list(model.named_modules()) if all_modules else leaf_modules(model)
    return [(name, m) for name, m in mods if select is None or select(name, m)]


def module_label(name: str, module: nn.Module) -> str:
    return f"{name} ({type(module).__name__})"


@contextmanager
def capture_forward(model: nn.Module, select: Callable[[str, nn.Module], bool] | None = None,
                    detach: bool = True, all_modules: bool = False) -> Iterator[dict]:
    """Record each selected module's output (the first tensor of it), in the order the modules ran.

    A module called twice (tied weights, a block reused) keeps its last output; `order` keeps first calls.
    """
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in selected_modules(model, select, all_modules):

        def hook(mod, args, out, name=name):
            t = first_tensor(out)
            if t is not None:
                outputs[name] = t.detach() if detach else t

        handles.append(module.register_forward_hook(hook))
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()


@contextmanager
def on_forward(model: nn.Module, fn: Callable[[str, nn.Module, tuple, torch.Tensor], "torch.Tensor | None"],
               select: Callable[[str, nn.Module], bool] | None = None, all_modules: bool = False) -> Iterator[None]:
    """Call `fn(name, module, args, output)` after every call of each selected module, in execution order.

    Unlike `capture_forward` (one output per module), a module called several times (one `nn.ReLU()` reused
    after every layer) reports each call, and `fn` sees the output at once, before a later in-place op can
    change it. `output` is the first tensor of the module's output (calls without one are not reported).
    When the output is a tensor and `fn` returns a tensor, that tensor replaces it (e.g. a copy that requires
    grad, to measure gradients at that point).
    """
    handles = []
    for name, module in selected_modules(model, select, all_modules):

        def hook(mod, args, out, name=name):
            t = first_tensor(out)
            if t is not None:
                new = fn(name or type(mod).__name__, mod, args, t)
                if isinstance(new, torch.Tensor) and isinstance(out, torch.Tensor):
                    return new
            return None

        handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
