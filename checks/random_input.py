"""The output must depend on the input, and the real inputs must teach more than no inputs (37 reasons #2, #4,
#5; Recipe "input-independent baseline").

What it catches:
- ND301 output-ignores-input: in eval mode, the outputs on a few real batches hardly vary from sample to sample
  or from batch to batch: their spread across samples is below `rel_tol` of their magnitude (an all-zero output
  is the extreme). Before it says so it checks that inputs drawn at random (floats with the batch's mean and
  std, token ids drawn in the observed range) change nothing either, and that a few training steps do not
  bring the variation back (a last layer initialised to zero is constant at initialisation only). It names the
  module where the variation dies: the first one after which every module's output is constant.
- ND109 uninformative-inputs: two copies train side by side for a few tens of steps with the user's optimizer on
  `train_batches` batches, one on the real inputs, one on zeroed inputs (integer inputs, such as token ids or
  masks, filled with their most frequent value) with the same targets; every other batch is held out. After each
  `chunk` of steps both are judged in eval mode by their per-sample losses, paired. As soon as the real inputs
  beat the baseline on held-out samples by more than `z` standard errors, they carry signal: the check stops.
  When instead the real copy has fitted its training samples clearly (its loss there below the baseline's by
  `min_gain`, and by enough standard errors that a transfer of `min_transfer` would have been seen held out with
  90% power: `z_power`) while its held-out gain stays, `z` standard errors included, below `min_transfer` of that
  training gain and below zero (on new samples, what it learned does worse than no input at all, as memorised
  noise must: `MEMORISATION`), the inputs do not predict the targets, as when inputs and labels were shuffled
  apart. A copy that has not fitted its own samples that clearly cannot show that the inputs
  are uninformative: a low transfer then is a note (inconclusive), not an error. A slow learner, or a case too
  close to call within the steps or the time box, is not judged, nor is one with fewer than `min_heldout`
  held-out samples; --quick does not run it. Data whose targets are its inputs shifted by one position (a
  language model, whatever `task` says) is skipped: such targets cannot be paired wrongly; so is a model whose
  eval mode is random (ND307).

Why it matters: a network that ignores its input predicts one constant (all zeros, the majority class, the
mean), and its loss plateaus at a level that looks like learning. Labels decoupled from their inputs train
"fine" too: the loss falls as the model memorises, and no tuning will ever make it generalise.

How to fix it: for ND301, bisect with forward hooks from the module named: a layer with all-zero weights and
biases, a norm over a single value, a dead activation, or a forward that drops `x`. For ND109, look at a few
(input, label) pairs by eye and apply every shuffle, sort, split or filter to inputs and labels together (one
permutation, or one Dataset that returns both).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from nndoctor import Check, Option
from nndoctor.probes.batches import Batch, first_tensor, map_tensors, tensors
from nndoctor.probes.sequences import SHIFT_SHARE, predicts_next_step
from nndoctor.probes.hooks import capture_forward, leaf_modules, module_label
from nndoctor.probes.losses import ignored_target, is_model_loss
from nndoctor.probes.train_eval_modes import batchnorms, dropout_off, eval_noise, refresh_batchnorm, rms, spread


def blank_values(batches: list[Batch]) -> list:
    """One fill value per input tensor for the input-independent baseline, the same for every batch: 0 for
    floats, the most frequent value over the batches for integer tensors (padding or a common token; 1 in masks)."""
    per_tensor = list(zip(*[tensors(b.inputs) for b in batches]))  # [(tensor i of batch 0, of batch 1, ...)]
    values = []
    for ts in per_tensor:
        if ts[0].is_floating_point() or ts[0].is_complex() or ts[0].numel() == 0:
            values.append(0)
        else:
            flat = torch.cat([t.reshape(-1).cpu().long() for t in ts])  # (all values,)
            values.append(int(torch.mode(flat).values))
    return values


def blank(inputs, values: list):
    """The inputs with every tensor filled with its baseline value: nothing left that depends on the sample."""
    it = iter(values)
    return map_tensors(inputs, lambda t: torch.full_like(t, next(it, 0)), sparse=False)  # structure stays


def randomised(inputs, gen: torch.Generator):
    """Other inputs: floats drawn with each tensor's mean and std, integer ids drawn in the observed range."""
    def draw(t: torch.Tensor) -> torch.Tensor:
        if t.numel() == 0 or t.dtype == torch.bool:
            return t.clone()
        if t.is_floating_point():
            x = t.detach().float()
            noise = torch.randn(t.shape, generator=gen).to(t.device)
            return (noise * x.std().clamp(min=1e-6) + x.mean()).to(t.dtype)
        lo, hi = int(t.min()), int(t.max())
        return torch.randint(lo, hi + 1, t.shape, generator=gen).to(device=t.device, dtype=t.dtype)
    return map_tensors(inputs, draw, sparse=False)  # a sparse adjacency is structure: kept


def variation(outs: list[torch.Tensor]) -> tuple[float, float, float, int]:
    """(relative variation, spread, magnitude, samples) of outputs stacked along the sample axis."""
    same = all(o.shape[1:] == outs[0].shape[1:] for o in outs)
    x = torch.cat(outs) if same else outs[0]  # (N, ...) all samples of all batches
    s, m = spread(x), rms(x)
    return (s / m if m > 0 else 0.0), s, m, int(x.shape[0]) if x.dim() else 1


# ND109's power. The verdict "the inputs do not predict the targets" rests on a held-out gain below
# `min_transfer` of the training gain g_t (its upper bound at `z` standard errors). Had the inputs been informative
# with a transfer of `min_transfer`, that test would see it with probability Phi(z_power) (90%) only when
# min_transfer * g_t >= (z + z_power) * se, se the held-out standard error such a copy would have; its held-out
# samples would spread like the training ones, se = se_t * sqrt(n_train / n_held). So the copy must have fitted its
# training samples by k = (z + z_power) / min_transfer * sqrt(n_train / n_held) standard errors (7.6 for 64
# trained, 192 held out) before a missing transfer is evidence; before that, the test has no power.
# `z_power` = 1.2816, the 90% quantile of the normal: power 90% against a transfer of `min_transfer`.
# MEMORISATION. When the targets do not depend on the inputs, the best prediction for a new sample is the constant
# prior, which the zeroed-input copy learns; under a proper loss (cross-entropy, squared error) any prediction that
# varies with the input does worse in expectation. A copy that memorised unrelated targets therefore loses to the
# baseline on held-out samples, the more the more it memorised (measured on the zoo's shuffled-label cases: -1 to -7
# standard errors when the fit is clear). Informative inputs that 64 samples are too few to learn from leave the
# held-out gain near zero or above (-1 to +0.9 standard errors on a hard rule, on an embedding of 120 tokens).
# So the verdict also needs the held-out gain below zero by `z` standard errors. It is taken as soon as the fit is
# clear: a held-out gain at or above zero then ends the race, inconclusive (a note when the transfer is low), for
# training on would make any copy overfit its 64 samples, informative or not, and drive that gain down. A
# negative gain short of significance lets the race go on: memorised noise only gets worse held out.
# Steps the two copies may take to reach that power: memorising 64 mispaired samples clearly takes one to two
# hundred steps of Adam at 1e-3 (the default of `steps`, 256). A healthy setup stops at the first chunk whose
# held-out gain is significant.


@dataclass
class Race:
    """The real-input copy against the zeroed-input copy, as judged after the last chunk."""

    steps: int = 0
    verdict: str | None = None  # "signal", "memorises", "inconclusive" (fitted, no sign of memorised noise), None
    suggestive: bool = False  # the held-out gain was below `min_transfer` of the training gain without the power
    g_t: float = 0.0  # mean per-sample gain (zeroed loss - real loss) on the training samples
    se_t: float = 0.0
    g_h: float = 0.0  # ... on the held-out samples
    se_h: float = 0.0
    k: float = 0.0  # standard errors of training gain needed for the power (see `z_power`)
    n_train: int = 0
    n_held: int = 0
    better: float = 0.5
    losses: dict = field(default_factory=dict)  # mean losses: train/held-out, real/zeroed
    curve: list = field(default_factory=list)  # held-out gain per chunk

    def update(self, real_train, real_held, zero_train, zero_held, o) -> bool:
        """Judge one chunk; False when a per-sample loss is not finite."""
        d_train, d_held = zero_train - real_train, zero_held - real_held  # per-sample gains, paired
        if not (bool(d_train.isfinite().all()) and bool(d_held.isfinite().all())):
            return False
        z = o["z"]
        self.g_t, self.se_t, self.g_h, self.se_h = float(d_train.mean()), sem(d_train), float(d_held.mean()), \
            sem(d_held)
        self.n_train, self.n_held = d_train.numel(), d_held.numel()
        self.better = float((d_held > 0).double().mean())  # share of held-out samples the real inputs help
        self.losses = {"train_loss_real": float(real_train.mean()), "train_loss_zeroed": float(zero_train.mean()),
                       "heldout_loss_real": float(real_held.mean()), "heldout_loss_zeroed": float(zero_held.mean())}
        self.curve.append(self.g_h)
        self.k = (z + o["z_power"]) / o["min_transfer"] * math.sqrt(self.n_train / self.n_held)
        if self.g_h - z * self.se_h > 0:
            self.verdict = "signal"  # the real inputs help on new samples: they carry signal (conclusive)
            return True
        learned = self.g_t > max(o["min_gain"] * abs(self.losses["train_loss_zeroed"]), z * self.se_t)
        low_transfer = self.g_h + z * self.se_h < o["min_transfer"] * self.g_t
        worse = self.g_h + z * self.se_h < 0  # held out, the real inputs do worse than none: see MEMORISATION
        self.suggestive = learned and low_transfer
        if learned and self.g_t >= self.k * self.se_t:  # fitted clearly: the judgement has its power
            if low_transfer and worse:
                self.verdict = "memorises"  # and what it learned hurts on new samples
            elif self.g_h >= 0:
                self.verdict = "inconclusive"  # no sign of memorised noise; training on would only overfit
        return True

    def evidence(self, o) -> dict:
        return {"steps": self.steps, **self.losses, "train_gain": self.g_t, "train_gain_stderr": self.se_t,
                "heldout_gain": self.g_h, "heldout_gain_stderr": self.se_h,
                "transfer": self.g_h / self.g_t if self.g_t else None, "min_transfer": o["min_transfer"],
                "train_gain_in_stderrs": self.g_t / self.se_t if self.se_t else None,
                "stderrs_needed_for_power": self.k,
                "power": round(0.5 * (1 + math.erf(o["z_power"] / math.sqrt(2))), 3),  # Phi(z_power)
                "train_samples": self.n_train, "heldout_samples": self.n_held, "heldout_share_better": self.better}


class RandomInput(Check):
    """Output against input: a constant network (ND301) and labels unlinked from their inputs (ND109)."""

    name = "random-input"
    codes = ("ND109", "ND301")
    cost = "medium"
    needs_backward = True  # trains a copy on the loss
    options = {
        "batches": Option(4, "batches whose eval outputs are compared (ND301)", unit="batches", low=1),
        "rel_tol": Option(1e-5, "output spread across samples / output RMS below this: constant (float32 rounds at "
                          "1.2e-7 of a value, so this is about a hundred rounding steps)", low=1e-12),
        "confirm_steps": Option(3, "training steps before a constant output is measured again (ND301)", unit="steps",
                                low=0),
        "train_baseline": Option(True, "run ND109's two short training runs (the costliest part: up to 2 x `steps` "
                                 "steps)"),
        "steps": Option(256, "most training steps of each copy, real and zeroed inputs (ND109): memorising 64 "
                        "mispaired samples clearly takes 100-200 steps of Adam at 1e-3", unit="steps", low=1),
        "train_batches": Option(2, "batches trained on: few, so that memorising them shows within the steps",
                                unit="batches", low=1),
        "chunk": Option(8, "steps between two judgements on the held-out batches (stops once the real inputs "
                        "transfer)", unit="steps per judgement", low=1),
        "min_gain": Option(0.05, "real copy's loss on its training samples below the baseline's by this share: it "
                           "learned", unit="share", low=0, high=1),
        "min_transfer": Option(0.25, "held-out gain below this share of the training gain (z standard errors above "
                               "it included): what the real copy learned does not carry over to new samples",
                               unit="share", low=0, high=1),
        "z": Option(2.0, "standard errors of the per-sample gains that make a judgement conclusive",
                    unit="standard errors", low=0),
        "min_heldout": Option(128, "held-out samples needed to judge (the standard error shrinks as 1 / sqrt(n))",
                              unit="samples", low=2),
        "eval_noise_tol": Option(1e-4, "two eval passes differing by this share of the outputs' spread: not judged "
                                 "(ND307)", unit="share", low=0),
        "z_power": Option(1.2816, "normal quantile of ND109's power against a transfer of `min_transfer` (1.2816: "
                          "90%)", unit="standard errors", low=0),
        "shift_share": Option(SHIFT_SHARE, "next-step data: share of the positions whose target is the next input "
                              "(whatever `task` says)", unit="share", low=0, high=1),
    }
    quick_options = {"batches": 2, "train_baseline": False}  # --quick: ND301 only (4 batches: too few held out)

    def run(self, ctx):
        constant = list(self._constant_output(ctx))
        yield from constant
        if not constant:  # a network that ignores its input has nothing to learn from it: ND301 says it all
            yield from self._baseline(ctx)

    # -- ND301: the output does not depend on the input ----------------------------------------------------------
    def _outputs(self, ctx, model, batches, change=None):
        outs = []
        with torch.no_grad():
            for b in batches:
                inputs = change(b.inputs) if change else b.inputs
                out = first_tensor(ctx.forward(model, inputs, b.targets))  # changed inputs, the real targets
                if out is None or not out.is_floating_point() or out.dim() == 0 or not bool(out.isfinite().all()):
                    return None  # no float output to measure, or NaN/Inf (other checks say where they come from)
                outs.append(out.detach())
        return outs

    def _constant_output(self, ctx):
        o = self.opts
        batches = ctx.batches(o["batches"])
        model = ctx.new_model(train=False)  # eval mode: dropout adds no variation of its own
        outs = self._outputs(ctx, model, batches)
        if outs is None:
            return
        rel, s, m, n = variation(outs)
        if n < 2 or rel >= o["rel_tol"]:
            return
        # Other inputs: random ones with the real inputs' statistics. A model that responds to them only sees
        # real inputs that do not vary (ND102's business).
        gen = torch.Generator().manual_seed(ctx.seed)
        other = self._outputs(ctx, model, batches, change=lambda x: randomised(x, gen))
        if other is None:
            return
        moved = max((rms(a - b) for a, b in zip(outs, other) if a.shape == b.shape), default=0.0)
        rel_random = moved / m if m > 0 else 0.0
        if rel_random >= o["rel_tol"]:
            return
        # A few training steps: a last layer initialised to zero is constant at initialisation only.
        trained = ctx.new_model(train=True)
        trainable = any(p.requires_grad for p in trained.parameters())
        losses = ctx.train(trained, ctx.new_optimizer(trained), ctx.batches(), o["confirm_steps"]) if trainable \
            else []
        trained.eval()
        after = self._outputs(ctx, trained, batches)
        rel_after = variation(after)[0] if after is not None else 0.0
        if rel_after >= o["rel_tol"]:
            return
        where = self._where_it_dies(ctx, batches[0])
        zero = m == 0.0
        what = "all zero" if zero else f"the same for every input (spread {s:.3g} against a magnitude of {m:.3g})"
        yield self.finding(
            "ND301", f"the output is {what} on {n} real samples, on random inputs, and still after "
                     f"{len(losses)} training steps; the variation dies at {where}",
            {"samples": n, "relative_variation": rel, "spread": s, "output_rms": m, "all_zero": zero,
             "relative_change_on_random_inputs": rel_random, "relative_variation_after_training": rel_after,
             "training_steps": len(losses), "rel_tol": o["rel_tol"], "variation_dies_at": where},
            where=where, severity="error", confidence=1.0,
            fix=f"Print the output of each module on two different inputs from {where} on: look for a layer whose "
                "weights and biases were all initialised to zero, a norm taken over a single value (LayerNorm(1)), "
                "a dead activation, or a forward that never uses its input (an overwritten variable).")

    def _where_it_dies(self, ctx, batch) -> str:
        """The first module after which every module's output is constant across the batch's samples."""
        model = ctx.new_model(train=False)
        with torch.no_grad(), capture_forward(model) as outs:
            ctx.forward(model, batch.inputs, batch.targets)
        labels = {name: module_label(name, m) for name, m in leaf_modules(model)}
        varying = []  # (label, output varies across samples) in the order the modules first ran
        for name, out in outs.items():
            if out.dim() == 0 or out.shape[0] != batch.size or not out.is_floating_point():
                continue
            m = rms(out)
            varying.append((labels.get(name, name), m > 0 and spread(out) / m >= self.opts["rel_tol"]))
        if not varying:
            return "the model's forward"
        last_alive = max((i for i, (_, alive) in enumerate(varying) if alive), default=-1)
        if last_alive == len(varying) - 1:  # every module varies: the forward drops it after the last module
            return f"the forward, after {varying[-1][0]}"
        return varying[last_alive + 1][0]

    # -- ND109: real inputs teach no more than zeroed ones ----------------------------------------------------------
    def _baseline(self, ctx):
        o = self.opts
        batches = ctx.batches()
        if not o["train_baseline"] or len(batches) < 2:
            return
        b0 = batches[0]
        if ctx.target_shift or predicts_next_step(b0.inputs, b0.targets, ignored_target(ctx.subject.loss),
                                                  o["shift_share"]):
            return  # the targets are the inputs one position on (a language model, or a loss that shifts them)
        model = ctx.new_model()
        if not any(p.requires_grad for p in model.parameters()):
            return  # nothing trains (ND402's business)
        if eval_noise(ctx, model, b0.inputs) > o["eval_noise_tol"]:
            return  # eval mode is random (ND307): held-out losses cannot be compared
        n_train = min(o["train_batches"], len(batches) - 1)
        train_b, held_b = batches[:n_train], batches[n_train:]  # every batch not trained on is held out
        if sum(b.size for b in held_b) < o["min_heldout"]:
            return  # too few held-out samples for their gain to mean anything (e.g. under --quick)
        race = self._race(ctx, train_b, held_b)
        if race is None or race.verdict == "signal":
            return
        if race.verdict == "memorises":
            yield self._memorises(race)
        elif race.suggestive:
            yield self._inconclusive(race)  # the transfer looked low, but the evidence falls short

    def _race(self, ctx, train_b, held_b) -> Race | None:
        """Train a real-input and a zeroed-input copy side by side, judging after each chunk; None on a non-finite
        loss. The verdict: "signal" (the real inputs help on held-out samples), "memorises" (they help only on the
        samples trained on, with the power to see a transfer), or None (not conclusive within the steps)."""
        o = self.opts
        values = blank_values(train_b)
        blank_train = [Batch(blank(b.inputs, values), b.targets) for b in train_b]
        blank_held = [Batch(blank(b.inputs, values), b.targets) for b in held_b]
        real, zero = ctx.new_model(train=True), ctx.new_model(train=True)  # the same initial weights
        opt_real, opt_zero = ctx.new_optimizer(real), ctx.new_optimizer(zero)
        race = Race()
        cap = int(o["steps"])
        started = time.monotonic()
        while race.steps < cap and race.verdict is None:
            if self._out_of_time(ctx, started, race.steps, o["chunk"]):
                break  # the next chunk would not finish inside the time box: what is known so far stands
            k = min(o["chunk"], cap - race.steps)
            turn = race.steps % len(train_b)  # carry on through the batches where the last chunk stopped
            lr = ctx.train(real, opt_real, train_b[turn:] + train_b[:turn], k)
            lz = ctx.train(zero, opt_zero, blank_train[turn:] + blank_train[:turn], k)
            race.steps += k
            if len(lr) < k or len(lz) < k:
                return None  # a non-finite loss: other checks say why
            real_train, real_held = self._judge(ctx, real, train_b, held_b)
            zero_train, zero_held = self._judge(ctx, zero, blank_train, blank_held)
            if not race.update(real_train, real_held, zero_train, zero_held, o):
                return None
        return race

    @staticmethod
    def _out_of_time(ctx, started: float, steps: int, chunk: int) -> bool:
        """Whether one more chunk, at the pace of the chunks so far, would run past the check's time box."""
        deadline = getattr(ctx, "deadline", None)
        if deadline is None or steps == 0:
            return False
        per_step = (time.monotonic() - started) / steps
        return time.monotonic() + 1.5 * per_step * chunk > deadline  # 1.5: margin for the two judgements

    def _memorises(self, race: Race):
        self.plot_curve("held-out gain of the real inputs over zeroed inputs", race.curve)
        return self.finding(
            "ND109", f"after {race.steps} steps the real inputs beat the zeroed-input baseline by {race.g_t:.3g} on "
                     f"the samples they trained on but by {race.g_h:.3g} +- {race.se_h:.2g} on {race.n_held} held-out "
                     "samples: the model memorises, the inputs do not predict the targets",
            race.evidence(self.opts), where="data: inputs against targets", severity="error",
            confidence=self.margin(race.g_h, -self.opts["z"] * race.se_h, "z", race.se_h, below=True),
            fix="Check a few (input, label) pairs by eye; apply every shuffle, sort, filter or split to inputs and "
                "labels together (one permutation: perm = torch.randperm(n); x, y = x[perm], y[perm]), or build "
                "one Dataset that returns both.")

    def _inconclusive(self, race: Race):
        """The held-out gain stayed below `min_transfer` of the training gain, but the evidence falls short: the
        copy has not fitted its own samples clearly enough for that to mean anything, or it has, and on new samples
        it does no worse than the baseline (memorised noise would). A note, not a diagnosis."""
        self.plot_curve("held-out gain of the real inputs over zeroed inputs", race.curve)
        fitted = race.se_t == 0 or race.g_t >= race.k * race.se_t
        why = ("no worse than the baseline held out, as memorised noise would be: the samples trained on may be "
               "too few to learn the inputs' link from" if fitted else
               f"{race.k:.2g} standard errors on the training samples are needed before a missing transfer means "
               "the inputs are uninformative")
        return self.finding(
            "ND109", f"inconclusive: after {race.steps} steps the real inputs beat the zeroed-input baseline by "
                     f"{race.g_t:.3g} ({race.g_t / race.se_t if race.se_t else math.inf:.2g} standard errors) on "
                     f"the samples they trained on and by {race.g_h:.3g} +- {race.se_h:.2g} on held-out ones; {why}",
            race.evidence(self.opts), where="data: inputs against targets", severity="info", confidence=0.3,
            fix="Nothing to fix on this evidence alone. If training on the full data does not generalise either, "
                "check a few (input, label) pairs by eye.")

    def _judge(self, ctx, model, train_b, held_b) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample losses in eval mode on the training and on the held-out batches. BatchNorm statistics are
        first made the exact averages over the training batches, on a copy (a short run leaves them half-way from
        their initial values)."""
        judge = model
        if batchnorms(model):
            judge = ctx.new_model(train=True)
            judge.load_state_dict(model.state_dict())
            dropout_off(judge)  # the statistics of the activations that eval mode sees
            refresh_batchnorm(ctx, judge, train_b)
        judge.eval()
        loss_fn = ctx.new_loss()
        with torch.no_grad():
            out = tuple(torch.cat([per_sample(ctx, judge, b, loss_fn) for b in bs]) for bs in (train_b, held_b))
        model.train()
        return out


def per_sample(ctx, model, batch: Batch, loss_fn) -> torch.Tensor:
    """The loss of each sample of the batch, (B,): the user's loss on one-sample slices of one forward pass. When
    outputs or targets do not lead with the sample axis, the batch's mean loss stands for it as one value. A model
    that computes its own loss (`loss: model`) cannot score a slice of its outputs: it is run on each sample."""
    B = batch.size
    if is_model_loss(ctx.subject.loss):
        return torch.stack([ctx.forward_loss(model, sample, loss_fn)[1].detach().double().mean()
                            for sample in (_sample(batch, i) for i in range(B))])  # (B,)
    out = ctx.forward(model, batch.inputs, batch.targets)
    sliceable = all(t.dim() > 0 and t.shape[0] == B for t in tensors(out) + tensors(batch.targets))
    if not sliceable:
        return ctx.loss(out, batch.targets, loss_fn).detach().double().mean().reshape(1)  # (1,)
    take = lambda i: lambda t: t[i:i + 1]  # noqa: E731
    return torch.stack([ctx.loss(map_tensors(out, take(i)), map_tensors(batch.targets, take(i)), loss_fn)
                        .detach().double().mean() for i in range(B)])  # (B,)


def _sample(batch: Batch, i: int) -> Batch:
    """Sample i of the batch: every tensor that leads with the sample axis cut to i:i+1."""
    B = batch.size
    cut = lambda t: t[i:i + 1] if t.dim() > 0 and t.shape[0] == B else t  # noqa: E731  (B, ...) -> (1, ...)
    return Batch(map_tensors(batch.inputs, cut), map_tensors(batch.targets, cut))


def sem(d: torch.Tensor) -> float:
    """Standard error of the mean of paired differences (0 for a single value)."""
    return float(d.std() / d.numel() ** 0.5) if d.numel() > 1 else 0.0
