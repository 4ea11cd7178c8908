"""What the loss really receives: probabilities, log-probabilities or logits, and in which shape (ND202-ND205).

What it catches, from the model's real outputs on a few real batches (a forward on a copy) and the loss:
- ND202 double-softmax: probabilities fed to a loss that applies its own softmax or sigmoid: every output row in
  [0, 1] and summing to 1 into CrossEntropyLoss (or a function that computes F.cross_entropy), a sigmoid or
  softmax output into BCEWithLogitsLoss;
- ND203 loss-expects-probabilities: NLLLoss given raw logits or plain probabilities (a log-probability row has a
  logsumexp of 0), BCELoss given values outside [0, 1] (BCELoss raises: this check still runs when the runner's
  probe fails in the loss, and says why);
- ND204 shape-broadcast: output and target shapes that differ by a unit axis ((N, 1) against (N,)): MSELoss and
  L1Loss broadcast them to (N, N) and compare every prediction with every target; BCE losses refuse them;
- ND205 clipped-logits: a non-negative activation (ReLU, Softplus, Sigmoid) on the final logits of a
  classifier: the last operation of forward (read from the output's autograd graph, or the last module run)
  and outputs that are all >= 0, a share of them exactly 0.

A function loss is identified by calling it on a synthetic output and comparing with F.cross_entropy,
F.nll_loss, F.binary_cross_entropy(_with_logits); when it matches none (a custom loss), only what is certain
from the values is said, and nothing is said about what it expects. An output the loss takes whole (a VAE's
(recon, mu, logvar)) is judged by its primary tensor (`nndoctor.probes.output_parts`), the loss called with the
whole structure and matched up to a scale and an offset (its other terms, a sum reduction); a loss over
`output[idx_train]` is compared with the known losses on the rows it scores.

Why it matters: none of these raise (BCELoss aside). A double softmax caps how confident the model can be, so the
loss floor stays far above zero; NLLLoss on logits runs off to minus infinity; a broadcast MSE trains the model
to predict the batch mean; a ReLU on logits gives half of them zero gradient.

How to fix it: return raw logits from forward and let the loss squash them (CrossEntropyLoss,
BCEWithLogitsLoss); with NLLLoss end the model with log_softmax; make output and target shapes equal before the
loss (output.squeeze(-1) or target.view_as(output)); end a classifier with a plain Linear.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nndoctor import Check, Option
from nndoctor.probes.losses import REGRESSION_LOSSES, is_model_loss, loss_value, stand_in_loss
from nndoctor.probes.output_parts import Output, detached, primary, scored_rows, split_output
from nndoctor.probes.outputs import final_op
from nndoctor.probes.hooks import module_label, on_forward

# Autograd nodes that only move values around: the final operation is found behind them.
NONNEG_OPS = {"Relu", "Relu6", "Hardtanh", "Threshold", "Softplus", "Sigmoid", "Softmax", "Exp", "Abs"}
MODULE_OPS = {nn.Softmax: "Softmax", nn.LogSoftmax: "LogSoftmax", nn.Sigmoid: "Sigmoid", nn.ReLU: "Relu",
              nn.ReLU6: "Hardtanh", nn.Softplus: "Softplus"}
FUNCTIONS = {"cross_entropy": "F.cross_entropy", "nll": "F.nll_loss", "bce_with_logits":
             "F.binary_cross_entropy_with_logits", "bce": "F.binary_cross_entropy"}


class LossInputs(Check):
    """The real outputs against the loss: double softmax, logits into NLL/BCE, broadcast shapes, clipped logits."""

    name = "loss-inputs"
    codes = ("ND202", "ND203", "ND204", "ND205")
    cost = "low"
    # BCELoss raises on logits, so the runner's probe fails at the loss: this check does its own forward and
    # runs anyway (it returns at once when the data or the forward itself fails).
    needs_model = False
    options = {
        "batches": Option(4, "batches whose outputs are read", unit="batches", low=1),
        "sum_tol": Option(1e-3, "|row sum - 1| below this on every row: the rows are probability distributions",
                          low=1e-12),
        "lse_tol": Option(0.1, "median |logsumexp over classes| above this (nats): not log-probabilities",
                          unit="nats", low=1e-12),
        "zero_share": Option(0.1, "share of outputs exactly 0 (all >= 0): clipped logits without a gradient; error "
                             "(continuous logits are never exactly 0; a ReLU zeroes about half of them)",
                             unit="share", low=0, high=1),
        "match_tol": Option(1e-4, "relative gap below which a function loss equals a known loss", low=0),
        "negative_targets": Option(0.1, "regression: share of targets < 0 from which a non-negative output is clipped",
                                   unit="share", low=0, high=1),
    }
    quick_options = {"batches": 2}

    def run(self, ctx):
        if ctx.probe_error is not None and ctx.probe_error[0] != "loss":
            return  # no batch or no forward: forward-probe says why
        batches = ctx.batches(self.opts["batches"])
        model = ctx.new_model(train=True)
        op, where, first = self._final_op(ctx, model, batches[0])
        with torch.no_grad():
            wholes = [first] + [ctx.forward(model, b.inputs, b.targets) for b in batches[1:]]
        ys = [b.targets for b in batches]
        # A structure the loss takes whole (a VAE's (recon, mu, logvar)): its primary tensor is measured and the
        # loss is always called with the whole structure (`nndoctor.probes.output_parts`).
        parts = [split_output(detached(w), y) for w, y in zip(wholes, ys)]
        if not all(isinstance(p.tensor, torch.Tensor) for p in parts) or not isinstance(ys[0], torch.Tensor):
            return
        outs = [p.tensor.float() for p in parts]
        if not all(bool(torch.isfinite(o).all()) for o in outs):
            return  # NaN/Inf outputs say nothing about wiring (non-finite-forward, ND306, names where they start)
        loss = ctx.new_loss()  # a copy: the user's loss object is never called
        kind, class_dim = loss_kind(loss, outs[0], ys[0], self.opts["match_tol"], parts[0])
        ev = {"loss": _loss_label(loss, kind), "final_op": op or "unknown", "output_shape": list(outs[0].shape),
              "target_shape": list(ys[0].shape)}
        if parts[0].structured:
            ev["output_part"] = list(parts[0].path)
        found = list(self._shapes(loss, kind, outs, ys, ev, parts[0]))
        yield from found
        if found:
            return  # with shapes that disagree, what the values mean is moot
        yield from self._probabilities(kind, class_dim, op, outs, ev, where)
        yield from self._clipped(kind, class_dim, op, outs, ys, ev, where)

    # -- measurement: the last operation of forward ----------------------------------------------------------
    @staticmethod
    def _final_op(ctx, model, batch):
        """(op, where, output): the last non-reshaping operation that produced the output, from its autograd
        node (works for functional calls too), else from the last module that ran; and where it happened."""
        last = {}

        def remember(name, module, args, out):
            last.update(name=name, module=module, numel=out.numel())

        with on_forward(model, remember):
            whole = ctx.forward(model, batch.inputs, batch.targets)
        out = primary(whole, batch.targets)
        if not isinstance(out, torch.Tensor):
            return None, None, whole
        op = final_op(out)
        module = last.get("module")
        if module is None or last.get("numel") != out.numel():
            return op, (f"forward() of {type(model).__name__}" if op else None), whole
        label = module_label(last["name"], module)
        mod_op = next((v for k, v in MODULE_OPS.items() if isinstance(module, k)), None)
        if mod_op is not None and op in (None, mod_op):
            return mod_op, label, whole
        if op in NONNEG_OPS or op == "LogSoftmax":  # a functional squashing call after the last module
            return op, f"forward() of {type(model).__name__}: a functional {op.lower()} after {label}", whole
        return op, label, whole

    # -- ND204: output and target shapes ----------------------------------------------------------------------
    def _shapes(self, loss, kind, outs, ys, ev, part):
        out, y = outs[0], ys[0]
        if kind in ("cross_entropy", "nll") or not y.is_floating_point() or out.shape == y.shape \
                or out.numel() != y.numel():
            return
        if part.structured:
            return  # a loss over a whole structure reshapes its parts itself (recon against x.view(-1, 784))
        if kind in ("bce", "bce_with_logits"):
            yield self._broadcast(ev, "BCE losses refuse output and target shapes that differ "
                                  f"({tuple(out.shape)} against {tuple(y.shape)}) and raise")
            return
        try:
            wide = torch.broadcast_shapes(out.shape, y.shape)
        except RuntimeError:
            return
        if math.prod(wide) <= out.numel():
            return
        # (N, 1) against (N,) as given, and with the output reshaped to the target's shape
        as_is, matched = loss_value(loss, out, y), loss_value(loss, out.reshape(y.shape), y)
        same = as_is is not None and matched is not None and \
            abs(as_is - matched) <= self.opts["match_tol"] * max(1.0, abs(matched))
        if matched is None or same:
            return  # the loss handles the shapes itself (it squeezes inside), or it cannot run reshaped
        ev = {**ev, "broadcast_shape": list(wide), "loss_as_is": as_is if as_is is not None else "raises",
              "loss_with_matching_shapes": matched}
        if as_is is None:
            title = (f"the loss raises on output {tuple(out.shape)} against target {tuple(y.shape)}, and runs once "
                     "the shapes match")
        else:
            title = (f"the loss broadcasts output {tuple(out.shape)} against target {tuple(y.shape)} to "
                     f"{tuple(wide)}: every prediction is compared with every target")
        yield self._broadcast(ev, title)

    def _broadcast(self, ev, title):
        return self.finding("ND204", title, ev, where="loss(outputs, targets)", confidence=1.0,
                            fix="Make the shapes equal before the loss: output.squeeze(-1) (or "
                            "target.view_as(output)), and assert output.shape == target.shape in the training step.")

    # -- ND202 / ND203: probabilities, log-probabilities, logits ------------------------------------------------
    def _probabilities(self, kind, d, op, outs, ev, where):
        o = self.opts
        lo, hi = min(float(t.min()) for t in outs), max(float(t.max()) for t in outs)
        ev = {**ev, "min": lo, "max": hi}
        if kind in ("cross_entropy", "nll") and outs[0].dim() >= 1 and outs[0].shape[d] >= 2:
            C = int(outs[0].shape[d])
            sum_dev = max(float((t.sum(dim=d) - 1).abs().max()) for t in outs)  # rows: sums over the class axis
            rows_are_probs = lo >= -1e-6 and hi <= 1 + 1e-6 and sum_dev < o["sum_tol"]
            if kind == "cross_entropy" and rows_are_probs:
                floor = math.log(1 + (C - 1) / math.e)  # CE of a one-hot probability row after a second softmax
                yield self.finding(
                    "ND202", f"{ev['loss']} gets probabilities: every output row is in [0, 1] and sums to 1 "
                    f"(a softmax before the loss's own); the loss can never go below {floor:.3g}",
                    {**ev, "classes": C, "max_row_sum_error": sum_dev, "loss_floor": floor},
                    where=where or "model output", confidence=1.0,
                    fix="Return raw logits from forward: remove the final nn.Softmax / F.softmax and apply softmax "
                        "only at inference. (Or end with log_softmax and use NLLLoss.)")
            elif kind == "nll":
                lse = torch.cat([torch.logsumexp(t, dim=d).reshape(-1) for t in outs])  # (rows,) 0 for log-probs
                med = float(lse.abs().median())
                if med > o["lse_tol"]:
                    what = "probabilities (a softmax without the log)" if rows_are_probs else "raw logits"
                    positive = sum(int((t > 0).sum()) for t in outs) / sum(t.numel() for t in outs)
                    yield self.finding(
                        "ND203", f"{ev['loss']} gets {what}: the median logsumexp over classes is {med:.3g}, not 0 "
                        "as for log-probabilities", {**ev, "classes": C, "median_abs_logsumexp": med,
                                                      "positive_share": positive},
                        where=where or "model output", confidence=self.margin(med, o["lse_tol"]),
                        fix="Use nn.CrossEntropyLoss on the raw logits, or end the model with "
                            "F.log_softmax(logits, dim=1) for NLLLoss.")
        elif kind == "bce_with_logits" and op in ("Sigmoid", "Softmax") and lo >= 0 and hi <= 1:
            yield self.finding(
                "ND202", f"{ev['loss']} gets probabilities: the output comes from a {op.lower()} and lies in "
                f"[{lo:.3g}, {hi:.3g}]; the loss applies its own sigmoid, so it never goes below 0.31 on a target "
                "of 1 or 0.69 on a target of 0", {**ev, "loss_floor": math.log(1 + math.exp(-1))},
                where=where, confidence=1.0,
                fix="Remove the final sigmoid from forward and keep BCEWithLogitsLoss (apply torch.sigmoid only "
                    "at inference), or keep the sigmoid and switch to BCELoss.")
        elif kind == "bce" and (lo < 0 or hi > 1):
            yield self.finding(
                "ND203", f"{ev['loss']} gets values in [{lo:.3g}, {hi:.3g}], outside [0, 1]: raw logits without a "
                "sigmoid (BCELoss raises on them)", ev, where=where or "model output", confidence=1.0,
                fix="Use nn.BCEWithLogitsLoss on the raw logits (numerically stable), or apply torch.sigmoid "
                    "at the end of forward for BCELoss.")

    # -- ND205: a non-negative activation on the logits -----------------------------------------------------------
    def _clipped(self, kind, d, op, outs, ys, ev, where):
        o = self.opts
        if kind not in ("cross_entropy", "bce_with_logits", "regression"):
            return
        lo = min(float(t.min()) for t in outs)
        if lo < 0:
            return
        zeros = sum(int((t == 0).sum()) for t in outs) / sum(t.numel() for t in outs)
        structural = op in NONNEG_OPS
        if not structural and zeros < o["zero_share"]:
            return
        if kind == "cross_entropy" and op == "Softmax" or kind == "bce_with_logits" and op in ("Sigmoid", "Softmax"):
            return  # a double softmax/sigmoid: ND202's business
        hi = max(float(t.max()) for t in outs)
        ev = {**ev, "min": lo, "max": hi, "zero_share": zeros}
        severity = "error" if zeros >= o["zero_share"] else "warning"
        if kind == "regression":
            y = torch.cat([t.reshape(-1).float() for t in ys])
            negative = float((y < 0).float().mean())
            if negative < o["negative_targets"]:
                return  # non-negative targets: a non-negative output can be the right choice
            title = f"the output is never negative ({op or 'clipped'} at the end) but {negative:.0%} of the targets are"
            ev["negative_target_share"] = negative
        else:
            title = f"the logits pass through a non-negative {op.lower() if op else 'activation'}: all >= 0"
            if zeros > 0:
                title += f", {zeros:.0%} exactly 0 (no gradient there)"
            if kind == "cross_entropy" and op == "Sigmoid":
                C = int(outs[0].shape[d])
                floor = math.log(1 + (C - 1) / math.e)  # best CE with every logit confined to (0, 1)
                ev["loss_floor"] = floor
                title += f"; confined to (0, 1), the loss cannot go below {floor:.3g} (chance is {math.log(C):.3g})"
                if floor > 0.5 * math.log(C):
                    severity = "error"  # the model can never get below half the chance loss
        yield self.finding("ND205", title, ev, severity=severity, where=where or "model output",
                           confidence=1.0 if structural else self.margin(zeros, o["zero_share"]),
                           fix="End the model with a plain nn.Linear: drop the trailing nn.ReLU/Softplus/Sigmoid and "
                               "let the loss squash the logits (CrossEntropyLoss, BCEWithLogitsLoss).")


def loss_kind(loss, out: torch.Tensor, y: torch.Tensor, tol: float, part: Output | None = None
              ) -> tuple[str | None, int]:
    """(kind, class axis) of the loss: from its class, or for a function by what it computes on synthetic outputs
    (random ones, so that CE and NLL, BCE and BCE-with-logits give different values).

    The function is called as the model's output reaches it (`part`: the whole structure, the primary tensor
    replaced by the candidate) and compared with the known loss on the rows it reads (a loss over
    `output[idx_train]` is compared on those rows). A loss over a structure adds terms of the other parts (a VAE's
    KL term) and may sum instead of average: there it matches a known loss up to a positive scale and an offset.
    """
    d = 1 if out.dim() >= 2 else 0
    for cls, kind in ((nn.CrossEntropyLoss, "cross_entropy"), (nn.NLLLoss, "nll"),
                      (nn.BCEWithLogitsLoss, "bce_with_logits"), (nn.BCELoss, "bce")):
        if isinstance(loss, cls):
            return kind, d
    if isinstance(loss, REGRESSION_LOSSES):
        return "regression", d
    if is_model_loss(loss):
        return _model_loss_kind(loss, out, y, tol), -1 % max(1, out.dim())
    part = part if part is not None else Output(out, (), out)
    user = lambda z: loss_value(loss, part.with_tensor(z), y)  # noqa: E731  the loss as the model's output reaches it
    rows = scored_rows(loss, part, y) if y.dim() >= 1 and y.shape[0] == out.shape[0] else None
    pick = (lambda t: t[rows]) if rows is not None else (lambda t: t)  # noqa: E731  (N, ...) -> (scored, ...)
    g = torch.Generator().manual_seed(0)
    zs = [(3 * torch.randn(out.shape, generator=g)).to(out.device) for _ in range(3 if part.structured else 1)]
    if not y.is_floating_point() and out.dim() >= 2:
        for axis, flat in _class_layouts(out, y):
            for kind, ref in (("cross_entropy", F.cross_entropy), ("nll", F.nll_loss)):
                refs = [loss_value(ref, *flat(pick(z), pick(y))) for z in zs]
                if _same(list(map(user, zs)), refs, tol, part.structured):
                    return kind, axis
    elif y.is_floating_point() and out.numel() == y.numel() and (out.shape == y.shape or part.structured) \
            and bool(((y >= 0) & (y <= 1)).all()):
        yy = pick(y.reshape(out.shape))  # a structure's loss may reshape the targets itself (x.view(-1, 784))
        for kind, squash, ref in (("bce_with_logits", lambda z: z, F.binary_cross_entropy_with_logits),
                                  ("bce", torch.sigmoid, F.binary_cross_entropy)):  # BCE runs on probabilities
            xs = [squash(z) for z in zs]
            if _same(list(map(user, xs)), [loss_value(ref, pick(x), yy) for x in xs], tol, part.structured):
                return kind, d
    return None, d


def _model_loss_kind(loss, out, y, tol: float) -> str | None:
    """What a model's own loss computes (`loss: model`): the function loss that gives the loss it returned with
    its real outputs `out` (synthetic outputs cannot be fed to it), or None (a causal LM that shifts its labels)."""
    stand_in = stand_in_loss(loss, out, y, tol)
    return None if stand_in is None else {F.cross_entropy: "cross_entropy", F.nll_loss: "nll"}[stand_in.reference]


def _class_layouts(out: torch.Tensor, y: torch.Tensor) -> list:
    """(class axis, fn(z, y) -> arguments of F.cross_entropy) for the layouts the output and targets allow."""
    layouts = []
    if out.shape[:-1] == y.shape:  # (..., C) against (...): the class axis last
        layouts.append((-1, lambda z, t: (z.reshape(-1, z.shape[-1]), t.reshape(-1))))  # (rows, C), (rows,)
    if out.shape[0] == y.shape[0] and out.shape[2:] == y.shape[1:]:  # (N, C, ...) against (N, ...)
        layouts.append((1, lambda z, t: (z, t)))
    return layouts


def _same(user: list, ref: list, tol: float, affine: bool) -> bool:
    """The user's values equal the reference's (within `tol`); with `affine`, up to a positive scale and an offset
    (user = a * ref + b, a > 0), judged from three candidates."""
    if any(v is None for v in user + ref):
        return False
    if not affine:
        return abs(user[0] - ref[0]) <= tol * max(1.0, abs(ref[0]))
    if ref[0] == ref[1] or ref[0] == ref[2]:
        return False
    a = (user[0] - user[1]) / (ref[0] - ref[1])
    predicted = user[0] - a * (ref[0] - ref[2])
    return a > 0 and abs(predicted - user[2]) <= tol * max(1.0, abs(user[2]), abs(user[0] - user[2]))


def _loss_label(loss, kind: str | None) -> str:
    """CrossEntropyLoss for a module; for a function its name and the known loss it was found to compute."""
    if isinstance(loss, nn.Module):
        return type(loss).__name__
    if is_model_loss(loss):
        return f"{loss!r} ({FUNCTIONS[kind]})" if kind in FUNCTIONS else repr(loss)
    name = getattr(loss, "__name__", "")
    name = f"{name}()" if name and name != "<lambda>" else "the loss function"
    return f"{name} ({FUNCTIONS[kind]})" if kind in FUNCTIONS and FUNCTIONS[kind] not in name else name
