"""Which inputs an output depends on: Karpathy's recipe "use backprop to chart dependencies", shared.

Make the input require grad, backpropagate one slice of the output (sample i, or position t of sample i), and
read where the gradient lands: on other samples it is batch mixing, on later positions a causal leak.

    probe = DependenceProbe(ctx, model, batch)        # one forward, with the inputs requiring grad
    grads = probe.backprop(probe.output[i].sum())     # gradient at the inputs and at every module's in/out
    batch_share(grads.leaf, i)                        # share of |grad| that lands on samples other than i

Float inputs are measured directly. Integer inputs (token ids) have no gradient: the first `nn.Embedding` that
reads them has its output replaced by a copy that requires grad, and the gradient is measured there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from .batches import Batch, first_tensor, map_tensors, tensors
from .hooks import on_forward

MAX_CALLS = 400  # module calls kept for localisation (a bound on memory for large models)


def batch_share(grad: torch.Tensor | None, i: int, batch_size: int) -> float | None:
    """Share of |grad| on samples other than i (0 for a per-sample model); None when not comparable."""
    if grad is None or grad.dim() == 0 or grad.shape[0] != batch_size:
        return None
    mass = grad.detach().abs().float().reshape(batch_size, -1).sum(dim=1)  # (B,)
    total = float(mass.sum())
    if total == 0.0:
        return None
    return (total - float(mass[i])) / total


def future_share(grad: torch.Tensor | None, i: int, t: int, batch_size: int, length: int) -> float | None:
    """Share of sample i's |grad| on positions after t (0 for a causal model); None when not comparable."""
    if grad is None or grad.dim() < 2 or grad.shape[0] != batch_size or grad.shape[1] != length:
        return None
    mass = grad[i].detach().abs().float().reshape(length, -1).sum(dim=1)  # (T,)
    total = float(mass.sum())
    if total == 0.0:
        return None
    return float(mass[t + 1:].sum()) / total


@dataclass
class Grads:
    leaf: torch.Tensor | None  # gradient at the inputs (or the embedding output), (B, ...)
    calls: list = field(default_factory=list)  # (name, module, is_root, grad at its input, grad at its output)


class DependenceProbe:
    """One forward pass of `model` on `batch` with a gradient-carrying leaf at the inputs."""

    def __init__(self, ctx, model: nn.Module, batch: Batch, layout=None) -> None:
        self.model = model
        first = first_tensor(batch.inputs)
        self.shape = tuple(first.shape) if first is not None else ()  # the inputs' layout, which `layout` reads
        self.layout = layout
        self.batch_size = layout.batch_size(first) if layout is not None and first is not None else batch.size
        self.leaf: torch.Tensor | None = None
        self.leaf_label = ""
        self.output: torch.Tensor | None = None
        self._calls: list = []  # (name, module, is_root, input tensor, output tensor)
        inputs = self._float_leaf(batch.inputs, batch.size)
        id_shapes = {tuple(t.shape) for t in tensors(batch.inputs) if not t.is_floating_point()}

        def record(name, module, args, out):
            replaced = None
            if self.leaf is None and isinstance(module, nn.Embedding):
                ids = first_tensor(args)
                if ids is not None and tuple(ids.shape) in id_shapes and out.dim() > 0 \
                        and out.shape[0] == batch.size:
                    self.leaf = out.detach().clone().requires_grad_(True)  # (B, ..., E)
                    self.leaf_label = f"{name} (Embedding) output"
                    out = replaced = self.leaf.clone()  # not the leaf itself: forward may scale it in place
            if len(self._calls) < MAX_CALLS:
                self._calls.append((name, module, module is model, first_tensor(args), out))
            return replaced

        with on_forward(model, record, all_modules=True):
            out = ctx.forward(model, inputs, batch.targets)  # a model loss is handed the real targets
        self.output = self.batch_first(out) if isinstance(out, torch.Tensor) else None

    def batch_first(self, t):
        """`t` as (B, ...) / (B, T, ...) by the inputs' layout (time-major and flattened tensors reordered)."""
        return self.layout.batch_first(t, self.shape) if self.layout is not None else t

    @property
    def leaf_view(self) -> torch.Tensor | None:
        """The leaf as (B, ...) / (B, T, ...)."""
        return self.batch_first(self.leaf) if self.leaf is not None else None

    def _float_leaf(self, inputs, rows: int):
        """The inputs, with the first float tensor laid out like the first input (`rows` on dim 0) replaced by a
        copy that requires grad."""
        def swap(t: torch.Tensor) -> torch.Tensor:
            if self.leaf is None and t.is_floating_point() and t.dim() > 0 and t.shape[0] == rows:
                self.leaf, self.leaf_label = t.detach().clone().requires_grad_(True), "inputs"
                return self.leaf.clone()  # not the leaf itself: forward may normalise it in place
            return t
        return map_tensors(inputs, swap, sparse=False)  # a sparse adjacency is structure, not the leaf

    @property
    def usable(self) -> bool:
        """A gradient can be measured: a leaf was found and the output is a batch-first tensor in its graph."""
        return (self.leaf is not None and self.output is not None and self.output.dim() > 0
                and self.output.shape[0] == self.batch_size and self.output.requires_grad)

    def backprop(self, scalar: torch.Tensor) -> Grads:
        """Gradients of `scalar` at the leaf and at every recorded module's input and output."""
        targets = [self.leaf]
        slots = []  # (call index, "in" | "out", index into targets)
        for k, (_, _, _, tin, tout) in enumerate(self._calls):
            for side, t in (("in", tin), ("out", tout)):
                if isinstance(t, torch.Tensor) and t.requires_grad:
                    slots.append((k, side, len(targets)))
                    targets.append(t)
        got = torch.autograd.grad(scalar, targets, retain_graph=True, allow_unused=True)
        per_call: dict[int, dict] = {}
        for k, side, j in slots:
            per_call.setdefault(k, {})[side] = got[j]
        view = self.batch_first
        calls = [(name, module, root, view(per_call.get(k, {}).get("in")), view(per_call.get(k, {}).get("out")))
                 for k, (name, module, root, _, _) in enumerate(self._calls)]
        return Grads(leaf=view(got[0]), calls=calls)

    @staticmethod
    def culprit(grads: Grads, share: Callable[[torch.Tensor | None], float | None], tol: float):
        """The most specific module whose input gradient leaks (share > tol) but whose output gradient does not:
        the leak happens inside it. Returns (name, module) or None. For the root module the leak is an
        operation in its own forward, between its children (a view, a reduction over the batch)."""
        best = None
        for name, module, root, gin, gout in grads.calls:
            s_in, s_out = share(gin), share(gout)
            if s_in is None or s_out is None or s_in <= tol or s_out > tol:
                continue
            depth = 0 if root else name.count(".") + 1
            if best is None or depth > best[0]:
                best = (depth, name, module)
        return (best[1], best[2]) if best else None

