"""The lowest loss a batch allows (its floor), and how close a model's outputs are to the targets.

"Overfit one batch" asks the loss to go near its floor, and the floor is not always zero: cross-entropy with
label smoothing eps bottoms out at the entropy of the smoothed target q = (1 - eps) * onehot + eps / C, reached at
logits log q; a BCE with soft targets at their entropy. The floor here is the user's own loss evaluated on ideal
outputs of the kind the model produces, so any loss (a custom one included) gets its own floor:

- classes (CrossEntropyLoss, NLLLoss, a function over (..., C) logits): outputs L * onehot(target), passed
  through log_softmax (logits and log-probabilities) or softmax (when the model outputs probabilities), with the
  sharpness L >= 1 found by a 1-D search; for label smoothing the optimum is exactly of this form, for hard
  labels L grows to the bound of the search (the loss is then about C * exp(-L), zero in float32). L stays at 1
  or more so that every candidate predicts the right class: a loss lower on uniform outputs than on correct ones
  is upside down, and then the floor comes out above the loss at initialisation;
- binary / multilabel targets in [0, 1]: logits L * (2y - 1) and logit(y) for soft labels, or y itself for a
  loss on probabilities (BCELoss);
- regression: the targets themselves (and their mean, the best constant, for a loss that broadcasts);
- class probabilities as targets (CrossEntropyLoss with soft labels): their logarithm.

Positions a model cannot tell apart (`context_groups`: samples with identical inputs, or, for next-step data and
a causal model, positions with an identical prefix, such as the first letter of every word after a shared start
token) must get identical outputs. Where such a group holds several target classes, the best output is the
group's empirical distribution of them, and the floor is the loss there, their conditional entropy for
cross-entropy (the candidates are then log(p_group + 1/L), L searched as above), not zero.

Each candidate is an output the model could produce, so the floor found is an upper bound on the true minimum
and equals it for the standard losses. `None` means no ideal output is known (targets absent or of an unknown
form): the caller then has no floor to judge against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .losses import class_axis, ignored_target, loss_value
from .output_parts import primary, split_output

SHARPNESS = (0.0, math.log(200.0))  # range of ln L for the one-hot candidates: L from 1 (label smoothing up to
# eps = 0.3 has its optimum above it) to 200 (hard labels: C * exp(-200) is zero in float32)


@dataclass
class Floor:
    value: float  # the user's loss at the best ideal outputs
    kind: str  # which candidate reached it: "logits", "probabilities", "targets", "target mean"
    sharpness: float | None = None  # L of the best one-hot candidate (None for regression)
    partial: bool = False  # the loss also scores other parts of the output (a VAE's KL term): the floor is reached
    # with those parts as the model returned them, and the loss may trade them against the primary tensor, so it
    # bounds nothing: a loss may rest above it (a VAE cannot reconstruct perfectly) or pass a little below it


def output_kind(outputs: torch.Tensor, dim: int) -> str:
    """`probabilities` when every row along `dim` is a distribution, otherwise `logits` (log-probabilities too)."""
    o = outputs.detach().float()
    if bool(((o >= 0) & (o <= 1)).all()) and bool(((o.sum(dim) - 1).abs() < 1e-3).all()):
        return "probabilities"
    return "logits"


def _safe(loss_fn: Callable, out: torch.Tensor, targets: Any) -> float:
    """The loss at a candidate output; inf for a candidate of the wrong kind for this loss."""
    v = loss_value(loss_fn, out, targets)
    return math.inf if v is None else v


def _search(f: Callable[[float], float], lo: float, hi: float, grid: int = 12, rounds: int = 24) -> tuple[float, float]:
    """Minimise f over [lo, hi]: a grid, then golden-section search in the bracket around the best point."""
    xs = [lo + (hi - lo) * i / (grid - 1) for i in range(grid)]
    ys = [f(x) for x in xs]
    i = min(range(grid), key=lambda k: ys[k])
    a, b = xs[max(i - 1, 0)], xs[min(i + 1, grid - 1)]
    best = (ys[i], xs[i])
    r = (math.sqrt(5) - 1) / 2
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(rounds):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = f(d)
    return min(best, (fc, c), (fd, d))


def context_groups(inputs: Any, targets: Any, causal: bool) -> torch.Tensor | None:
    """An id per target position (the targets' shape): positions with one id see the same input, so a model
    gives them one output. Samples with identical inputs share ids; with `causal` (next-step data: targets are the
    inputs one position on, scored by a causal model), position t of every sample whose prefix inputs[:, :t + 1]
    is the same. None when the inputs are not one tensor with the targets' samples."""
    if not (isinstance(inputs, torch.Tensor) and isinstance(targets, torch.Tensor)) or inputs.dim() == 0 or \
            targets.dim() == 0 or inputs.shape[0] != targets.shape[0] or inputs.is_sparse:
        return None
    B = targets.shape[0]
    x = inputs.detach().cpu()
    if targets.dim() == 1:
        return torch.unique(x.reshape(B, -1), dim=0, return_inverse=True)[1]  # (B,)
    if causal and x.dim() == 2 and tuple(targets.shape) == tuple(x.shape) and not x.is_floating_point():
        ids = torch.empty(x.shape, dtype=torch.long)  # (B, T)
        for t in range(x.shape[1]):
            ids[:, t] = torch.unique(x[:, :t + 1], dim=0, return_inverse=True)[1] + t * B  # one set per position
        return ids
    if targets.dim() == 2 and tuple(targets.shape) == tuple(x.shape[:2]):  # per-position targets: (sample, t)
        sample = torch.unique(x.reshape(B, -1), dim=0, return_inverse=True)[1]  # (B,)
        T = targets.shape[1]
        return sample[:, None] * T + torch.arange(T)[None, :]  # (B, T)
    return None


def _group_distribution(t: torch.Tensor, scored: torch.Tensor, groups: torch.Tensor, C: int) -> torch.Tensor | None:
    """(..., C): each position's empirical distribution of the scored targets in its group, or None when no
    group holds two classes (then the one-hot candidates are the best outputs)."""
    g = torch.unique(groups.reshape(-1).cpu(), return_inverse=True)[1]  # (N,) ids 0..G-1
    y, keep = t.reshape(-1).long().cpu(), scored.reshape(-1).cpu()
    counts = torch.zeros(int(g.max()) + 1, C)  # (G, C)
    counts.index_put_((g[keep], y[keep]), torch.ones(int(keep.sum())), accumulate=True)
    if int(((counts > 0).sum(dim=1) > 1).sum()) == 0:
        return None
    p = counts[g] / counts[g].sum(dim=1, keepdim=True).clamp_min(1)  # (N, C)
    return p.reshape(*t.shape, C)


def loss_floor(loss_fn: Callable, outputs: Any, targets: Any, task: str, loss: Any = None,
               groups: torch.Tensor | None = None) -> Floor | None:
    """The user's loss at the best ideal outputs for these targets (see the module docstring), or None. For an
    output the loss takes whole (a VAE's (recon, mu, logvar)), the candidates replace its primary tensor and the
    other parts stay as the model returned them (`nndoctor.probes.output_parts`). `groups` (`context_groups`)
    marks positions that must get one output."""
    part = split_output(outputs, targets)
    if part.structured:
        whole_loss = loss_fn
        loss_fn = lambda z, t: whole_loss(part.with_tensor(z), t)  # noqa: E731  the loss takes the whole output
        floor = loss_floor(loss_fn, part.tensor, targets, task, loss, groups)
        return Floor(floor.value, floor.kind, floor.sharpness, partial=True) if floor else None
    if not (isinstance(outputs, torch.Tensor) and isinstance(targets, torch.Tensor) and outputs.is_floating_point()):
        return None
    out = outputs.detach()
    y = targets.detach()
    if not y.is_floating_point():
        d = class_axis(out, y, loss)
        if d is None:
            return None
        C = out.shape[d]
        ignore = ignored_target(loss)
        t = torch.where(y == ignore, torch.zeros_like(y), y).clamp(0, C - 1)
        onehot = F.one_hot(t.long(), C).to(out.dtype).movedim(-1, d)  # (..., C) -> class dim at d
        kind = output_kind(out, d)
        squash = (lambda z: z.softmax(d)) if kind == "probabilities" else (lambda z: z.log_softmax(d))
        shared = None
        if groups is not None and tuple(groups.shape) == tuple(y.shape):
            shared = _group_distribution(t, y != ignore, groups, C)
        if shared is not None:  # ambiguous groups: their distributions, sharpened towards them (module docstring)
            p = shared.to(out.device, out.dtype).movedim(-1, d)  # (..., C) -> class dim at d
            value, u = _search(lambda u: _safe(loss_fn, squash(torch.log(p + math.exp(-u))), targets), *SHARPNESS)
            return Floor(value, kind, math.exp(u)) if math.isfinite(value) else None
        value, u = _search(lambda u: _safe(loss_fn, squash(math.exp(u) * onehot), targets), *SHARPNESS)
        return Floor(value, kind, math.exp(u)) if math.isfinite(value) else None
    if y.numel() != out.numel():
        return None
    y = y.reshape(out.shape).to(out.dtype)
    best: list[tuple[float, str, float | None]] = []
    if task in ("binary", "multilabel") and bool(((y >= 0) & (y <= 1)).all()):
        sign = 2 * y - 1
        v, u = _search(lambda u: _safe(loss_fn, math.exp(u) * sign, targets), *SHARPNESS)
        best.append((v, "logits", math.exp(u)))
        p = y.clamp(1e-6, 1 - 1e-6)
        best.append((_safe(loss_fn, torch.log(p) - torch.log1p(-p), targets), "logits", None))  # logit(y)
        best.append((_safe(loss_fn, y, targets), "probabilities", None))
    else:
        best.append((_safe(loss_fn, y, targets), "targets", None))
        best.append((_safe(loss_fn, y.mean().expand_as(y), targets), "target mean", None))
        if task in ("classification", "language-modeling") and bool(((y >= 0) & (y <= 1)).all()):
            best.append((_safe(loss_fn, torch.log(y.clamp_min(1e-12)), targets), "logits", None))  # soft labels
    value, kind, sharp = min(best, key=lambda b: b[0])
    return Floor(value, kind, sharp) if math.isfinite(value) else None


@dataclass
class Closeness:
    """How close outputs are to the targets, one value per sample."""

    metric: str  # what `values` measure: "probability of the target class", "probability of the label", ...
    values: torch.Tensor  # (B,)
    better: str  # "higher" or "lower"


def closeness(outputs: Any, targets: Any, task: str, loss: Any = None, kind: str = "logits") -> Closeness | None:
    """How close outputs are to the targets, sample by sample and independent of the user's loss.

    For classes, the probability the outputs give to the target class (softmax of logits or log-probabilities, or
    the probabilities themselves), averaged over a sample's positions that are not ignored; for binary targets,
    the mean probability of the labels; for regression, the mean squared error. None when it cannot be measured.
    """
    outputs = primary(outputs, targets)  # of an output the loss takes whole, its primary tensor
    if not isinstance(outputs, torch.Tensor) or not isinstance(targets, torch.Tensor) or outputs.dim() == 0:
        return None
    out, y = outputs.detach().float(), targets.detach()
    if not y.is_floating_point():
        d = class_axis(out, y, loss)
        if d is None or d == 0:
            return None
        C = out.shape[d]
        valid = (y != ignored_target(loss)).float()
        probs = out if kind == "probabilities" else out.softmax(d)
        t = (y * valid.long()).clamp(0, C - 1).long()
        p = probs.gather(d, t.unsqueeze(d)).squeeze(d) * valid  # same shape as the targets
        per = p.reshape(p.shape[0], -1).sum(1) / valid.reshape(p.shape[0], -1).sum(1).clamp_min(1)  # (B,)
        return Closeness("probability of the target class", per, "higher")
    if y.numel() != out.numel():
        return None
    y = y.reshape(out.shape).float()
    if task in ("binary", "multilabel") and bool(((y >= 0) & (y <= 1)).all()):
        p = out if kind == "probabilities" else torch.sigmoid(out)
        per = (y * p + (1 - y) * (1 - p)).reshape(out.shape[0], -1).mean(1)  # (B,)
        return Closeness("probability of the label", per, "higher")
    per = (out - y).pow(2).reshape(out.shape[0], -1).mean(1)  # (B,)
    return Closeness("squared error", per, "lower")
