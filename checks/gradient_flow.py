"""Gradients reach every trainable parameter at a sensible scale, and one optimizer step moves the weights
(37 reasons #23, #33, #35, #36; CS231n "ratio of weights:updates").

What it catches, on a copy of the model with real batches (forward and backward on a few of them, then one step
of the user's optimizer and a few more):
- ND401 disconnected-params: trainable parameters whose gradient is None, or exactly zero, on every batch read
  and after the optimizer steps. The cause is named per module: never called in forward (an unused module), run
  without autograd (`torch.no_grad()` in forward), or an output detached before the loss (`.detach()`, `.item()`,
  a NumPy round trip, an output the loss never uses).
- ND402 frozen-params: parameters with `requires_grad=False`: a note naming them, an error when all are frozen.
- ND403 params-not-in-optimizer: trainable parameters that no param group of the user's optimizer holds.
- ND404 vanishing-gradients: the gradient-to-weight norm ratio of the input layer is `vanishing_ratio` times or
  less that of the output layer (weight matrices in the reverse of the order backward reaches them).
- ND405 exploding-gradients: a layer's gradient norm is `exploding_ratio` times its weight norm or more (under
  an optimizer that applies the gradient as it is: SGD), or the total gradient norm grows at every one of the
  first steps, by `growth_factor` in all (when the first step was already far too large, that growth is the
  learning rate's doing and is told under ND407);
  else, for a recurrent layer (nn.RNN, GRU, LSTM) of at least `min_time_steps` steps, the gradient reaching its
  input at the first step is `time_growth` times the one at the last step or more, growing geometrically (the
  earlier half of the sequence alone more than sqrt(`time_growth`)): backpropagation through time multiplies the
  gradient by the recurrence's gain once per step, so a gain above one explodes (`nndoctor.probes.recurrence`); a
  gradient that decays back in time (an LSTM) or grows linearly (an identity-initialised ReLU RNN summing its
  inputs) does not.
- ND407 update-ratio: after one step of the user's optimizer, the median over weight matrices of
  ||w_after - w_before|| / ||w_before|| is above `update_high` (learning rate too high) while the short run after
  it does not make steady progress, or the ratio of every weight matrix is below `update_low` (too low; a few slow
  layers are vanishing gradients, ND404); about 1e-3 is healthy (CS231n). When the user's train_step makes an
  update `SCALED_STEP` (10) times that of a plain optimizer step from the same weights on the same batch, the step
  scales the gradient (a loss scale never unscaled, accumulation without dividing the loss): said so, at the step.
- ND408 weights-not-updating: that step leaves every weight unchanged although the gradients are not zero.

What the optimizer does with the gradient is what is judged, not the gradient alone. Every step is a real step of
the user's training: the user's own `train_step` when the config names one (its clipping, accumulation and
closure count), else `zero_grad, backward, step` (`step(closure)` for LBFGS), and the update is measured as
`p_after - p_before`. Two consequences:
- An optimizer that normalises the gradient (Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam)
  takes a step of about its learning rate whatever the gradient's scale: a `reduction='sum'` loss, or any loss
  scale, multiplies the gradient but not the update. A large gradient-to-weight ratio is then no explosion; an
  explosion is a gradient norm that grows from step to step (which a scale cannot fake), so only that rule judges
  it there. Under SGD the gradient is the update, and a gradient 100x the weights is one.
- The 1e-3 rule of thumb holds for weights that start near their final scale (a deep net's init). Weights that
  must travel far (a small regression whose weights must reach 5 from an init near 0.3) need steps large against
  their initial norm. A learning rate too high shows as steps that undo each other (each overshoots and the next
  comes back) or as a loss that does not fall; a large step is not a finding when the steps do not undo each other
  and the loss falls over the run. Steps that neither help nor undo each other (mini-batch gradients in a weight
  space of thousands of dimensions) are nearly orthogonal, so the squared net displacement over the short run is
  about the sum of the steps' squared lengths; steps that undo each other make it far smaller, steps along one
  direction larger. The steps do not undo each other while that ratio is at least `steady_travel` (0.5: their
  cross terms take away at most half of what independent steps travel). (The displacement over the summed
  lengths, compared with 0.5, asked for aligned steps: independent equal steps give 1/sqrt(6) = 0.41 over six,
  and a healthy clipped Transformer at seed 3 read as bouncing.)

Why it matters: a parameter without gradient, frozen by accident, or left out of the optimizer never trains while
the loss still falls thanks to the rest of the model; gradients that vanish or explode, and steps far from a
thousandth of the weights, make training crawl or diverge. None of these raises an exception.

How to fix it: follow the module named in each finding: remove the stray `.detach()` or `no_grad`, build the
optimizer from `model.parameters()` after the model is final, unfreeze what should train; for vanishing or
exploding gradients use ReLU/GELU, normalisation layers, residual connections and gradient clipping; move the
learning rate toward an update ratio of about 1e-3.

Healthy and silent: embedding rows absent from the batch and a padding row (whole parameters are judged, not
rows); tied weights (one parameter in two modules); a layer frozen on purpose (a note only); zero-initialised
gates (ReZero, adaLN-Zero) whose branches get gradients once the gate has moved; a warm-up from lr 0 (the step is
judged at the schedule's base rate, `initial_lr`).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch

from nndoctor import Check, Option
from nndoctor.probes.hooks import on_forward
from nndoctor.probes.params import describe_groups, group_by_module, nonfinite, normalises_gradient, split_name
from nndoctor.probes.lr_warmup import use_base_lr
from nndoctor.probes.recurrence import gradient_through_time
from nndoctor.probes.step_recorder import record_step

ACCUMULATION_CALLS = 7  # more calls of a train_step that made no optimizer step yet (gradient accumulation)
SCALED_STEP = 10.0  # a train_step update this many times the plain step's: the step scales the gradient
HEALTHY_UPDATE = 1e-3  # ||dw|| / ||w|| of a healthy step (CS231n): a reference line on the chart, not a limit


@dataclass
class Measured:
    """What `_measure` found: the gradients on real batches (`_gradients`), the parameters whose gradient was None
    (`none`) or exactly zero (`zero`) on every batch, one optimizer step (`_one_step`, None when its loss was not
    finite) and the total gradient norm at that step and the ones after it."""

    g: dict
    none: list[str]
    zero: list[str]
    step: dict | None
    grad_norms: list[float]


class GradientFlow(Check):
    """Per-parameter gradients on real batches and one optimizer step: disconnected, frozen, left out, scale."""

    name = "gradient-flow"
    codes = ("ND401", "ND402", "ND403", "ND404", "ND405", "ND407", "ND408")
    cost = "medium"
    options = {
        "batches": Option(4, "real batches read for the gradients (one forward and backward each)", unit="batches",
                          low=1),
        "vanishing_ratio": Option(1e-4, "(grad/weight of the first layer) / (grad/weight of the last layer) below "
                                  "this", unit="ratio", low=0, high=1),
        "exploding_ratio": Option(100.0, "a layer's gradient norm at or above this many times its weight norm",
                                  unit="ratio", low=1e-12),
        "growth_steps": Option(5, "optimizer steps after the first one, watching the gradient norm (0: none)",
                               unit="steps", low=0),
        "growth_factor": Option(100.0, "total gradient norm growing at every step and by this factor in all: "
                                "exploding", unit="ratio", low=1),
        "update_high": Option(1e-1, "median ||dw|| / ||w|| after one step above this: learning rate too high",
                              unit="ratio", low=0),
        "update_low": Option(1e-6, "... below this: learning rate too low (1e-3 is healthy)", unit="ratio", low=0),
        "time_growth": Option(10.0, "a recurrent layer: gradient at its input's first time step over the last's at or "
                              "above this, growing geometrically: exploding through time", unit="ratio", low=1),
        "min_time_steps": Option(8, "sequence length a recurrent layer needs before its gradient through time is "
                                 "judged", unit="time steps", low=4),
        "steady_travel": Option(0.5, "a large step is healthy when the squared net displacement of the weights over "
                                "the short run is at least this share of the summed squared steps (1 for steps in "
                                "independent directions, 0 for steps that undo each other) and the loss falls",
                                unit="ratio", low=0, high=1),
    }
    quick_options = {"batches": 2, "growth_steps": 3}

    def run(self, ctx):
        """Measure, then judge: the structure (frozen, left out of the optimizer), the gradients on real batches
        (missing, vanishing, exploding, growing), and the size of one step of the user's optimizer."""
        model = ctx.new_model(train=True)
        params = dict(model.named_parameters())  # name -> parameter; a tied parameter appears once
        trainable = {n: p for n, p in params.items() if p.requires_grad}
        frozen = [n for n, p in params.items() if not p.requires_grad]
        if frozen:
            yield self._frozen(model, params, frozen)
        if not trainable:
            return
        optimizer = ctx.new_optimizer(model)
        held = {id(p) for g in optimizer.param_groups for p in g["params"]}
        missing = [n for n, p in trainable.items() if id(p) not in held]
        if missing:
            yield self._left_out(model, trainable, missing, optimizer)

        m = self._measure(ctx, model, optimizer, trainable, held)
        if m is None:
            return  # no batch gives a finite loss: nan-tracing names where it breaks (ND306, ND406)
        if m.none or m.zero:
            yield self._disconnected(model, trainable, m.none, m.zero, m.g)
        layers = self._layers(trainable, m.g, m.none + m.zero)
        self._plot_gradients(layers)
        yield from self._vanishing(layers)
        # the raw gradient-to-weight ratio says nothing of the update under Adam & co. (see the module docstring)
        yield from list(self._exploding([] if normalises_gradient(optimizer) else layers, m.grad_norms, m.step)) \
            or self._exploding_through_time(ctx)
        if m.step:
            self._plot_update_ratios(m.step, layers)
            yield from self._judge_step(m.step, self.opts)

    # -- measurements --------------------------------------------------------------------------------------------
    def _measure(self, ctx, model, optimizer, trainable, held) -> Measured | None:
        """Gradients on real batches, then one step of the user's training and `growth_steps` more, watching the
        gradient norm each step applies, the loss and how far the weights travel. None when no batch gives a
        finite loss."""
        batches = ctx.batches(self.opts["batches"])
        g = self._gradients(ctx, model, trainable, batches)
        if g["batches"] == 0:
            return None
        none = [n for n in trainable if g["none"][n] == g["batches"]]
        zero = [n for n in trainable if n not in none and g["zero"][n] == g["batches"]]
        start = {n: p.detach().clone() for n, p in trainable.items()}
        step = None if len(none) == len(trainable) else \
            self._one_step(ctx, model, optimizer, trainable, batches[g["first"]], held)
        grad_norms = [step["grad_norm"]] if step else []
        if step and self.opts["growth_steps"] > 0:
            grad_norms += self._watch_growth(ctx, model, optimizer, trainable, batches, zero, step)
        if step is not None and step["ratios"] and ctx.subject.train_step is not None and \
                statistics.median(step["ratios"].values()) > self.opts["update_high"]:
            step["plain_median"] = self._plain_median(ctx, batches[g["first"]])
        if step is not None:
            step["grad_norm_per_step"] = grad_norms
            step["travel"] = math.sqrt(sum(float((p.detach() - start[n]).double().pow(2).sum())
                                           for n, p in trainable.items()))
        return Measured(g, none, zero, step, grad_norms)

    def _watch_growth(self, ctx, model, optimizer, trainable, batches, zero, step) -> list[float]:
        """The gradient norm each of `growth_steps` more training steps applies (after the user's clipping); the
        losses and update norms of those steps are added to `step`. A parameter of `zero` whose gradient turns
        non-zero is removed from it: a zero-initialised gate has opened, its branch gets gradients."""
        with record_step(model, optimizer, track_updates=True) as rec:
            losses = ctx.train(model, optimizer, batches, self.opts["growth_steps"])
        opened = {n for n, p in trainable.items() if id(p) in rec.nonzero}
        zero[:] = [n for n in zero if n not in opened]
        step["losses"] += losses
        step["update_norms"] += rec.update_norms
        return [n for n in rec.step_grad_norms() if math.isfinite(n)]

    def _gradients(self, ctx, model, trainable, batches) -> dict:
        """Per parameter: batches with a None / exactly zero gradient, the gradient norms, the weight norm, and
        when backward reached it (output layers first, so the reverse is the depth order, tied and functionally
        used weights included); per module: called in forward, and with an output that requires grad."""
        none = {n: 0 for n in trainable}
        zero = {n: 0 for n in trainable}
        norms: dict[str, list[float]] = {n: [] for n in trainable}
        weights = {n: float(p.detach().double().norm()) for n, p in trainable.items()}  # at initialisation
        called, graded, reached = set(), set(), {}

        def record(name, module, args, out):
            called.add(name)
            if out.requires_grad:
                graded.add(name)

        def arrival(name):
            def hook(grad):
                reached.setdefault(name, len(reached))  # returns None: the gradient is left as it is
            return hook

        hooks = [p.register_hook(arrival(n)) for n, p in trainable.items()]
        used, first = 0, None
        try:
            with on_forward(model, record, all_modules=True):
                for i, batch in enumerate(batches):
                    ctx.check_time()
                    model.zero_grad(set_to_none=True)
                    _, loss = ctx.forward_loss(model, batch)
                    if loss.dim() != 0 or not bool(torch.isfinite(loss.detach()).all()):
                        continue  # not a scalar: forward-probe's (ND308); non-finite: nan-tracing's (ND306, ND406)
                    if loss.requires_grad:
                        loss.backward()
                    grads = {n: p.grad for n, p in trainable.items()}
                    if any(gr is not None and nonfinite(gr) for gr in grads.values()):
                        continue
                    used += 1
                    first = i if first is None else first
                    for n, gr in grads.items():
                        if gr is None:
                            none[n] += 1
                        else:
                            norm = float(gr.detach().double().norm())
                            zero[n] += norm == 0
                            norms[n].append(norm)
        finally:
            for h in hooks:
                h.remove()
        model.zero_grad(set_to_none=True)
        return {"batches": used, "first": first or 0, "none": none, "zero": zero, "norms": norms,
                "weights": weights, "reached": reached, "root": type(model).__name__, "called": called,
                "graded": graded}

    @staticmethod
    def _one_step(ctx, model, optimizer, trainable, batch, held) -> dict | None:
        """One step of the user's training (at the schedule's base lr under a warm-up): the weights before and
        after, the gradient norm the optimizer step was given; a train_step that accumulates is called again until it
        steps. None when the loss is not finite or when the step makes no optimizer step (the user's train_step
        without one: train-step reports it, ND408)."""
        warm = use_base_lr(optimizer)
        model.zero_grad(set_to_none=True)
        before = {n: p.detach().clone() for n, p in trainable.items()}
        with record_step(model, optimizer, track_updates=True) as rec:
            losses = ctx.train(model, optimizer, [batch], 1)
            for _ in range(ACCUMULATION_CALLS):  # a step that accumulates updates every k-th call
                if rec.steps or not losses or not math.isfinite(losses[-1]):
                    break
                losses += ctx.train(model, optimizer, [batch], 1)
        if not losses or not math.isfinite(losses[0]) or not rec.steps:
            return None
        ratios = {}
        for n, p in trainable.items():
            w = float(before[n].double().norm())
            if p.dim() >= 2 and w > 0 and id(p) in held and id(p) in rec.nonzero:
                ratios[n] = float((p.detach() - before[n]).double().norm()) / w  # ||dw|| / ||w||
        changed = any(not torch.equal(before[n], p.detach()) for n, p in trainable.items())
        # the gradient the model's trainable parameters hold after the step, whether the optimizer holds them or not
        model_grad = math.sqrt(sum(float(p.grad.detach().double().pow(2).sum()) for p in trainable.values()
                                   if p.grad is not None))
        lrs = [float(g["lr"]) for g in optimizer.param_groups]
        return {"grad_norm": rec.step_grad_norms()[0], "ratios": ratios, "changed": changed, "lrs": lrs,
                "warmup_groups": warm, "held": sum(id(p) in held for p in trainable.values()),
                "initial_lrs": [g.get("initial_lr") for g in optimizer.param_groups], "losses": losses,
                "update_norms": list(rec.update_norms), "model_grad_norm": model_grad}

    @staticmethod
    def _plain_median(ctx, batch) -> float | None:
        """The median update ratio of one plain optimizer step (no train_step) from the same weights on the same
        batch: what the optimizer makes of the raw gradient, to tell a learning rate too high from a train_step
        that scales the gradient (a loss scale never unscaled, an accumulation that never divides the loss)."""
        model = ctx.new_model(train=True)
        optimizer = ctx.new_optimizer(model)
        use_base_lr(optimizer)
        weights = {n: p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2}
        before = {n: p.detach().clone() for n, p in weights.items()}
        losses = ctx.train(model, optimizer, [batch], 1, user=False)
        ratios = [float((p.detach() - before[n]).double().norm()) / float(before[n].double().norm())
                  for n, p in weights.items() if float(before[n].double().norm()) > 0]
        return statistics.median(ratios) if ratios and losses and math.isfinite(losses[0]) else None

    @staticmethod
    def _layers(trainable, g, skip) -> list[tuple[str, float]]:
        """(weight name, mean grad norm / weight norm at init) for each weight matrix with a gradient, input side
        first (the reverse of the order in which backward reached them)."""
        out = []
        for n, p in trainable.items():
            if p.dim() < 2 or n in skip or not g["norms"][n] or g["weights"][n] <= 0 or n not in g["reached"]:
                continue
            out.append((-g["reached"][n], n, statistics.fmean(g["norms"][n]) / g["weights"][n]))
        return [(n, r) for _, n, r in sorted(out)]

    # -- judgements ------------------------------------------------------------------------------------------
    def _left_out(self, model, trainable, missing, optimizer):
        groups = group_by_module(missing, model)
        numel = sum(trainable[n].numel() for n in missing)
        total = sum(p.numel() for p in trainable.values())
        return self.finding(
            "ND403", f"{len(missing)} of {len(trainable)} trainable parameters are in no param group of the "
            f"optimizer: {describe_groups(groups)}",
            {"parameters": missing[:20], "count": len(missing), "numel": numel, "trainable_numel": total,
             "param_groups": len(optimizer.param_groups)},
            where=next(iter(groups)), confidence=1.0,
            fix="Build the optimizer from model.parameters() after the model is final, or make the param groups "
            "cover every trainable module (opt.add_param_group({'params': module.parameters()})).")

    def _vanishing(self, layers):
        """ND404: the input layer's grad/weight ratio `vanishing_ratio` times that of the output layer or less."""
        if len(layers) < 2:
            return
        (first, r_first), (last, r_last) = layers[0], layers[-1]
        if r_last > 0 and r_first / r_last <= self.opts["vanishing_ratio"]:
            yield self.finding(
                "ND404", f"gradients vanish toward the input: grad/weight norm is {r_first:.2g} at {first} and "
                f"{r_last:.2g} at {last} ({r_first / r_last:.1e}x)",
                {"first_layer": first, "first_ratio": r_first, "last_layer": last, "last_ratio": r_last,
                 "layers": len(layers)}, where=first,
                fix="Use ReLU/GELU instead of sigmoid/tanh in hidden layers, Kaiming initialisation, normalisation "
                "layers and residual connections; log p.grad.norm() per layer to check.")

    def _exploding(self, layers, grad_norms, step):
        """ND405: a layer's gradient norm `exploding_ratio` times its weight norm or more; else a total gradient norm
        that grows at every step, by `growth_factor` in all, unless the first step was already too large (ND407)."""
        o = self.opts
        big = [(n, r) for n, r in layers if r >= o["exploding_ratio"]]
        if big:
            name, r = max(big, key=lambda x: x[1])
            yield self.finding(
                "ND405", f"gradient norm is {r:.3g}x the weight norm at {name} ({len(big)} layer(s) above "
                f"{o['exploding_ratio']:g}x)", {"layer": name, "grad_over_weight": r, "layers_above": len(big)},
                where=name, confidence=self.margin(r, o["exploding_ratio"]),
                fix="Clip the gradient norm (torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)), lower the "
                "learning rate or add a warm-up; normalise inputs and targets to unit scale.")
        growing = len(grad_norms) >= 3 and all(b > a for a, b in zip(grad_norms, grad_norms[1:])) \
            and grad_norms[0] > 0 and grad_norms[-1] / grad_norms[0] >= o["growth_factor"]
        lr_high = step is not None and step["ratios"] and \
            statistics.median(step["ratios"].values()) > o["update_high"]
        if growing and not big and not lr_high:  # with a step already too large, the lr is the finding (ND407)
            yield self.finding(
                "ND405", f"the gradient norm grows at every step, {grad_norms[-1] / grad_norms[0]:.3g}x in "
                f"{len(grad_norms) - 1} steps", {"grad_norm_per_step": grad_norms}, where="optimizer",
                fix="Lower the learning rate (3-10x) or add a warm-up, and clip the gradient norm.")

    def _exploding_through_time(self, ctx):
        """ND405 through time: the recurrent layer whose input gradient grows most, geometrically, from its last
        time step back to its first (see the module docstring), on one batch."""
        o = self.opts
        found = []
        for tg in gradient_through_time(ctx, ctx.new_model(train=True), ctx.batches(1)[0]):
            g, T = tg.norms, tg.steps
            if T < o["min_time_steps"] or g[-1] <= 0 or g[T // 2] <= 0:
                continue
            ratio, earlier = g[0] / g[-1], g[0] / g[T // 2]
            if ratio >= o["time_growth"] and earlier > math.sqrt(o["time_growth"]):
                found.append((ratio, earlier, tg))
        if not found:
            return
        ratio, earlier, tg = max(found, key=lambda f: f[0])
        per_step = ratio ** (1 / (tg.steps - 1))
        yield self.finding(
            "ND405", f"the gradient grows {per_step:.3g}x per time step back through {tg.name}: {ratio:.3g}x more "
            f"of it reaches the input at the first of {tg.steps} steps than at the last ({earlier:.3g}x over the "
            "earlier half alone: geometric, the recurrence's gain is above one)",
            {"layer": tg.name, "time_steps": tg.steps, "growth_through_time": ratio, "gain_per_step": per_step,
             "earlier_half_growth": earlier, "input_grad_norm_first_step": tg.norms[0],
             "input_grad_norm_last_step": tg.norms[-1]},
            where=tg.name, confidence=self.margin(ratio, o["time_growth"]),
            fix="Clip the gradient norm (torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)) and keep the "
                "recurrent weights' spectral radius at or below 1 (orthogonal or identity initialisation, e.g. "
                "nn.init.orthogonal_(rnn.weight_hh_l0)); an LSTM or GRU gates the recurrence.")

    # -- charts for the HTML report (no judgement) ------------------------------------------------------------
    def _plot_gradients(self, layers) -> None:
        """Grad/weight norm per layer with the bands ND405 (absolute) and ND404 (relative to the output layer)
        judge."""
        if not layers:
            return
        o = self.opts
        bands = [{"label": f"exploding: {o['exploding_ratio']:g}x the weight norm or more", "low": o["exploding_ratio"],
                  "high": None}]
        if len(layers) >= 2 and layers[-1][1] > 0:
            bands.append({"label": f"vanishing: {o['vanishing_ratio']:g}x the output layer's ratio or less (judged "
                          "at the input layer)", "low": None, "high": layers[-1][1] * o["vanishing_ratio"]})
        self.plot_bars("gradient norm / weight norm per layer, input to output", [n for n, _ in layers],
                       [r for _, r in layers], bands=bands, codes=("ND404", "ND405"))

    def _plot_update_ratios(self, step, layers) -> None:
        """||dw|| / ||w|| per weight matrix after one optimizer step, input side first, with the ND407 limits."""
        ratios = step["ratios"]
        if not ratios:
            return
        o = self.opts
        ordered = [n for n, _ in layers if n in ratios] + [n for n in ratios if n not in dict(layers)]
        self.plot_layers(
            "update / weight norm per layer after one optimizer step (||dw|| / ||w||)", ordered,
            [ratios[n] for n in ordered],
            bands=[{"label": f"learning rate too high: median above {o['update_high']:g}", "low": o["update_high"],
                    "high": None},
                   {"label": f"too low: every layer below {o['update_low']:g}", "low": None, "high": o["update_low"]}],
            lines=[{"label": f"about {HEALTHY_UPDATE:g} is healthy", "value": HEALTHY_UPDATE}],
            codes=("ND407", "ND408"))

    # -- findings ---------------------------------------------------------------------------------------------
    def _frozen(self, model, params, frozen):
        groups = group_by_module(frozen, model)
        numel = sum(params[n].numel() for n in frozen)
        total = sum(p.numel() for p in params.values())
        everything = len(frozen) == len(params)
        title = (f"every parameter is frozen (requires_grad=False): nothing can train ({total} values)" if everything
                 else f"{len(frozen)} of {len(params)} parameters are frozen (requires_grad=False): "
                 f"{describe_groups(groups)}")
        return self.finding(
            "ND402", title, {"parameters": frozen[:20], "count": len(frozen), "numel": numel, "total_numel": total},
            severity="error" if everything else "info", where=next(iter(groups)),
            fix="If this is not the freeze you meant, set requires_grad_(True) on what should train (e.g. "
            "model.head.requires_grad_(True)) before building the optimizer.")

    def _disconnected(self, model, trainable, none, zero, g):
        names = none + zero
        groups = group_by_module(names, model)
        why = {}
        for n in names:
            mod = split_name(n)[0] or g["root"]
            if n in zero:
                why[mod] = "gets exactly zero gradient (dead units, a multiplication by zero, an ignored output)"
            elif mod not in g["called"]:
                why[mod] = "is never called in forward (an unused module)"
            elif mod not in g["graded"]:
                why[mod] = "runs without autograd (torch.no_grad() or detached inputs and weights)"
            else:
                why[mod] = "has its output detached before the loss (.detach(), .item(), a NumPy round trip, or " \
                           "an output the loss never uses)"
        numel = sum(trainable[n].numel() for n in names)
        total = sum(p.numel() for p in trainable.values())
        first_mod = split_name(names[0])[0] or g["root"]
        return self.finding(
            "ND401", f"{len(names)} trainable parameters get no gradient on {g['batches']} batches: "
            f"{describe_groups(groups)}; {first_mod} {why[first_mod]}",
            {"parameters": names[:20], "count": len(names), "numel": numel, "trainable_numel": total,
             "grad_none": len(none), "grad_zero": len(zero), "batches": g["batches"],
             "causes": {m: w.split(" (")[0] for m, w in list(why.items())[:6]}},
            where=next(iter(groups)), confidence=1.0,
            fix="Trace the named modules through forward(): remove the .detach()/.item()/no_grad on their path, make "
            "their output reach the loss, or delete modules that are really unused.")

    def _travels_steadily(self, step, ev) -> bool:
        """The steps of the short run do not undo each other (squared net displacement at least `steady_travel`
        of the summed squared steps; see the module docstring) and the loss at its end is below the loss at its
        start. Needs the short run (`growth_steps` > 0)."""
        losses, norms = step.get("losses") or [], step.get("update_norms") or []
        squares = sum(n * n for n in norms)
        if len(losses) < 3 or squares <= 0 or not all(math.isfinite(v) for v in losses):
            return False
        alignment = step["travel"] ** 2 / squares  # 1: independent directions; 0: undone; above 1: one direction
        ev.update({"run_losses": losses, "displacement_sq_over_steps_sq": alignment})
        return alignment >= self.opts["steady_travel"] and losses[-1] < losses[0]

    def _scaled_by_step(self, ev, median, plain, lrs, then):
        """ND407 where the user's train_step, not the learning rate, makes the update too large."""
        ev["plain_step_median_update_ratio"] = plain
        return self.finding(
            "ND407", f"one call of the train_step changes the weights by {median:.2g} of their norm, "
            f"{median / plain:.3g}x what a plain optimizer step at the same lr ({lrs}) makes of the same gradient: "
            f"the step scales the gradient{then}", ev, where="train_step",
            confidence=self.margin(median, self.opts["update_high"]),
            fix="Undo any scale the step puts on the loss before optimizer.step(): unscale a static loss scale "
            "(or use torch.amp.GradScaler, which unscales), and divide the loss by the number of accumulated "
            "micro-batches.")

    def _judge_step(self, step, o):
        lrs = ", ".join(f"{lr:g}" for lr in step["lrs"])
        ev = {"lr": step["lrs"], "grad_norm": step["grad_norm"]}
        if step["warmup_groups"]:
            ev["judged_at_initial_lr"] = [step["initial_lrs"][i] for i in step["warmup_groups"]]
        if not step["changed"]:
            if step["grad_norm"] == 0 and step["model_grad_norm"] > 0 and not step["held"]:
                yield self.finding(
                    "ND408", f"one optimizer step leaves every weight unchanged although the model's gradient norm "
                    f"is {step['model_grad_norm']:.3g}: the optimizer holds none of the parameters that get "
                    f"gradients (lr {lrs})", {**ev, "model_grad_norm": step["model_grad_norm"]}, where="optimizer",
                    fix="Build the optimizer from this model's parameters after the model is final (after any "
                    "deepcopy, checkpoint load, wrapping or layer swap).")
            elif step["grad_norm"] > 0:
                tiny = " (the update is below float resolution: the learning rate or the gradient is far too small)" \
                    if step["held"] and any(lr > 0 for lr in step["lrs"]) else ""
                yield self.finding(
                    "ND408", f"one optimizer step leaves every weight unchanged although the gradient norm is "
                    f"{step['grad_norm']:.3g} (lr {lrs}){tiny}", ev, where="optimizer",
                    fix="Check the learning rate (not 0) and that the optimizer holds this model's parameters: build "
                    "it after any deepcopy, .to(device) or wrapping of the model.")
            return
        ratios = step["ratios"]
        if not ratios:
            return
        median = statistics.median(ratios.values())
        worst = max(ratios, key=ratios.get) if median > o["update_high"] else min(ratios, key=ratios.get)
        ev.update({"median_update_ratio": median, "layers": len(ratios), "extreme_layer": worst,
                   "extreme_ratio": ratios[worst]})
        if median > o["update_high"] and self._travels_steadily(step, ev):
            return  # a large step toward weights far away: the run makes progress (see the module docstring)
        if median > o["update_high"]:
            norms = step.get("grad_norm_per_step") or []
            then = (f"; the gradient norm then grows {norms[-1] / norms[0]:.2g}x in {len(norms) - 1} steps"
                    if len(norms) >= 2 and norms[0] > 0 and norms[-1] > norms[0] else "")
            ev["grad_norm_per_step"] = norms
            plain = step.get("plain_median")
            if plain is not None and plain > 0 and median >= SCALED_STEP * plain:
                yield self._scaled_by_step(ev, median, plain, lrs, then)
                return
            yield self.finding(
                "ND407", f"one step changes the weights by {median:.2g} of their norm (median of {len(ratios)} "
                f"layers; about 1e-3 is healthy): the learning rate ({lrs}) is too high{then}", ev, where="optimizer",
                confidence=self.margin(median, o["update_high"]),
                fix=f"Lower the learning rate about {median / 1e-3:.0f}x toward an update ratio of 1e-3 (in steps of "
                "3-10x, re-checking), or add a warm-up.")
        elif max(ratios.values()) < o["update_low"]:  # every layer: one slow layer is vanishing gradients (ND404)
            top = max(ratios.values())
            ev["largest_ratio"] = top
            yield self.finding(
                "ND407", f"one step changes the weights by only {median:.2g} of their norm (median of {len(ratios)} "
                f"layers, {top:.2g} at most; about 1e-3 is healthy): the learning rate ({lrs}) is too low", ev,
                where="optimizer",
                confidence=self.margin(top, o["update_low"], below=True),
                fix=f"Raise the learning rate about {1e-3 / max(median, 1e-30):.0f}x toward an update ratio of 1e-3, "
                "or run an LR range test.")

