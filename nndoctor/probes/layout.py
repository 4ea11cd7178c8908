"""Where the batch and the time are in the inputs: batch-first (B, T, ...), time-major (T, B, ...) or one unbatched
sequence (T, ...), read once per run and shared by the checks that slice samples or positions.

Public projects use all three: the PyTorch word_language_model example feeds (bptt, B) token windows to an LSTM and
a Transformer built without `batch_first` and flattens the targets to (bptt * B,); the sequence-models tutorial's
tagger runs one (T,) sentence at a time. A check that takes dim 0 for the samples mixes them there (a time-major
model is not batch-mixing, it reads time on dim 0) and takes the batch for the time axis.

What decides, first to last (the first that is sure wins):
1. the config: `batch: {batch_axis: 1, time_axis: 0}` (`batch_axis: null` for unbatched sequences);
2. the targets, when they index one of the inputs' two leading axes (one label per sample): that axis is the batch;
3. next-step data (targets equal to the inputs one position on): the shifted axis is time;
4. the model: the first RNN / attention / Transformer layer, its `batch_first` flag and the shape it receives
   (its time axis traced back to the inputs' axis of that size; a batch of one, or an unbatched 2-D input, for
   one sequence at a time);
5. sizes that vary across batches (but the last): that axis is time (bptt windows, padded variable lengths);
   where they contradict the model, they win (padded (B, T) batches fed to a time-major RNN: the bug, ND302);
6. otherwise batch-first, as before.

    layout = ctx.layout()                       # Layout(batch_axis=1, time_axis=0, source="model", ...)
    x_bf = layout.batch_first(x, x.shape)       # (B, T, ...) view of an input-shaped or flattened tensor
    small = take_samples(batch, 8, layout)      # the first 8 samples, cut along the batch axis
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .batches import Batch, first_tensor, head, map_tensors
from .hooks import on_forward

SEQUENCE_MODULES = (nn.RNNBase, nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


@dataclass(frozen=True)
class Layout:
    batch_axis: int | None = 0  # None: unbatched, the whole tensor is one sample
    time_axis: int | None = None  # None: no time axis (or not known)
    source: str = "default"  # config | targets | next-step | model | sizes | default
    reason: str = ""

    @property
    def unbatched(self) -> bool:
        return self.batch_axis is None

    @property
    def time_major(self) -> bool:
        return self.batch_axis == 1 and self.time_axis == 0

    def batch_size(self, x: torch.Tensor) -> int:
        if self.unbatched or x.dim() <= (self.batch_axis or 0):
            return 1
        return int(x.shape[self.batch_axis])

    def batch_first(self, t: Any, like: tuple) -> Any:
        """`t` as (B, ...) (and (B, T, ...) for a time axis) when it is laid out like an input of shape `like`, or
        flattened over its two leading axes ((S0 * S1, ...), in that order); other tensors as they are. An
        unbatched sequence is a batch of one."""
        if not isinstance(t, torch.Tensor) or t.dim() == 0:
            return t
        if self.unbatched:
            return t.unsqueeze(0) if len(like) and t.shape[0] == like[0] else t
        if len(like) < 2:
            return t
        axes = [a for a in (self.batch_axis, self.time_axis) if a is not None]
        if max(axes) >= 2:  # e.g. (B, C, T) audio: time on dim 2; only tensors laid out like the inputs move
            n = max(axes) + 1
            if t.dim() < n or tuple(t.shape[:n]) != tuple(like[:n]):
                return t
            return t.movedim(axes, list(range(len(axes))))  # (B, T, ...)
        s0, s1 = int(like[0]), int(like[1])
        if t.dim() >= 2 and tuple(t.shape[:2]) == (s0, s1):
            pass
        elif self.time_axis is not None and t.shape[0] == s0 * s1 and s1 > 1 and t.shape[0] != s0:
            t = t.reshape(s0, s1, *t.shape[1:])  # (S0 * S1, ...) -> (S0, S1, ...)
        else:
            return t
        return t.transpose(0, 1) if self.batch_axis == 1 else t  # (T, B, ...) -> (B, T, ...)


BATCH_FIRST = Layout(0, None)


def take_samples(batch: Batch, n: int, layout: Layout) -> Batch:
    """The first `n` samples of a batch, cut along the layout's batch axis: an input-shaped tensor on that axis, a
    flattened one ((T * B,) targets) by its (T, B) view; an unbatched batch is one sample, kept whole."""
    if layout.unbatched:
        return batch
    if layout.batch_axis == 0:
        return head(batch, n)
    x = first_tensor(batch.inputs)
    if x is None or x.dim() < 2 or n >= x.shape[1]:
        return batch
    s0, s1 = int(x.shape[0]), int(x.shape[1])

    def cut(t: torch.Tensor) -> torch.Tensor:
        if t.dim() >= 2 and tuple(t.shape[:2]) == (s0, s1):
            return t[:, :n]  # (T, B, ...) -> (T, n, ...)
        if t.dim() >= 1 and t.shape[0] == s0 * s1 and t.shape[0] != s0:
            return t.reshape(s0, s1, *t.shape[1:])[:, :n].reshape(s0 * n, *t.shape[1:])  # (T * n, ...)
        return t

    return Batch(map_tensors(batch.inputs, cut), map_tensors(batch.targets, cut))


# -- inference ----------------------------------------------------------------------------------------------------
def infer_layout(ctx) -> Layout:
    """The run's layout (see the module's docstring): the config's axes, else what the data and the model say."""
    spec = ctx.subject.batch_spec or {}
    batches = ctx.batches()
    x = first_tensor(batches[0].inputs)
    if "batch_axis" in spec or "time_axis" in spec:
        return from_config(spec)
    if x is None or x.dim() == 0:
        return BATCH_FIRST
    y = batches[0].targets if isinstance(batches[0].targets, torch.Tensor) else None
    from .losses import ignored_target

    layout = _from_targets(x, y) or _from_shift(x, y, ignored_target(ctx.subject.loss))
    if layout is not None:
        return layout
    by_model, by_sizes = _from_model(ctx, batches[0].inputs, x), _from_sizes(batches)
    if by_model is not None and by_sizes is not None and not by_model.unbatched \
            and by_model.batch_axis != by_sizes.batch_axis:
        # the data outranks the model: a (B, T) padded batch fed to a time-major RNN is the bug, not the layout
        return Layout(by_sizes.batch_axis, by_sizes.time_axis, "sizes", f"{by_sizes.reason}, although "
                      f"{by_model.reason}")
    return by_model or by_sizes or Layout(0, 1 if _leading(x) >= 2 else None)


def from_config(spec: dict) -> Layout:
    """The config's `batch_axis` / `time_axis` (one given: the other is the other leading axis; `batch_axis: null`:
    unbatched, time on dim 0 unless `time_axis` says otherwise)."""
    time = spec.get("time_axis")
    if "batch_axis" in spec:
        batch = spec["batch_axis"]
        if batch is None and time is None:
            time = 0
        elif "time_axis" not in spec and batch in (0, 1):
            time = 1 - batch
    else:
        batch = 1 if time == 0 else 0
    return Layout(batch, time, "config", "set in the config's `batch`")


def _leading(x: torch.Tensor) -> int:
    """The axes that can hold samples or positions: all of a token tensor's, all but the features of a float one."""
    return x.dim() if not x.is_floating_point() else max(0, x.dim() - 1)


def _from_targets(x: torch.Tensor, y: torch.Tensor | None) -> Layout | None:
    """One target per sample: the targets' first axis is one of the inputs' two leading axes (not both)."""
    if y is None or y.dim() == 0 or _leading(x) < 2 or x.shape[0] == x.shape[1]:
        return None
    s0, s1 = int(x.shape[0]), int(x.shape[1])
    if (y.dim() >= 2 and tuple(y.shape[:2]) == (s0, s1)) or y.shape[0] == s0 * s1:
        return None  # one target per position: the targets do not tell the batch from the time
    if y.shape[0] == s0:
        return Layout(0, 1, "targets", f"one target per row of dim 0 ({s0} targets)")
    if y.shape[0] == s1:
        return Layout(1, 0, "targets", f"one target per column of dim 1 ({s1} targets)")
    return None


def _from_shift(x: torch.Tensor, y: torch.Tensor | None, ignore: int | None) -> Layout | None:
    """Next-step data: the targets are the inputs one position on along exactly one of the two leading axes."""
    from .sequences import SHIFT_SHARE, next_step_shares

    if y is None or _leading(x) < 2:
        return None
    s0, s1 = int(x.shape[0]), int(x.shape[1])
    if y.shape[0] == s0 * s1 and y.shape[0] != s0 and (y.dim() == 1 or y.shape[1:] == x.shape[2:]):
        y = y.reshape(x.shape)  # flattened targets, in the inputs' order
    if y.shape != x.shape:
        return None
    along = {}
    for axis in (1, 0):
        xa, ya = (x, y) if axis == 1 else (x.transpose(0, 1), y.transpose(0, 1))  # time moved to dim 1
        shares = next_step_shares(xa, ya, ignore)
        along[axis] = shares is not None and shares[0] >= SHIFT_SHARE and shares[1] <= shares[0] / 2
    if along[1] and not along[0]:
        return Layout(0, 1, "next-step", "the targets are the inputs shifted along dim 1")
    if along[0] and not along[1]:
        return Layout(1, 0, "next-step", "the targets are the inputs shifted along dim 0")
    return None


def _from_model(ctx, inputs: Any, x: torch.Tensor) -> Layout | None:
    """The first sequence layer's view of the inputs: its time axis traced back to the inputs' axis of that size."""
    seen = _first_sequence_input(ctx, inputs)
    if seen is None:
        return None
    label, m, batch_first = seen
    lead = _leading(x)
    if m.dim() == 2 and lead == 1 and m.shape[0] == x.shape[0]:
        return Layout(None, 0, "model", f"{label} reads one unbatched ({m.shape[0]}, ...) sequence")
    if m.dim() < 3:
        return None
    mb, mt = (int(m.shape[0]), int(m.shape[1])) if batch_first else (int(m.shape[1]), int(m.shape[0]))
    if lead == 1 and mb == 1 and mt == x.shape[0]:
        return Layout(None, 0, "model", f"{label} reads the ({mt},) sequence as a batch of one")
    if lead < 2:
        return None
    s0, s1 = int(x.shape[0]), int(x.shape[1])
    where = "batch_first=True" if batch_first else "time-major (batch_first=False)"
    if (mt, mb) == (s0, s1) and s0 != s1:
        return Layout(1, 0, "model", f"{label} is {where} and reads dim 0 of the inputs as time")
    if (mb, mt) == (s0, s1):
        return Layout(0, 1, "model", f"{label} is {where} and reads dim 1 of the inputs as time")
    return None


def _first_sequence_input(ctx, inputs: Any):
    """(label, input tensor, batch_first) of the first RNN/attention/Transformer layer a forward calls, on a
    throw-away copy in train mode without gradient (eval mode would take the fused Transformer path that skips the
    attention modules); None when there is none or the forward fails."""
    seen: list = []

    def record(name, module, args, out):
        if not seen and isinstance(module, SEQUENCE_MODULES):
            t = first_tensor(args)
            if t is not None:
                attn = getattr(module, "self_attn", module)
                seen.append((f"{name} ({type(module).__name__})", t.detach(),
                             bool(getattr(module, "batch_first", getattr(attn, "batch_first", False)))))

    try:
        model = ctx.new_model(train=True)
        if not any(isinstance(m, SEQUENCE_MODULES) for m in model.modules()):
            return None  # nothing to ask: no forward spent
        with torch.no_grad(), on_forward(model, record, all_modules=True):
            ctx.forward(model, inputs)
    except Exception:
        pass
    return seen[0] if seen else None


def _from_sizes(batches: list) -> Layout | None:
    """Over three or more batches, the one leading axis whose size varies (the last batch aside) is time."""
    xs = [first_tensor(b.inputs) for b in batches[:-1]]
    if len(xs) < 2 or any(x is None or _leading(x) < 2 for x in xs):
        return None
    varies = [len({int(x.shape[a]) for x in xs}) > 1 for a in (0, 1)]
    if varies[0] and not varies[1]:
        return Layout(1, 0, "sizes", "dim 0 varies across batches, dim 1 does not")
    if varies[1] and not varies[0]:
        return Layout(0, 1, "sizes", "dim 1 varies across batches, dim 0 does not")
    return None
