"""The user's own objects, as the config (or the Python API) names them, and the optimizer factory that builds
a fresh optimizer of the user's kind for a copy of the model."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn


@dataclass
class Subject:
    """The user's own objects, as the config (or the Python API) names them. Never modified."""

    model: nn.Module
    data: Iterable
    loss: Callable
    optimizer: Callable[[nn.Module], torch.optim.Optimizer]  # builds an optimizer for a given model
    val_data: Iterable | None = None
    task: str = "auto"
    num_classes: int | None = None
    batch_spec: dict = field(default_factory=dict)
    outputs: str | None = None
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
