"""What a loss is and how it reads its inputs, kept in one place: the loss families by class, the target value a
loss ignores, the class axis of an output, a loss called safely on candidate outputs, and the loss a model
computes itself (`loss: model`).

    ignored_target(loss)                 # what the run learned the loss skips (`learn_ignored_target`), else the
                                         # loss's own ignore_index, else torch's -100
    class_axis(outputs, targets, loss)   # 1 for (N, C, d1, ...) against (N, d1, ...), -1 % dim for (..., C)
    classifier_axis(outputs, y, loss)    # the same, also for targets the loss flattens: where num_classes is read
    loss_value(loss_fn, outputs, y)      # a float, or None when it raises or is not finite
    ModelLoss()                          # `loss: model`: the loss the model returned with these outputs

The ignored value is learned from the loss itself, not assumed: a function loss `F.cross_entropy(...,
ignore_index=-1)` says nothing about -1 from outside. `skipped_targets` asks the loss: a target value is skipped
when setting one target to it makes the loss blind to the output at that position. A model's own loss cannot be
fed made-up outputs; there a value out of the class range that the loss ran on without an error is skipped (it
cannot have been scored). `learn_ignored_target` records the answer once per run, for every `ignored_target`.
"""
from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)
BINARY_LOSSES = (nn.BCEWithLogitsLoss, nn.BCELoss)
CLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)
DEFAULT_IGNORE_INDEX = -100  # torch's default for CrossEntropyLoss, NLLLoss and their functions


IGNORE_CANDIDATES = (-100, -1)  # torch's default and nanoGPT's; a pad id is tried when the targets hold it
PROBE_POSITIONS = 64  # target positions the ignore probe looks at: one position is enough, a few guard chance
_LEARNED: dict[int, tuple[Any, int]] = {}  # id(loss) -> (the loss, kept alive so its id stays its; the value)


def ignored_target(loss: Any) -> int:
    """The target value the loss skips: what this run learned from the loss (`learn_ignored_target`), else its
    `ignore_index`, else torch's default."""
    learned = _LEARNED.get(id(loss))
    if learned is not None and learned[0] is loss:
        return learned[1]
    return getattr(loss, "ignore_index", DEFAULT_IGNORE_INDEX)


def learn_ignored_target(loss: Any, value: int | None) -> None:
    """Record the value `loss` was seen to skip (None: forget it), for every later `ignored_target(loss)`."""
    _LEARNED.pop(id(loss), None)
    if value is not None:
        if len(_LEARNED) > 64:  # runs in one process (a test suite): older losses are not asked about again
            _LEARNED.pop(next(iter(_LEARNED)))
        _LEARNED[id(loss)] = (loss, int(value))


def ignore_candidates(targets: torch.Tensor, num_classes: int | None) -> list[int]:
    """Target values worth asking the loss about: -100 and -1, 0 (a pad id), the values the targets hold outside
    [0, C), and the smallest and largest value they hold (a pad id may also be the last id)."""
    y = targets.reshape(-1)
    values = set(IGNORE_CANDIDATES) | {0}
    if y.numel():
        present = torch.unique(y)
        values.update(int(v) for v in present if v < 0 or (num_classes is not None and v >= num_classes))
        values.update((int(present.min()), int(present.max())))
    return sorted(values)


def skipped_targets(loss_fn: Callable, outputs: torch.Tensor, targets: torch.Tensor, candidates: list[int],
                    axis: int) -> list[int]:
    """The candidate target values the loss skips, asked of the loss itself. The first two targets (in row-major
    order) are set to the candidate and the output at the first position is moved: a skipped value leaves the loss
    exactly as it was whatever that output holds (the second target covers a loss that shifts the targets by one),
    while the classes the loss scores change it. Asked on CPU copies: an out-of-range target on a GPU is a device
    assert, not an error. `axis` is the class axis of `outputs`, whose other axes flatten as the targets do."""
    out = outputs.detach().cpu().movedim(axis, -1)  # (..., C)
    C = out.shape[-1]
    y = targets.detach().cpu().reshape(-1)  # (N,)
    if y.numel() < 2 or out.numel() != y.numel() * C:
        return []
    moved = out.reshape(-1, C).clone()  # (N, C)
    moved[0] = moved[0] + torch.linspace(-10.0, 10.0, C, dtype=moved.dtype)  # another output at position 0 only
    moved = moved.reshape(out.shape).movedim(-1, axis)

    def blind_with(first_two: tuple[int, int]) -> bool | None:
        """Whether the loss ignores the output at position 0 when the first two targets are these; None: it raised."""
        t = y.clone()
        t[0], t[1] = first_two
        t = t.reshape(targets.shape)
        a, b = loss_value(loss_fn, out.movedim(-1, axis), t), loss_value(loss_fn, moved, t)
        return None if a is None or b is None else abs(a - b) <= 1e-9 * max(1.0, abs(a))

    scored = tuple(int(v) if 0 <= int(v) < C else 0 for v in y[:2])
    if blind_with(scored) is not False:  # the loss does not see position 0 even with classes: no answer
        return []
    return [c for c in candidates if blind_with((c, c))]





def class_axis(outputs: torch.Tensor, targets: torch.Tensor, loss: Any = None) -> int | None:
    """The dimension of `outputs` that holds the classes: the one whose removal leaves the target's shape, or None
    when no axis fits. Only axis 1 ((N, C, d1, ...), as the class losses and F.cross_entropy take it) and the last
    ((..., C), as a function that flattens to (N*T, C) takes it) are candidates. When both fit (a (B, C, H, W)
    output with C == H == W, a (B, T, V) one with T == V), the loss decides (`_probed_axis`); without a loss that
    tells them apart, axis 1 first for the class losses and the last first otherwise."""
    if not (outputs.dim() >= 2 and outputs.dim() == targets.dim() + 1):
        return None
    fits = []
    for d in (1, outputs.dim() - 1):
        rest = list(outputs.shape)
        del rest[d]
        if rest == list(targets.shape) and d not in fits:
            fits.append(d)
    if len(fits) == 2:
        probed = _probed_axis(outputs, targets, loss, fits) if callable(loss) and outputs.is_floating_point() else None
        if probed is not None:
            return probed
        return fits[0] if isinstance(loss, CLASS_LOSSES) else fits[1]
    return fits[0] if fits else None


CONFIDENT_LOGIT = 10.0  # a logit this far above the others puts e^-10 of the probability elsewhere


def _probed_axis(outputs: torch.Tensor, targets: torch.Tensor, loss: Callable, axes: list[int]) -> int | None:
    """The axis along which a confident output at the target class gives the loss its lowest value: the class
    axis, for any loss that rewards the target class (logits, log-probabilities or probabilities). None when the
    loss raises on both or cannot tell them apart."""
    values = {}
    for d in axes:
        C = outputs.shape[d]
        index = targets.long().clamp(0, C - 1).unsqueeze(d)  # ignored targets (-100) clamp to a class they skip
        confident = torch.zeros_like(outputs.detach()).scatter_(d, index, CONFIDENT_LOGIT)
        v = loss_value(loss, confident, targets)
        if v is not None:
            values[d] = v
    if not values or (len(values) == 2 and math.isclose(*values.values())):
        return None
    return min(values, key=values.get)


def classifier_axis(outputs: torch.Tensor, targets: torch.Tensor | None, loss: Any) -> int:
    """The class axis of a classifier's output: the one the targets lack (`class_axis`: (B, C, H, W) against
    (B, H, W) masks is axis 1, for a function loss too); for targets flattened by the loss, the one of axis 1 and
    the last whose size is the ratio of the element counts ((B, C, H, W) against (B*H*W,) is axis 1); else axis 1
    for the class losses, which take (N, C, d1, ...), and the last for a function, which usually takes (..., C)."""
    if targets is not None:
        d = class_axis(outputs, targets, loss)
        if d is not None:
            return d
        by_count = {d for d in (1, outputs.dim() - 1) if outputs.shape[d] * targets.numel() == outputs.numel()}
        if len(by_count) == 1:
            return by_count.pop()
    return 1 if isinstance(loss, CLASS_LOSSES) else outputs.dim() - 1


def loss_value(loss_fn: Callable, outputs: Any, targets: Any) -> float | None:
    """loss_fn(outputs, targets) as a float (its mean when it is not reduced), without autograd or warnings;
    None when it raises (a candidate of the wrong kind for this loss: BCELoss given logits) or is not finite."""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = loss_fn(outputs, targets)
        v = float(v.detach().float().mean()) if isinstance(v, torch.Tensor) else float(v)
    except Exception:
        return None
    return v if math.isfinite(v) else None


# -- a loss the model computes itself (`loss: model`) -----------------------------------------------------------------
REMEMBERED = 16  # outputs whose loss is kept: a check forwards its batches (8 by default), then scores each
REMEMBERED_BYTES = 1 << 28  # and at most this much of them (a large vocabulary's logits are big): oldest go first
WITH_GRAPH = 2  # of those, how many keep their autograd graph (a training step needs the last one)


class ModelLossUnavailable(ValueError):
    """The model computes its own loss: outputs its forward did not return cannot be scored by it."""


@dataclass
class _Scored:
    outputs: torch.Tensor  # the logits the model returned with `loss`
    targets: Any  # the targets it was handed
    loss: torch.Tensor
    rescore: Callable[[Any], torch.Tensor] | None  # targets -> the model's loss on the same inputs
    version: int = 0  # the outputs' version counter when recorded: an in-place write since makes them others


class ModelLoss:
    """The loss of a model that computes it itself (`logits, loss = model(idx, targets)`, a Hugging Face model
    given `labels`). The context's forward hands the targets to the model and records here the loss returned with
    each output; calling this object as a loss, `loss(outputs, targets)`, returns that loss, and for other targets
    the model's loss on the same inputs with those targets (one more forward). Outputs the forward did not return
    (logits a check made up or changed) raise ModelLossUnavailable: a check that re-scores such outputs says it
    cannot run, or uses the model loss with changed inputs instead. One per run (a Subject's `loss`)."""

    def __init__(self) -> None:
        self._scored: OrderedDict[int, _Scored] = OrderedDict()
        self.__name__ = "the model's own loss"  # what reports call a loss function by

    def __repr__(self) -> str:
        return "the model's own loss"

    def remember(self, outputs: torch.Tensor, targets: Any, loss: torch.Tensor,
                 rescore: Callable[[Any], torch.Tensor] | None = None) -> None:
        """Record that the model returned `loss` with `outputs` for `targets`."""
        self._scored[id(outputs)] = _Scored(outputs, targets, loss, rescore, outputs._version)
        self._scored.move_to_end(id(outputs))
        while len(self._scored) > 1 and (len(self._scored) > REMEMBERED or sum(
                s.outputs.numel() * s.outputs.element_size() for s in self._scored.values()) > REMEMBERED_BYTES):
            self._scored.popitem(last=False)
        graphs = [s for s in reversed(self._scored.values()) if s.loss.requires_grad]
        for old in graphs[WITH_GRAPH:]:  # an older step's graph is not backpropagated again: free its memory
            old.loss = old.loss.detach()

    def __call__(self, outputs: Any, targets: Any) -> torch.Tensor:
        scored = self._find(outputs)
        if scored is None:
            raise ModelLossUnavailable("the model computes its own loss (`loss: model`): it scores only the outputs "
                                       "its own forward returns, not outputs made or changed by nndoctor")
        if targets is scored.targets or _equal(targets, scored.targets):
            return scored.loss
        if scored.rescore is None:
            raise ModelLossUnavailable("the model computes its own loss (`loss: model`): these outputs cannot be "
                                       "scored against other targets")
        return scored.rescore(targets)


    def _find(self, outputs: Any) -> _Scored | None:
        """The record of these outputs: the very tensor the forward returned, or a detached view of it that
        nothing has written into since (same memory, shape and version)."""
        if not isinstance(outputs, torch.Tensor):
            return None
        scored = self._scored.get(id(outputs))
        if scored is not None and scored.outputs is outputs:
            return scored if outputs._version == scored.version else None
        for scored in reversed(self._scored.values()):
            o = scored.outputs
            if o.data_ptr() == outputs.data_ptr() and o.shape == outputs.shape and o.stride() == outputs.stride() \
                    and o.dtype == outputs.dtype and outputs._version == scored.version:
                return scored
        return None


def _equal(a: Any, b: Any) -> bool:
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and \
        a.dtype == b.dtype and a.device == b.device and bool(torch.equal(a, b))


def is_model_loss(loss: Any) -> bool:
    return isinstance(loss, ModelLoss)


def shifts_targets(loss_fn: Callable, outputs: torch.Tensor, targets: torch.Tensor, num_classes: int) -> bool:
    """Whether the loss never scores the first target of each (B, T) sequence: it shifts the targets by one
    itself (a Hugging Face causal LM given `labels=input_ids` scores logits[:, :-1] against labels[:, 1:]), so
    targets equal to the inputs are right there. The first targets are changed to other classes: a loss that
    scores them changes. `outputs` must come with `targets` (for a model loss, from one forward in eval mode)."""
    if not (isinstance(targets, torch.Tensor) and targets.dim() == 2 and targets.shape[1] >= 2):
        return False
    other = targets.clone()
    first = targets[:, 0]
    other[:, 0] = torch.where((first >= 0) & (first < num_classes), (first + 1) % num_classes,
                              torch.zeros_like(first))
    a, b = loss_value(loss_fn, outputs, targets), loss_value(loss_fn, outputs, other)
    return a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(a))


def stand_in_loss(loss: ModelLoss, outputs: torch.Tensor, targets: torch.Tensor,
                  tol: float = 1e-5) -> Callable | None:
    """A function loss that scores made-up outputs as the model's own loss would: cross-entropy (or NLL) over the
    (..., C) logits with the ignored target value, as they are or shifted by one along (B, T) (a Hugging Face
    causal LM scores logits[:, :-1] against labels[:, 1:]), when it gives the loss the model returned with
    `outputs` (from the context's forward) for `targets`; None when none does (a loss with extra terms). Checks
    that re-score changed outputs (chance levels, the loss floor) use it; its `reference` is the torch function
    it applies and its `shift` the offset of the targets it scores (0 or 1)."""
    if not isinstance(outputs, torch.Tensor) or not isinstance(targets, torch.Tensor) or targets.is_floating_point() \
            or outputs.dim() < 2 or outputs.numel() != targets.numel() * outputs.shape[-1]:
        return None
    user = loss_value(loss, outputs, targets)
    if user is None:
        return None
    shifts = (0, 1) if targets.dim() == 2 and outputs.dim() == 3 and targets.shape[1] >= 2 else (0,)
    for shift in shifts:
        for ref in (F.cross_entropy, F.nll_loss):
            fn = _flat_loss(ref, ignored_target(loss), shift, loss)
            value = loss_value(fn, outputs, targets)
            if value is not None and abs(user - value) <= tol * max(1.0, abs(value)):
                return fn
    return None


def _flat_loss(ref: Callable, ignore: int, shift: int, loss: Any) -> Callable:
    """ref over (rows, C) logits and (rows,) targets, the targets `shift` positions on along axis 1."""
    def flat(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if shift:
            out, y = out[:, :-shift], y[:, shift:]  # (B, T - 1, C), (B, T - 1)
        return ref(out.reshape(-1, out.shape[-1]), y.reshape(-1), ignore_index=ignore)

    flat.__name__ = f"{ref.__name__} (standing in for {loss!r})"
    flat.reference, flat.shift, flat.ignore, flat.loss = ref, shift, ignore, loss  # type: ignore[attr-defined]
    return flat


def unshifted(stand_in: Callable) -> Callable:
    """The stand-in loss over outputs and targets already `aligned` (no shift of its own)."""
    if not getattr(stand_in, "shift", 0):
        return stand_in
    return _flat_loss(stand_in.reference, stand_in.ignore, 0, stand_in.loss)  # type: ignore[attr-defined]


def aligned(outputs: Any, targets: Any, shift: int) -> tuple[Any, Any]:
    """Outputs and the targets they are scored against, position by position: for a loss that shifts the targets
    by `shift` itself (`Context.target_shift`), outputs[:, :-shift] and targets[:, shift:]; else as they are."""
    if not shift or not (isinstance(outputs, torch.Tensor) and isinstance(targets, torch.Tensor)) \
            or outputs.dim() < 2 or targets.dim() < 2 or targets.shape[1] <= shift:
        return outputs, targets
    return outputs[:, :-shift], targets[:, shift:]  # (B, T - shift, ...), (B, T - shift)
