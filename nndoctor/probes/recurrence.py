"""The gradient through time of a recurrent layer (nn.RNN, nn.GRU, nn.LSTM): how much of the loss's gradient
reaches its input at each time step.

Backpropagation through time multiplies the gradient by the recurrence's Jacobian once per step back. The
gradient reaching the input at step t, dL/dx_t = W_ih^T dL/dh_t, therefore carries that product: it decays back
in time when the recurrence contracts (an LSTM forgetting), stays level or grows linearly when it is neutral (an
identity-initialised ReLU RNN sums its inputs), and grows geometrically when the recurrence's gain is above one:
exploding gradients through time (Bengio et al. 1994; Pascanu et al. 2013, "On the difficulty of training
recurrent neural networks"). The input gradients see it without reaching into the fused recurrent kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TimeGradient:
    """One recurrent layer's input-gradient norm per time step, (T,) from the first step to the last."""

    name: str
    norms: list[float]

    @property
    def steps(self) -> int:
        return len(self.norms)


def recurrent_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.RNNBase)]


def gradient_through_time(ctx, model: nn.Module, batch) -> list[TimeGradient]:
    """Per recurrent layer of `model` (a copy: its layers' inputs are cut from what feeds them), the norm over the
    batch and features of dL/dx_t for each step t of the layer's input, from one forward and backward of `batch`.
    Layers fed a PackedSequence or an unbatched (T, F) input, or whose input gets no gradient, are left out."""
    layers = recurrent_layers(model)
    if not layers:
        return []
    leaves: dict[str, tuple[torch.Tensor, int]] = {}  # name -> (the input made a leaf, its time axis)

    def pre_hook(name):
        def hook(module, args):
            x = args[0] if args else None
            if name in leaves or not isinstance(x, torch.Tensor) or x.dim() != 3 or not x.is_floating_point():
                return None
            leaf = x.detach().requires_grad_(True)
            leaves[name] = (leaf, 1 if module.batch_first else 0)
            return (leaf, *args[1:])
        return hook

    handles = [m.register_forward_pre_hook(pre_hook(name)) for name, m in layers]
    try:
        model.zero_grad(set_to_none=True)
        _, loss = ctx.forward_loss(model, batch)
        if loss.dim() != 0 or not loss.requires_grad or not bool(torch.isfinite(loss.detach())):
            return []
        loss.backward()
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
    found = []
    for name, (leaf, axis) in leaves.items():
        if leaf.grad is None or not bool(torch.isfinite(leaf.grad).all()):
            continue
        per_step = leaf.grad.detach().double().movedim(axis, 0).flatten(1).norm(dim=1)  # (T,)
        found.append(TimeGradient(name, [float(v) for v in per_step]))
    return found
