"""Backprop to chart dependencies: sample i must depend on sample i only, position t on positions <= t.

What it catches: a model whose output for sample i depends on the inputs of other samples (ND302 batch-mixing):
a `view`/`reshape` where `permute`/`transpose` was needed ((B, T, F) viewed as (T, B, F)), a normalisation or
mean over the batch dimension in forward, an `nn.LSTM`/`nn.GRU`/`nn.MultiheadAttention` fed (B, T, F) without
`batch_first=True` (it treats the batch as time and mixes samples). For language models (outputs (B, T, V),
targets (B, T)), an output at position t that depends on inputs after t (ND309 causal-leak): self-attention
without a causal mask, a centred convolution, a bidirectional RNN.

How it measures (Karpathy's recipe "use backprop to chart dependencies"): on a copy in eval mode (so BatchNorm
uses its running statistics and is not flagged), the inputs are made to require grad (for token ids, the output
of the first `nn.Embedding`), the output of one sample i (at position t for a language model) is summed and
backpropagated, and the gradient is read: the share of it on samples j != i, and on positions after t, must be
zero up to float noise. The same gradients at every module's input and output name the module where the
dependency appears. A few samples are probed (first, middle, last: a time-major RNN mixes only earlier rows).

Why it matters: neither bug raises. A batch-mixing model trains on scrambled data and its predictions change with
the batch they come in; a language model that sees the future learns to copy it, its training loss drops
suspiciously low, and it cannot generate. Bidirectional encoders see the future legitimately, so ND309 is only
judged for next-step prediction: the task is language modeling, or, whatever `task` says, the data says so
(the targets are the inputs shifted by one position at `shift_share` of the positions, in
`nndoctor.probes.sequences`, far more often than against another sample's inputs: a GPT-style model declared
`task: classification` is still tested); a loss that couples samples (in-batch negatives) is not the model and
is not seen; a (B, B) output scored against arange(B) (CLIP-style similarities) and graph batches (an edge index or an
adjacency among the inputs: the rows are nodes, connected on purpose) are not judged for ND302.

How to fix it: reorder axes with `permute`/`transpose` and keep `view` for merging adjacent axes; build RNNs and
attention with `batch_first=True` for (B, T, F) inputs; mask self-attention causally
(`nn.Transformer.generate_square_subsequent_mask(T)` with `is_causal=True`, or `F.scaled_dot_product_attention(...,
is_causal=True)`); pad convolutions on the left only.
"""
from __future__ import annotations

import torch
from torch import nn

from nndoctor import Check, Option
from nndoctor.probes.batches import tensors
from nndoctor.probes.input_dependence import DependenceProbe, batch_share, future_share
from nndoctor.probes.hooks import module_label
from nndoctor.probes.losses import ignored_target
from nndoctor.probes.sequences import SHIFT_SHARE, predicts_next_step



class BatchIndependence(Check):
    """Gradient of one sample's output w.r.t. the inputs: other samples (ND302) or later positions (ND309)."""

    name = "batch-independence"
    codes = ("ND302", "ND309")
    cost = "low"
    options = {
        "tol": Option(1e-4, "share of |gradient| on other samples (or later positions) above this: a dependency "
                      "(an independent sample gets exactly 0; float32 noise would be ~1e-7)", unit="share",
                      low=1e-12, high=1),
        "samples": Option(3, "samples i backpropagated one at a time (first, middle, last of the batch)",
                          unit="samples", low=1, high=3),
        "shift_share": Option(SHIFT_SHARE, "next-step data: share of the positions whose target is the next input "
                              "(whatever `task` says)", unit="share", low=0, high=1),
    }
    quick_options = {"samples": 2}

    @classmethod
    def skip_reason(cls, ctx) -> str | None:
        """One unbatched sequence per batch (the tagger tutorial's (T,) sentences): no other sample to mix with, and
        causality is only judged for next-step data."""
        try:
            layout = ctx.layout()
            if not layout.unbatched or _next_step(ctx, ctx.batches(1)[0], layout, SHIFT_SHARE):
                return None
        except Exception:
            return None  # the check itself meets the error and reports it
        return (f"unbatched sequences ({layout.reason}): a batch is one sample, so there is no other sample to mix "
                "with, and the data is not next-step prediction (set `batch: {batch_axis: INT}` if it is batched)")

    def run(self, ctx):
        batch = ctx.batches(1)[0]
        layout = ctx.layout()  # which axis holds the samples and which the time (time-major, unbatched...)
        model = ctx.new_model(train=False)  # eval mode: BatchNorm by running statistics, no dropout
        probe = DependenceProbe(ctx, model, batch, layout)
        if not probe.usable:
            return  # no float input nor embedding to measure at, or an output without the batch axis
        out, B, leaf = probe.output, probe.batch_size, probe.leaf_view  # (B, ...) views, whatever the layout
        # Causality is judged for next-step prediction only (encoders see the future on purpose): the declared or
        # inferred task, or the data itself when its targets are its inputs one position on.
        next_step = _next_step(ctx, batch, layout, self.opts["shift_share"])
        lm = (next_step and out.dim() >= 3 and leaf.dim() >= 2
              and leaf.shape[1] == out.shape[1] and out.shape[1] >= 2)
        T = int(out.shape[1]) if lm else 0
        t = (T - 1) // 2  # the middle position: later positions exist to leak from
        mixing = B >= 2 and not layout.unbatched and not _pairwise_scores(out, batch.targets) \
            and not _graph_inputs(batch.inputs, B)
        worst_mix, worst_leak = None, None  # (share, i, grads)
        for i in sorted({0, B // 2, B - 1})[: max(1, int(self.opts["samples"]))]:
            ctx.check_time()
            scalar = out[i, t].sum() if lm else out[i].sum()  # the output of sample i (at position t)
            grads = probe.backprop(scalar)
            if mixing:
                s = batch_share(grads.leaf, i, B)
                if s is not None and (worst_mix is None or s > worst_mix[0]):
                    worst_mix = (s, i, grads)
            if lm:
                s = future_share(grads.leaf, i, t, B, T)
                if s is not None and (worst_leak is None or s > worst_leak[0]):
                    worst_leak = (s, i, grads)
        tol = self.opts["tol"]
        if worst_mix is not None and worst_mix[0] > tol:
            yield from self._mixing(probe, *worst_mix, tol)
        if worst_leak is not None and worst_leak[0] > tol:
            yield from self._leak(probe, *worst_leak, t, T, tol)

    def _mixing(self, probe, share, i, grads, tol):
        B = probe.batch_size
        found = probe.culprit(grads, lambda g: batch_share(g, i, B), tol)
        name, module = found if found else (None, None)
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            return  # BatchNorm without running statistics normalises by the batch in eval mode too: by design
        hint = _mixing_hint(module, probe.model)
        where = module_label(name, module) if module is not None else None
        yield self.finding(
            "ND302", f"sample {i}'s output depends on the other samples' inputs: {share:.1%} of its input "
            f"gradient lands on them{hint}",
            {"sample": i, "batch_size": B, "other_samples_share": share, "measured_at": probe.leaf_label,
             "module": where or "unknown"},
            where=where or probe.leaf_label, confidence=self.margin(share, tol),
            fix="Reorder axes with x.permute(...)/x.transpose(0, 1), never x.view(T, B, F) on a (B, T, F) tensor; "
                "give nn.LSTM/nn.GRU/nn.MultiheadAttention batch_first=True for (B, T, F) inputs; never reduce over "
                "dim 0 in forward. Re-check: the gradient of sample i's output must be zero on every other sample.")

    def _leak(self, probe, share, i, grads, t, T, tol):
        B = probe.batch_size
        found = probe.culprit(grads, lambda g: future_share(g, i, t, B, T), tol)
        name, module = found if found else (None, None)
        where = module_label(name, module) if module is not None else None
        yield self.finding(
            "ND309", f"the output at position {t} of {T} depends on later inputs: {share:.1%} of its input "
            f"gradient lands on positions {t + 1}..{T - 1}{_leak_hint(module)}",
            {"position": t, "length": T, "sample": i, "future_share": share, "measured_at": probe.leaf_label,
             "module": where or "unknown"},
            where=where or probe.leaf_label, confidence=self.margin(share, tol),
            fix="Mask self-attention causally: mask = nn.Transformer.generate_square_subsequent_mask(T) passed with "
                "is_causal=True (or F.scaled_dot_product_attention(q, k, v, is_causal=True)); pad convolutions on "
                "the left only; use unidirectional RNNs. Re-check: the gradient of output t must be zero after t.")


def _next_step(ctx, batch, layout, share: float) -> bool:
    """Next-step prediction: the declared or inferred task, or the data (targets = inputs one step on its time at
    `share` of the positions)."""
    return ctx.task == "language-modeling" or \
        predicts_next_step(batch.inputs, batch.targets, ignored_target(ctx.subject.loss), share, layout)


def _pairwise_scores(out: torch.Tensor, targets) -> bool:
    """A (B, B) output scored against arange(B): in-batch similarity by design (CLIP-style), not a bug."""
    B = out.shape[0]
    if out.dim() != 2 or out.shape[1] != B or not isinstance(targets, torch.Tensor):
        return False
    return targets.dim() == 1 and targets.numel() == B and bool((targets.cpu() == torch.arange(B)).all())


def _graph_inputs(inputs, B: int) -> bool:
    """A graph batch: besides the node features (B, F), an edge index (2, E) or an adjacency (B, B). Dim 0 then
    indexes nodes that the model connects on purpose, not independent samples."""
    extra = tensors(inputs, sparse=True)[1:]  # an adjacency is often sparse
    return any(t.dim() == 2 and ((not t.is_floating_point() and t.shape[0] == 2 and B != 2)
                                 or (t.shape == (B, B) and (t.is_floating_point() or t.dtype == torch.bool)))
               for t in extra)


def _mixing_hint(module, root) -> str:
    if isinstance(module, (nn.RNNBase, nn.MultiheadAttention, nn.TransformerEncoderLayer,
                           nn.TransformerDecoderLayer)) and not getattr(module, "batch_first", True):
        return f"; {type(module).__name__} expects (T, B, ...) unless batch_first=True"
    if module is not None and module is root:
        return "; an operation in forward() between the layers mixes them (a view where permute was needed?)"
    return ""


def _leak_hint(module) -> str:
    if isinstance(module, (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerEncoder)):
        return "; the self-attention has no causal mask"
    if isinstance(module, nn.RNNBase) and module.bidirectional:
        return "; the RNN is bidirectional"
    if isinstance(module, nn.Conv1d):
        return "; the convolution is centred (it pads both sides)"
    return ""
