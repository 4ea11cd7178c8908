"""Eval mode must be deterministic and agree with train mode (37 reasons #32).

What it catches (ND307 train-eval-discrepancy), on copies, with a few real batches:
- eval mode that is not deterministic: two eval-mode forwards of the same batch differ by more than `det_tol` of
  the outputs' spread across samples. The usual cause is a dropout that ignores the mode,
  `F.dropout(x, p)` (its `training` argument defaults to True) instead of `F.dropout(x, p, self.training)` or an
  `nn.Dropout` module. The finding names where the randomness enters: the first module whose input (or output)
  differs between the two passes. A forward that samples on purpose in every mode (a VAE's `randn_like` in
  reparameterize) draws no dropout mask in eval mode: that variation is its design, not ND307
  (`nndoctor.probes.train_eval_modes.Randomness`), and its train and eval passes are compared on the same draws.
- eval-mode outputs far from train-mode outputs. Dropout is switched off for the comparison and every
  BatchNorm's running statistics are first made the exact average over the batches (momentum=None, a fresh start,
  one train-mode pass without gradient), so what is left of the gap is what eval mode really changes. A healthy
  model then differs only by the sampling noise of batch statistics, about sqrt(1.5 L / B) of the output's spread
  for L BatchNorm layers and batches of B samples; a gap `sharp` times that (and at least `min_gap`) is flagged:
  a BatchNorm with momentum=0 whose running statistics never move from their initial values, a custom
  normalisation layer whose eval branch computes something else, a forward that returns other values in eval mode.
  Any randomness that remains in train mode (a stochastic-depth block, a functional dropout that follows
  `self.training`) is measured with a second train pass and taken out of the gap; when that noise is above
  `min_gap`, the gap is measured again against the mean of 16 train passes (one pair would misjudge it).

Why it matters: validation runs in eval mode. If eval outputs are random, metrics are irreproducible and every
prediction is noisy; if they differ from what training optimised, validation looks inexplicably bad while the
training loss is fine.

How to fix it: use nn.Dropout modules or pass training=self.training to F.dropout; call model.train() to train and
model.eval() under torch.no_grad() to evaluate. Leave BatchNorm's momentum at its default (never 0 unless the
statistics are already right, as for a pretrained backbone frozen on purpose), give the running statistics enough
training steps, and test a custom norm layer's eval branch against its training branch on the same batch.
"""
from __future__ import annotations

import math

import torch

from nndoctor import Check, Option
from nndoctor.probes.batches import first_tensor
from nndoctor.probes.hooks import module_label, on_forward
from nndoctor.probes.train_eval_modes import (batchnorms, dropout_off, eval_noise, Randomness,
                                             refresh_batchnorm, rms, same_draws, spread)


def trace(ctx, model, inputs) -> tuple[list, torch.Tensor | None]:
    """One forward without gradient: (label, input, output) of each module call in execution order, and the output."""
    calls = []

    def record(name, module, args, out):
        x = first_tensor(args)
        calls.append((module_label(name, module), None if x is None else x.detach().clone(), out.detach().clone()))

    with torch.no_grad(), on_forward(model, record):
        out = first_tensor(ctx.forward(model, inputs))
    return calls, out


def differs(a, b, tol: float) -> bool:
    """Two recorded tensors differ by more than `tol` of the first one's spread (or magnitude)."""
    if a is None or b is None or a.shape != b.shape or not a.is_floating_point():
        return False
    scale = spread(a) or rms(a)
    return rms(a - b) > tol * scale if scale > 0 else rms(a - b) > 0


# Train-mode passes averaged when train mode is noisy (a functional dropout that follows the mode): the gap's error
# then shrinks by sqrt(16) = 4 against the one-pair estimate.
AVERAGED_PASSES = 16
GAP_Z = 2.0  # standard errors below the averaged gap's estimate: a one-sided bound at about 2.5%


class TrainEval(Check):
    """Eval mode against itself (deterministic?) and against train mode (stale BatchNorm, eval branch bugs)."""

    name = "train-eval"
    codes = ("ND307",)
    cost = "low"
    options = {
        "batches": Option(4, "batches compared", unit="batches", low=1),
        "det_tol": Option(1e-4, "two eval passes differing by more than this share of the outputs' spread: not "
                          "deterministic", unit="share", low=0),
        "det_error": Option(0.05, "... by this share or more: error (eval predictions are visibly random)",
                            unit="share", low=0),
        "sharp": Option(4.0, "eval-train gap above this many times the batch-statistics noise sqrt(1.5 L / B): "
                        "flagged", unit="ratio", low=0),
        "min_gap": Option(0.1, "... and above this share of the outputs' spread (the floor, without BatchNorm)",
                          unit="share", low=1e-12),
        "gap_error": Option(1.0, "a gap as large as the outputs' own spread across samples: error", unit="share",
                            low=0),
        "refresh_passes": Option(1, "train-mode passes over the batches that set the BatchNorm statistics",
                                 unit="passes", low=1),
    }
    quick_options = {"batches": 2}

    def run(self, ctx):
        batches = ctx.batches(self.opts["batches"])
        found = list(self._deterministic(ctx, batches[0]))
        yield from found
        if not found:  # a random eval mode makes the comparison with train mode meaningless
            yield from self._against_train(ctx, batches)

    # -- eval mode, twice -----------------------------------------------------------------------------------------
    def _deterministic(self, ctx, batch):
        o = self.opts
        self.sampling = []  # set by _samples_by_design
        model = ctx.new_model(train=False)
        randomness = Randomness()
        noise = eval_noise(ctx, model, batch.inputs, randomness)
        if noise <= o["det_tol"] or self._samples_by_design(randomness):
            return
        first, second = trace(ctx, model, batch.inputs), trace(ctx, model, batch.inputs)
        where, how = "model output", "in forward, after the last module"
        for (label, x1, y1), (_, x2, y2) in zip(first[0], second[0]):
            if differs(x1, x2, o["det_tol"]):
                where, how = f"input of {label}", f"in forward, just before {label}"
                break
            if differs(y1, y2, o["det_tol"]):
                where, how = label, f"inside {label}"
                break
        yield self.finding(
            "ND307", f"eval mode is not deterministic: two eval passes of the same batch differ by {noise:.2g} times "
                     f"the outputs' spread across samples; the randomness enters {how}",
            {"eval_noise": noise, "det_tol": o["det_tol"], "randomness_enters": how, "batch_size": batch.size},
            where=where, severity="error" if noise >= o["det_error"] else "warning",
            confidence=self.margin(noise, o["det_tol"]),
            fix="Pass training=self.training to F.dropout (its default is training=True, so it stays on in eval "
                "mode), or use an nn.Dropout module; any other sampling in forward should check self.training.")

    def _samples_by_design(self, randomness: Randomness) -> bool:
        """Eval mode varies because forward samples on purpose (a VAE's reparameterisation), not because a dropout
        ignores the mode: no dropout mask is drawn in eval mode (`probes.train_eval_modes.Randomness`). The
        comparison with train mode then draws the same samples in both modes (`_output`)."""
        self.sampling = randomness.sampling if randomness.by_design else []
        return randomness.by_design

    # -- eval mode against train mode -------------------------------------------------------------------------------
    def _against_train(self, ctx, batches):
        o = self.opts
        model = ctx.new_model(train=True)
        dropped = dropout_off(model)
        frozen, stateful = refresh_batchnorm(ctx, model, batches, o["refresh_passes"])
        L = len(batchnorms(model)) + len(stateful)  # layers that normalise by batch statistics in train mode
        B = min(b.size for b in batches)
        trains = []
        with torch.no_grad():
            for i, b in enumerate(batches):
                ctx.check_time()
                t1, t2 = self._output(ctx, model, b, i), self._output(ctx, model, b, i)
                trains.append((t1, t2))
            model.eval()
            evals = [self._output(ctx, model, b, i) for i, b in enumerate(batches)]
        gaps, noises = [], []
        for (t1, t2), e in zip(trains, evals):
            if t1 is None or e is None or t1.shape != e.shape or not t1.is_floating_point():
                return  # eval mode returns something of another kind: nothing to compare
            scale = spread(t1) or rms(t1)
            if scale == 0 or not math.isfinite(scale):
                return
            gaps.append((rms(e - t1) ** 2 - rms(t1 - t2) ** 2 / 2) / scale ** 2)  # train-mode noise taken out
            noises.append(rms(t1 - t2) / scale)
        gap = math.sqrt(max(0.0, sum(gaps) / len(gaps)))
        expected = math.sqrt(1.5 * L / B) if L else 0.0
        threshold = max(o["min_gap"], o["sharp"] * expected)
        if gap > threshold and sum(noises) / len(noises) > o["min_gap"]:
            gap = self._averaged_gap(ctx, model, batches, evals)  # train mode is noisy: one pair cannot tell
        if not math.isfinite(gap) or gap <= threshold:
            return
        where = self._first_gap(ctx, model, batches[0], max(o["min_gap"], o["sharp"] * math.sqrt(1.5 / B)))
        why = (f"; BatchNorm {', '.join(frozen)} has momentum=0: its running statistics never update" if frozen
               else "")
        yield self.finding(
            "ND307", f"eval-mode outputs differ from train-mode outputs by {gap:.2g} times their spread across samples "
                     f"(batch-statistics noise explains about {expected:.2g}); first at {where}{why}",
            {"gap": gap, "expected_noise": expected, "threshold": threshold, "batch_statistics_layers": L,
             "batch_size": B, "momentum_zero": frozen, "train_mode_noise": sum(noises) / len(noises),
             "dropout_modules_off": len(dropped)},
            where=where, severity="error" if gap >= o["gap_error"] else "warning",
            confidence=self.margin(gap, threshold),
            fix="Compare the module named in train and eval mode on one batch. Leave BatchNorm's momentum at its "
                "default (0 freezes the running statistics at their initial values), keep track_running_stats=True, "
                "and make a custom norm layer's eval branch use the statistics its training branch accumulates.")

    def _output(self, ctx, model, batch, i: int):
        """The output of one forward of batch i. When forward samples by design, every pass of batch i draws the
        same noise (the random generators seeded alike, the user's state left as it was), so that train against
        eval compares the modes, not two draws."""
        if not getattr(self, "sampling", None):
            return first_tensor(ctx.forward(model, batch.inputs, batch.targets))
        with same_draws(ctx.device, ctx.seed + i):
            return first_tensor(ctx.forward(model, batch.inputs, batch.targets))

    def _averaged_gap(self, ctx, model, batches, evals) -> float:
        """The train-eval gap over the outputs' spread, against the mean of `AVERAGED_PASSES` train-mode passes with
        their sampling variance taken out, at its lower confidence bound (`GAP_Z` standard errors over the output
        elements below the estimate). Used when train mode itself is noisy beyond `min_gap` (a functional dropout
        that follows self.training, which dropout_off cannot reach): the one-pair estimate then carries an error
        of the size of that noise. The model is left in eval mode."""
        gaps = []
        model.train()
        dropout_off(model)
        with torch.no_grad():
            for i, (b, e) in enumerate(zip(batches, evals)):
                ctx.check_time()
                runs = torch.stack([self._output(ctx, model, b, i).double()
                                    for _ in range(AVERAGED_PASSES)])  # (K, ...)
                scale = spread(runs[0]) or rms(runs[0])
                # per element: squared distance to the train mean, less the mean's own variance (unbiased)
                g = ((e.double() - runs.mean(0)) ** 2 - runs.var(0) / AVERAGED_PASSES).reshape(-1) / scale ** 2
                bound = float(g.mean()) - GAP_Z * float(g.std()) / g.numel() ** 0.5 if g.numel() > 1 else 0.0
                gaps.append(bound)
        model.eval()
        return math.sqrt(max(0.0, sum(gaps) / len(gaps)))

    def _first_gap(self, ctx, model, batch, tol) -> str:
        """The first module whose output differs between train and eval mode beyond `tol` of its spread."""
        model.train()
        dropout_off(model)
        train_calls, _ = trace(ctx, model, batch.inputs)
        model.eval()
        eval_calls, _ = trace(ctx, model, batch.inputs)
        for (label, _, y1), (_, _, y2) in zip(train_calls, eval_calls):
            if differs(y1, y2, tol):
                return label
        return "the forward (no single module)"
