"""The loss at initialisation against chance level, and regression targets the output cannot reach (37 reasons
#17, #19; Recipe "verify loss @ init", "init well").

What it catches:
- ND201 initial-loss-off: the loss on a few real batches at initialisation (train mode, no gradient) far outside
  the range of chance levels. The levels come from the user's own loss function evaluated on constant outputs of
  the model's output shape: a uniform output (zero logits: ln C for cross-entropy, ln 2 for binary) and a
  prior-matched one (the log class prior as logits; the positive rate for binary; the target mean for
  regression, which gives the target variance under MSE). Label smoothing, class weights, pos_weight, ignore_index
  and the reduction are thereby accounted for. An output the loss takes whole (a VAE's (recon, mu, logvar)) gets
  the constants in place of its primary tensor, the loss called with the whole structure. At `error_ratio` times
  the highest level or more: an error. Above `1 + rel_tol` times it: a copy trains for up to `recover_steps`
  steps with the user's optimizer; if the loss comes back under that level, the initialisation only costs those
  steps (a note, info), otherwise a warning.
  Below `below_ratio` of the lowest level: a note (a pretrained model, or a loss that does not measure what it
  should). Regression has one level, the prior (predicting zero is no chance level), and is judged only with one
  prediction per target (not for a loss of its own, such as a contrastive one).
- ND201 also (warning) for a head wider than the classes the data holds: a 1000-way output (a pretrained head
  left in place) trained on targets that take 10 values starts at ln 1000 = 6.9, chance for the head but far
  above ln 10 = 2.3, chance for the task. The targets of every batch read are counted. The share of the data in
  classes never seen (the unseen mass) is estimated by Good-Turing, (classes seen exactly once) / (targets), and
  bounded above at confidence 1 - `head_delta` by adding sqrt(ln(1 / delta) / (2 m)), the Hoeffding-McDiarmid form
  over the m independent samples read (a sequence of T tokens is one sample: changing it moves both the estimate
  and the mass by at most its own share, so positions do not count as independent draws). Reported only when
  that bound m is at most `head_max_unseen`, the head has `head_width_ratio` (2) outputs per class seen, K (more
  than half of it would serve at most m of the data), and the initial loss is above `1 + rel_tol` times the
  task's chance level at that bound: the highest entropy of a label distribution with 1 - m on the K classes
  seen and m on the C - K others, h(m) + (1 - m) ln K + m ln(C - K) (the rule above, with the task's level in
  place of the head's). A long-tailed label distribution leaves many classes seen once (a high estimate); a
  language model's tokenizer vocabulary is wider than any sample of text, but its Zipfian tail keeps the task's
  level near ln V; a loader that reads a dataset in stored order without reading all of it is no random sample:
  none of them is reported.
- ND105 bad-targets (regression): targets on a scale the output cannot reach. Either the forward ends in a
  bounded activation (Sigmoid or Hardsigmoid: (0, 1); Tanh: (-1, 1); Hardtanh, ReLU6: their own limits), read from
  the output's autograd graph or the last module, and more than `outside_share` of the targets lie beyond it; or
  the targets' RMS is more than `reach_ratio` times the initial outputs' (house prices in dollars against an
  output layer that starts near zero). Negative targets against a non-negative output (ReLU, Softplus, Sigmoid)
  are ND205's, from loss-inputs.

Why it matters: at initialisation a well set-up network is maximally uncertain, so its loss sits at chance. Far
above, the initial outputs are confidently wrong and the first hundreds of steps only undo the initialisation
(or, for regression, only grow the final bias toward the target mean while huge gradients distort every other
layer). A bounded output can never produce targets outside its range: the loss has a floor it cannot pass.

How to fix it: initialise the last layer small (nn.init.zeros_ on its weight, or a normal with std 0.01) and its
bias to the log class prior, the prior's log-odds, or the target mean; scale hand-made weights by
1/sqrt(fan_in). Standardise regression targets ((y - mean) / std, inverted at prediction time), and drop or
rescale a bounded final activation that cannot reach them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from nndoctor import Check, Option
from nndoctor.probes.batches import population, reads_in_order
from nndoctor.probes.losses import CLASS_LOSSES, class_axis
from nndoctor.probes.output_parts import detached, split_output
from nndoctor.probes.outputs import final_op
from nndoctor.probes.hooks import module_label, on_forward
from nndoctor.probes.train_eval_modes import rms

# Final activations whose range the targets must fit in: (lowest, highest) value of the output. A lower bound of
# 0 is not checked here: a non-negative output against negative targets is ND205's (loss-inputs).
BOUNDED = {"Sigmoid": (0.0, 1.0), "Hardsigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0)}

# A head wider than the task (options). `head_delta`: the chance that the unseen-mass bound is wrong (one-sided
# 95%). `head_max_unseen`: the most of the data that may lie in classes never seen for the head to be called too
# wide (at most one target in ten). 5% would take 600 samples at least, more than the 8 batches of 32 read by
# default; 10% takes 150. `head_width_ratio`: outputs per class seen, at least: more than half of the head unused.


@dataclass
class ClassCount:
    """The classes that the targets read take, for the Good-Turing estimate of the mass never seen."""

    samples: int  # independent samples read (a sequence of tokens is one)
    targets: int  # class targets counted (ignore_index and out-of-range values left out)
    seen: int  # distinct classes among them
    once: int  # classes seen exactly once
    unseen_bound: float  # upper confidence bound on the share of the data in classes never seen
    task_level: float  # the task's chance level at that bound: the highest entropy the labels can have


def task_chance_bound(C: int, seen: int, unseen: float) -> float:
    """The highest entropy (nats) of a distribution over C classes with at least 1 - unseen of its mass on `seen`
    of them: uniform over each part, h(m) + (1 - m) ln K + m ln(C - K), with m = unseen."""
    m = min(max(unseen, 0.0), 1 - seen / C)  # beyond its share of the classes, mass makes the whole uniform
    if m <= 0 or C <= seen:
        return math.log(seen)
    h = -m * math.log(m) - (1 - m) * math.log(1 - m) if m < 1 else 0.0
    return h + (1 - m) * math.log(seen) + m * math.log(C - seen)


def class_dim(out: torch.Tensor, y: torch.Tensor, C: int, loss) -> int:
    """The class axis of a classifier's output: the one the targets lack, else the one of size C."""
    d = class_axis(out, y, loss)
    if d is not None:
        return d
    if isinstance(loss, CLASS_LOSSES) and out.dim() >= 2 and out.shape[1] == C:
        return 1
    return out.dim() - 1 if out.shape[-1] == C else 1


def along(values: torch.Tensor, out: torch.Tensor, d: int) -> torch.Tensor:
    """A constant output of `out`'s shape holding `values` (one per class) along axis d."""
    shape = [1] * out.dim()
    shape[d] = values.numel()
    return values.to(out.device, out.dtype).reshape(shape).expand(out.shape).contiguous()  # (..., C, ...)


class ChanceLoss(Check):
    """The loss at initialisation against chance level (ND201); regression targets beyond the output's reach (ND105)."""

    name = "chance-loss"
    codes = ("ND105", "ND201")
    cost = "low"
    needs_backward = True  # trains a copy on the loss
    options = {
        "batches": Option(4, "batches whose initial loss is averaged (train mode, no gradient)", unit="batches", low=1),
        "rel_tol": Option(1.0, "initial loss above (1 + this) x the highest chance level: warning, unless it recovers "
                          "(2x)", low=-1),
        "error_ratio": Option(10.0, "initial loss at this many times the highest level or more: error (an order of "
                              "magnitude)", unit="ratio", low=1.001),
        "recover_steps": Option(30, "training steps that may bring a high initial loss back under the warning level: "
                                "if they do, the initialisation costs a few steps and the finding is a note (info)",
                                unit="steps", low=0),
        "below_ratio": Option(0.5, "initial loss below this share of the lowest level: a note (info)", unit="share",
                              low=0, high=1),
        "outside_share": Option(0.1, "regression: share of targets beyond a bounded final activation's range (ND105)",
                                unit="share", low=0, high=1),
        "reach_ratio": Option(100.0, "regression: RMS of the targets over RMS of the initial outputs above this "
                              "(ND105)", unit="ratio", low=1),
        "head_delta": Option(0.05, "wide head: the chance that the bound on the data in classes never seen is wrong",
                             unit="probability", low=1e-6, high=0.5),
        "head_max_unseen": Option(0.1, "wide head: the most of the data (upper bound) in classes never seen",
                                  unit="share", low=0, high=1),
        "head_width_ratio": Option(2.0, "wide head: outputs per class seen, at least (more than half of the head "
                                   "unused)", unit="ratio", low=1),
    }
    quick_options = {"batches": 2}

    def run(self, ctx):
        batches = ctx.batches(self.opts["batches"])
        model = ctx.new_model(train=True)
        outs, ys, losses, final, parts = self._measure(ctx, model, batches)
        if not outs:
            return
        if ctx.task == "regression" and any(o.numel() != y.numel() for o, y in zip(outs, ys)):
            return  # not one prediction per target (a loss of its own, such as a contrastive one): no chance level
        if ctx.task == "regression":
            yield from self._reach(ctx, outs, ys, final)
        yield from self._initial_loss(ctx, outs, ys, losses, final, parts)

    # -- measurement ----------------------------------------------------------------------------------------------
    def _measure(self, ctx, model, batches):
        """Outputs (the primary tensor of a structure the loss takes whole), targets and losses at initialisation;
        the final operation and module of the forward; and the outputs as the loss takes them (`Output`)."""
        last = {}

        def remember(name, module, args, out):
            last.update(name=name, module=module, out=out.detach())

        outs, ys, losses, final, parts = [], [], [], {"op": None, "module": None, "label": None}, []
        loss_fn = ctx.new_loss()
        for i, b in enumerate(batches):
            if not isinstance(b.targets, torch.Tensor):
                return [], [], [], final, []
            with torch.set_grad_enabled(i == 0), on_forward(model, remember):  # one graph, to read the final op
                part = split_output(ctx.forward(model, b.inputs, b.targets), b.targets)
                out = part.tensor
                if out is None or not out.is_floating_point():
                    return [], [], [], final, []
                if i == 0:
                    final["op"] = final_op(out) if out.requires_grad else None
                    if "out" in last and last["out"].numel() == out.numel() and \
                            torch.equal(last["out"].reshape(-1), out.detach().reshape(-1)):
                        final.update(module=last["module"], label=module_label(last["name"], last["module"]))
                loss = ctx.loss(part.whole, b.targets, loss_fn)  # the loss takes the whole output
            outs.append(out.detach())
            parts.append(split_output(detached(part.whole), b.targets))
            ys.append(b.targets)
            losses.append(float(loss.detach().float().mean()))
        return outs, ys, losses, final, parts

    # -- ND105: regression targets beyond the output's reach --------------------------------------------------------
    def _reach(self, ctx, outs, ys, final):
        o = self.opts
        y = torch.cat([t.reshape(-1).double() for t in ys])  # (all targets,)
        out = torch.cat([t.reshape(-1).double() for t in outs])  # (all outputs,)
        where = final["label"] or "model output"
        lo, hi = BOUNDED.get(final["op"] or "", (None, None))
        if isinstance(final["module"], nn.Hardtanh):  # also ReLU6: its limits are attributes
            lo, hi = final["module"].min_val, final["module"].max_val
        if hi is not None:
            below = float((y < lo).double().mean()) if lo < 0 else 0.0  # below 0: ND205's
            share = below + float((y > hi).double().mean())
            if share > o["outside_share"]:
                yield self.finding(
                    "ND105", f"{share:.0%} of the regression targets lie outside [{lo:.3g}, {hi:.3g}], the range "
                             f"of the final {final['op'] or type(final['module']).__name__}: the model cannot "
                             "output them",
                    {"final_activation": final["op"] or type(final["module"]).__name__, "low": lo, "high": hi,
                     "share_outside": share, "target_min": float(y.min()), "target_max": float(y.max())},
                    where=where, severity="error",
                    confidence=self.margin(share, o["outside_share"], "share", n=y.numel()),
                    fix="Scale the targets into the activation's range (e.g. divide by their maximum and multiply "
                        "the predictions back), or end the model with a plain nn.Linear for unbounded targets.")
                return
        out_rms, y_rms = rms(out), rms(y)
        if out_rms > 0 and y_rms > o["reach_ratio"] * out_rms:
            yield self.finding(
                "ND105", f"the regression targets are {y_rms / out_rms:.3g}x larger than the initial outputs "
                         f"(RMS {y_rms:.3g} against {out_rms:.3g}): the output layer must first grow that far",
                {"target_rms": y_rms, "target_mean": float(y.mean()), "target_std": float(y.std()),
                 "output_rms": out_rms, "ratio": y_rms / out_rms, "reach_ratio": o["reach_ratio"]},
                where=where, severity="error", confidence=self.margin(y_rms / out_rms, o["reach_ratio"]),
                fix="Standardise the targets ((y - mean) / std with training-set statistics, inverted at prediction "
                    "time), or initialise the output layer's bias to the target mean.")

    # -- ND201: the initial loss against the chance levels ----------------------------------------------------------
    def _initial_loss(self, ctx, outs, ys, losses, final, parts):
        o = self.opts
        measured = sum(losses) / len(losses)
        if not math.isfinite(measured):
            return  # NaN or Inf at initialisation: the checks on inputs and forward say where it comes from
        consts = self._constants(ctx, outs, ys)
        if not consts:
            return
        loss_fn = ctx.rescoring_loss()  # a model's own loss cannot score constant outputs: its stand-in, if any
        if loss_fn is None:
            return  # a model loss equal to no function loss: the chance levels are unknown
        levels = {}
        with torch.no_grad():
            for name, make in consts.items():
                try:
                    vals = [float(ctx.loss(part.with_tensor(make(out)), y, loss_fn).float().mean())
                            for out, y, part in zip(outs, ys, parts)]  # a constant primary, the other parts kept
                except Exception:  # the loss refuses a constant output of this kind: that level is not known
                    continue
                if all(math.isfinite(v) for v in vals):
                    levels[name] = sum(vals) / len(vals)
        if not levels:
            return
        hi, lo = max(levels.values()), min(levels.values())
        ev = {"initial_loss": measured, "uniform_level": levels.get("uniform"), "prior_level": levels.get("prior"),
              "num_classes": ctx.num_classes, "task": ctx.task, "batches": len(losses)}
        where = final["label"] or "model output"
        if hi > 0 and measured > (1 + o["rel_tol"]) * hi:
            ratio = measured / hi
            steps, after = None, ""
            if ratio >= o["error_ratio"]:
                severity = "error"  # an order of magnitude: whatever training makes of it later
            elif (steps := self._recovery(ctx, (1 + o["rel_tol"]) * hi)) is not None:
                severity, after = "info", f"; training brings it back within {steps} steps"  # a cost, not a fault
            else:
                severity, after = "warning", f"; still above after {o['recover_steps']} training steps"
            yield self.finding(
                "ND201", f"the loss at initialisation is {measured:.4g}, {ratio:.3g}x the chance level "
                         f"({self._levels_text(ctx, levels)}){after}",
                {**ev, "ratio": ratio, "recovered_after_steps": steps}, where=where, severity=severity,
                confidence=self.margin(ratio, 1 + o["rel_tol"]),
                fix=("Initialise the output layer's bias to the target mean (and its weights small), or "
                     "standardise the targets." if ctx.task == "regression" else
                     "The initial outputs are confidently wrong: initialise the last layer small (nn.init.zeros_ "
                     "on its weight, or std 0.01) with its bias at the log class prior, scale hand-made weights by "
                     "1/sqrt(fan_in), and check for a temperature or scale factor applied to the logits."))
        elif (count := self._wide_head(ctx, outs, ys, measured)) is not None:
            yield self._wide_head_finding(ctx, count, measured, ev, where)
        elif lo > 0 and measured < o["below_ratio"] * lo:
            yield self.finding(
                "ND201", f"the loss at initialisation is {measured:.4g}, below half the chance level "
                         f"({self._levels_text(ctx, levels)}): a pretrained model, or a loss that does not measure "
                         "the error",
                {**ev, "ratio": measured / lo}, where=where, severity="info",
                confidence=self.margin(measured / lo, o["below_ratio"], below=True),
                fix="Nothing to do for a pretrained model; otherwise check the loss function, its reduction and "
                    "that the targets are not among the inputs.")

    def _wide_head(self, ctx, outs, ys, measured: float) -> ClassCount | None:
        """The class count when the head has at least `head_width_ratio` outputs per class seen, the data in
        classes never seen is bounded by `head_max_unseen` (Good-Turing, see the module docstring), and the
        initial loss is over `1 + rel_tol` times the task's chance level at that bound; else None."""
        C = ctx.num_classes
        if ctx.task not in ("classification", "language-modeling") or not C or outs[0].dim() < 2:
            return None
        if outs[0].shape[class_dim(outs[0], ys[0], C, ctx.subject.loss)] != C:
            return None  # the class axis is not where the head's width is: nothing to compare
        batches = ctx.batches()  # every batch read: the more targets, the tighter the bound
        ys = [b.targets for b in batches]
        if not all(isinstance(y, torch.Tensor) and y.dim() >= 1 and not y.is_floating_point() for y in ys):
            return None  # soft or missing targets: no classes to count
        y = torch.cat([t.reshape(-1) for t in ys]).long()  # (all targets,)
        y = y[(y >= 0) & (y < C)]  # ignore_index and padding left out
        samples = sum(int(t.shape[0]) for t in ys)
        if y.numel() == 0 or samples < 2:
            return None
        drawn = population(ctx.subject.data)
        read_all = drawn is not None and samples >= drawn
        if reads_in_order(ctx.subject.data) and not read_all:
            return None  # the first batches of a dataset in stored order are no random sample of it
        counts = torch.bincount(y, minlength=C)  # (C,)
        seen, once = int((counts > 0).sum()), int((counts == 1).sum())
        bound = 0.0 if read_all else once / y.numel() + math.sqrt(math.log(1 / self.opts["head_delta"]) / (2 * samples))
        if C < self.opts["head_width_ratio"] * seen or bound > self.opts["head_max_unseen"]:
            return None
        task_level = task_chance_bound(C, seen, bound)
        if measured <= (1 + self.opts["rel_tol"]) * task_level:
            return None  # near chance for the task too, within the rule's tolerance (a tokenizer's vocabulary)
        return ClassCount(samples=samples, targets=int(y.numel()), seen=seen, once=once, unseen_bound=bound,
                          task_level=task_level)

    def _wide_head_finding(self, ctx, count: ClassCount, measured: float, ev: dict, where: str):
        C = ctx.num_classes
        return self.finding(
            "ND201", f"the output has {C} classes but the {count.targets} targets read take {count.seen} values "
                     f"(at most {count.unseen_bound:.1%} of the data in classes not seen, "
                     f"{1 - self.opts['head_delta']:.0%} confidence): the loss at initialisation, {measured:.4g}, "
                     f"is chance for "
                     f"the head (ln {C} = {math.log(C):.3g}), {measured / count.task_level:.3g}x chance for the "
                     f"task (at most {count.task_level:.3g}): a head wider than the task",
            {**ev, "head_outputs": C, "classes_seen": count.seen, "targets_counted": count.targets,
             "samples_counted": count.samples, "classes_seen_once": count.once,
             "unseen_mass_bound": count.unseen_bound, "confidence_level": 1 - self.opts["head_delta"],
             "head_chance_level": math.log(C), "task_chance_level_bound": count.task_level,
             "ratio": measured / count.task_level},
            where=where, severity="warning", confidence=self.margin(C / count.seen, self.opts["head_width_ratio"]),
            fix=f"Give the model a head with as many outputs as the task has classes (e.g. model.fc = "
                f"nn.Linear(model.fc.in_features, {count.seen}) for a pretrained backbone), and check that the "
                "labels index it; if the head is this wide on purpose (classes absent from this data), ignore it.")

    def _recovery(self, ctx, target: float) -> int | None:
        """Training steps (the user's optimizer, a copy) until the loss, averaged over the last pass through the
        batches, is back under `target`; None when `recover_steps` do not get it there."""
        batches = ctx.batches(self.opts["batches"])
        model = ctx.new_model(train=True)
        if not any(p.requires_grad for p in model.parameters()):
            return None
        n = len(batches)
        losses = ctx.train(model, ctx.new_optimizer(model), batches, self.opts["recover_steps"],
                           stop=lambda ls: len(ls) >= n and sum(ls[-n:]) / n <= target)
        done = len(losses) >= n and sum(losses[-n:]) / n <= target
        return len(losses) if done else None

    @staticmethod
    def _levels_text(ctx, levels: dict) -> str:
        if ctx.task == "regression":
            return f"{levels['prior']:.4g} for predicting the target mean"
        names = {"uniform": "a uniform guess" + (f" over {ctx.num_classes} classes" if ctx.num_classes else ""),
                 "prior": "the class prior"}
        return ", ".join(f"{v:.4g} for {names[k]}" for k, v in levels.items())

    def _constants(self, ctx, outs, ys) -> dict:
        """name -> fn(output) giving a constant output of the same shape: `uniform` and `prior`."""
        out0, y0 = outs[0], ys[0]
        task, C, loss = ctx.task, ctx.num_classes, ctx.subject.loss
        if task in ("classification", "language-modeling") and C and out0.dim() >= 2:
            d = class_dim(out0, y0, C, loss)
            if out0.shape[d] != C:
                return {}
            if y0.is_floating_point() and y0.shape == out0.shape:  # soft targets: the mean distribution
                p = torch.cat([y.movedim(d, -1).reshape(-1, C).double() for y in ys]).mean(0)  # (C,)
            else:
                y = torch.cat([t.reshape(-1) for t in ys]).long()  # (all targets,)
                y = y[(y >= 0) & (y < C)]  # ignore_index and padding left out
                if y.numel() == 0:
                    return {}
                p = torch.bincount(y, minlength=C).double() / y.numel()  # (C,)
            p = p.clamp(min=1e-6) / p.clamp(min=1e-6).sum()
            rows = torch.cat([t.movedim(d, -1).reshape(-1, C).double() for t in outs])  # (rows, C)
            if bool((rows >= 0).all()) and float((rows.sum(-1) - 1).abs().max()) < 1e-3:  # probabilities
                return {"uniform": lambda out: torch.full_like(out, 1.0 / C), "prior": lambda out: along(p, out, d)}
            return {"uniform": lambda out: torch.full_like(out, -math.log(C)),  # log(1/C): also log-probabilities
                    "prior": lambda out: along(p.log(), out, d)}
        if task in ("binary", "multilabel"):
            if not all(y.shape == ys[0].shape for y in ys):
                return {}
            y = torch.cat([t.double() for t in ys])  # (N, ...) targets in [0, 1]
            p = (y.mean(0) if task == "multilabel" and y.dim() >= 2 else y.mean()).clamp(1e-6, 1 - 1e-6)
            probs = isinstance(loss, nn.BCELoss) or (not isinstance(loss, nn.BCEWithLogitsLoss) and all(
                bool(((t > 0) & (t < 1)).all()) for t in outs))
            value = p if probs else (p / (1 - p)).log()  # the positive rate, or its log-odds as a logit

            def prior(out):
                v = value.to(out.device, out.dtype)
                return v.expand(out.shape).contiguous() if v.dim() == 0 or v.shape[-1] == out.shape[-1] \
                    else torch.full_like(out, float(v.mean()))
            return {"uniform": lambda out: torch.full_like(out, 0.5 if probs else 0.0), "prior": prior}
        if task == "regression":
            if all(y.shape == o.shape for y, o in zip(ys, outs)) and y0.dim() >= 2:
                mean = torch.cat([t.double() for t in ys]).mean(0)  # (...) one mean per output
                return {"prior": lambda out: mean.to(out.device, out.dtype).expand(out.shape).contiguous()}
            mean = float(torch.cat([t.reshape(-1).double() for t in ys]).mean())
            return {"prior": lambda out: torch.full_like(out, mean)}
        return {}
