"""Activations at initialisation: dead ReLU units, saturated sigmoid/tanh, a scale that compounds with depth.

What it catches, with forward hooks on a copy over several real batches, before any training:
- ND303 dead-units: ReLU units that are zero for every sample of every batch (a unit is a feature of a dense
  layer, a channel of a convolution). ReLU is sparse by design, so one zero proves nothing: a unit is dead only
  when it never fires. A warning when more than half of a layer's units are dead, an error when nearly all are.
- ND304 saturated-activations: sigmoid/tanh outputs within `sat_eps` of their limits (|tanh| > 0.99, sigmoid
  < 0.01 or > 0.99) for most units of most samples. An error when the mean derivative through the layer (1 - y^2
  for tanh, 4y(1 - y) for sigmoid, both 1 at their best) is below `sat_error_gain`: backprop is cut tenfold there.
  The model's own output activation is left out (a confident sigmoid into BCELoss is fine).
- ND305 activation-scale: the signal std (the spread across samples, per unit, averaged over units) at the
  output of each weight layer (Linear, Conv, ...) compounds layer after layer: the last hidden layer's std over the
  first beyond `scale_ratio` either way, with most per-layer gains outside `gain_band`, or with the median gain
  inside it but compounding over the depth beyond the band that random in-band gains allow (`_compounding`:
  hi ** sqrt(layers), 20x over 19 layers; a 20-layer tanh MLP at default init shrinks 1e-5). An error beyond
  `scale_error`. The output layer is left out (its scale is the initial loss's business, ND201). For a recurrent
  layer (nn.RNN, GRU, LSTM) time is depth: the RMS of its output at the last step over the first beyond
  `scale_ratio`, growing geometrically (the second half of the sequence alone grows more than
  sqrt(`scale_ratio`); a hidden state that sums its inputs, as an identity-initialised ReLU RNN does, grows only
  linearly, about 2x over the second half).

Why it matters: a dead unit gets no gradient and never recovers; a saturated unit passes almost no gradient; a
scale that shrinks or grows geometrically with depth means vanishing or exploding gradients on the way back.
All three show at initialisation, in seconds, before a long run stalls.

How to fix it: initialise for the nonlinearity (nn.init.kaiming_normal_(w, nonlinearity='relu') for ReLU,
nn.init.xavier_uniform_ for tanh/sigmoid, and never raw torch.randn weights without the 1/sqrt(fan_in) scale),
keep biases near zero, normalise inputs and add BatchNorm/LayerNorm before nonlinearities; switch dying ReLUs to
LeakyReLU or GELU.
"""
from __future__ import annotations

import math
import statistics

import torch
from torch import nn

from nndoctor import Check, Option
from nndoctor.probes.hooks import module_label, on_forward

RELUS = (nn.ReLU, nn.ReLU6)
SQUASHES = (nn.Sigmoid, nn.Tanh)
CHANNEL_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm, nn.modules.pooling._MaxPoolNd,
                 nn.modules.pooling._AvgPoolNd, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm)
NOT_WEIGHT_LAYERS = (nn.Embedding, nn.EmbeddingBag, nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
                     nn.modules.instancenorm._InstanceNorm)


class Activations(Check):
    """Forward hooks at initialisation: dead ReLU units, saturated sigmoid/tanh, std compounding with depth."""

    name = "activations"
    codes = ("ND303", "ND304", "ND305")
    cost = "low"
    options = {
        "batches": Option(8, "batches read (no gradient; a forward pass each)", unit="batches", low=1),
        "min_samples": Option(32, "fewer samples than this: dead units are not judged (a unit could fire on the next)",
                              unit="samples", low=1),
        "dead_share": Option(0.5, "share of a layer's ReLU units that never fire above this: warning", unit="share",
                             low=0, high=1),
        "dead_error": Option(0.9, "... at or above this: error (nearly all units dead)", unit="share", low=0, high=1),
        "sat_eps": Option(0.01, "distance to the limit counted as saturated (tanh in +-1, sigmoid in 0 and 1)",
                          low=0, high=1),
        "sat_share": Option(0.5, "a sample is saturated in a layer when more than this share of its units are",
                            unit="share", low=0, high=1),
        "sat_samples": Option(0.5, "the layer is saturated when more than this share of samples are", unit="share",
                              low=0, high=1),
        "sat_error_gain": Option(0.1, "mean derivative / its maximum below this: error (gradient cut >= 10x)",
                                 unit="share", low=0, high=1),
        "scale_ratio": Option(1e2, "last / first hidden-layer std above this or below its inverse: warning",
                              unit="ratio", low=1),
        "scale_error": Option(1e4, "... beyond this (four orders of magnitude): error", unit="ratio", low=1.001),
        "gain_band": Option((0.5, 2.0), "a healthy per-layer std gain; most gains outside it, in one direction",
                            unit="ratio per layer", low=0),
        "min_layers": Option(4, "hidden weight layers needed before speaking of compounding over depth",
                             unit="layers", low=2),
        "min_time_steps": Option(8, "sequence length a recurrent layer needs before speaking of compounding over time",
                                 unit="time steps", low=2),
    }
    quick_options = {"batches": 3}

    def run(self, ctx):
        stats = self._measure(ctx)
        self._plot(stats)
        yield from self._dead(stats)
        yield from self._saturated(stats)
        yield from self._scale(stats)
        yield from self._scale_over_time(stats)

    # -- measurement ------------------------------------------------------------------------------------------
    def _measure(self, ctx) -> dict:
        """One pass over the batches with hooks. Per module call ("fc1 (Linear)", or "act (ReLU) call 2" for a
        reused module): the units that ever fired (ReLU), saturation per sample (sigmoid/tanh), per-unit sums of
        the outputs and their squares (weight layers)."""
        model = ctx.new_model(train=True)  # train mode: BatchNorm normalises by the batch as in training
        relu, squash, scale, recurrent = {}, {}, {}, {}
        broken: set[str] = set()  # calls with NaN/Inf outputs: not judged (ND306 names where they start)
        order: list[str] = []  # keys in first-call order
        final = {"key": None}
        samples = 0
        calls: dict[str, int] = {}  # per forward: how many times each module has run
        prev: dict = {"module": None}  # the module that ran last (it tells how a 3-D output is laid out)
        last: dict = {}  # the last call of the forward: its key and output size

        def observe(name, module, args, out):
            n = calls.get(name, 0)
            key = module_label(name, module) + (f" call {n + 1}" if n else "")  # "fc1 (Linear)", "act (ReLU) call 2"
            calls[name] = n + 1
            if key not in order:
                order.append(key)
            y = out.detach().float()
            prev_module, prev["module"] = prev["module"], module
            last.update(key=key, numel=y.numel())
            if y.dim() == 0:
                return
            if not bool(torch.isfinite(y).all()):
                broken.add(key)
                return
            N = y.shape[0]
            if isinstance(module, nn.RNNBase) and y.dim() == 3:  # the output of (output, h_n): every time step
                steps = y if module.batch_first else y.transpose(0, 1)  # (N, T, H)
                mean_sq = steps.double().pow(2).mean(dim=(0, 2))  # (T,) mean square per time step
                n_seq = steps.shape[0]  # sequences, whichever axis the layer reads them on
                _add_steps(recurrent.setdefault(key, {"sq": None, "n": None}), mean_sq * n_seq, n_seq)
            elif isinstance(module, RELUS):
                units = _units(y, prev_module)  # (N * positions, U)
                alive = (units > 0).any(dim=0)  # (U,)
                relu[key] = relu[key] | alive if key in relu else alive
            elif isinstance(module, SQUASHES):
                flat = y.reshape(N, -1)  # (N, units)
                eps = self.opts["sat_eps"]
                if isinstance(module, nn.Tanh):
                    sat, slope = flat.abs() > 1 - eps, 1 - flat ** 2
                else:
                    sat, slope = (flat < eps) | (flat > 1 - eps), 4 * flat * (1 - flat)
                s = squash.setdefault(key, {"per_sample": [], "sat": 0.0, "slope": 0.0, "n": 0})
                s["per_sample"] += sat.float().mean(dim=1).tolist()
                s["sat"] += float(sat.float().sum())
                s["slope"] += float(slope.sum())
                s["n"] += flat.numel()
            elif _is_weight_layer(module):
                units = _units(y, module).double()  # (N * positions, U)
                s = scale.setdefault(key, {"sum": 0.0, "sq": 0.0, "n": 0})
                s["sum"] = s["sum"] + units.sum(dim=0)
                s["sq"] = s["sq"] + (units ** 2).sum(dim=0)
                s["n"] += units.shape[0]

        with torch.no_grad(), on_forward(model, observe):
            for batch in ctx.batches(self.opts["batches"]):
                ctx.check_time()
                calls.clear()
                last.clear()
                prev["module"] = None
                out = ctx.forward(model, batch.inputs, batch.targets)
                samples += batch.size
                if isinstance(out, torch.Tensor) and last.get("numel") == out.numel():
                    final["key"] = last["key"]  # the module that produced the output
        if broken:  # a NaN makes later units look dead and stds meaningless: judge only what ran before it
            first = min(order.index(k) for k in broken)
            keep = set(order[:first])
            relu, squash, scale, recurrent = ({k: v for k, v in d.items() if k in keep}
                                              for d in (relu, squash, scale, recurrent))
        return {"relu": relu, "squash": squash, "scale": scale, "recurrent": recurrent, "order": order,
                "final": final["key"], "samples": samples}

    # -- charts for the HTML report (no judgement) ------------------------------------------------------------
    def _plot(self, st) -> None:
        """Per layer, in first-call order: the mean and std of each weight layer's output, the share of each ReLU's
        units that never fire, the share of each sigmoid/tanh's outputs near its limits."""
        o = self.opts
        moments = []
        for key in st["order"]:
            s = st["scale"].get(key)
            if s is not None and s["n"] >= 2:
                mean = s["sum"] / s["n"]  # (U,) per-unit mean over samples
                var = (s["sq"] / s["n"] - mean ** 2).clamp(min=0)  # (U,) variance across samples, as ND305 reads it
                moments.append((key, float(mean.mean()), float(var.mean().sqrt())))
        if moments:
            labels = [k for k, _, _ in moments]
            self.plot_layers("activation std per weight layer at initialisation (the output layer is not judged)",
                             labels, [v for _, _, v in moments], codes=("ND305",))
            self.plot_layers("activation mean per weight layer at initialisation", labels,
                             [m for _, m, _ in moments], log=False)
        dead = [(k, 1 - float(st["relu"][k].float().mean())) for k in st["order"] if k in st["relu"]]
        if dead and st["samples"] >= o["min_samples"]:
            self.plot_layers(
                f"share of ReLU units that never fire on {st['samples']} samples", [k for k, _ in dead],
                [v for _, v in dead], unit="share", log=False, codes=("ND303",),
                bands=[{"label": f"warning: more than {o['dead_share']:g} dead", "low": o["dead_share"],
                        "high": o["dead_error"]},
                       {"label": f"error: {o['dead_error']:g} dead or more", "low": o["dead_error"], "high": None}])
        squash = [(k, s["sat"] / s["n"]) for k in st["order"] if (s := st["squash"].get(k)) and s["n"]]
        if squash:
            self.plot_layers(
                f"share of sigmoid/tanh outputs within {o['sat_eps']:g} of their limits", [k for k, _ in squash],
                [v for _, v in squash], unit="share", log=False, codes=("ND304",))

    # -- ND303 dead units --------------------------------------------------------------------------------------
    def _dead(self, st):
        o = self.opts
        if st["samples"] < o["min_samples"] or not st["relu"]:
            return
        shares = {k: 1 - float(alive.float().mean()) for k, alive in st["relu"].items()}
        worst = max(shares, key=lambda k: (shares[k], -st["order"].index(k)))
        share = shares[worst]
        if share <= o["dead_share"]:
            return
        units = int(st["relu"][worst].numel())
        severity = "error" if share >= o["dead_error"] else "warning"
        yield self.finding(
            "ND303", f"{share:.0%} of the {units} units of {worst} never fire: zero on all {st['samples']} samples",
            {"layer": worst, "dead_share": share, "units": units, "samples": st["samples"],
             "dead_share_by_layer": {k: shares[k] for k in st["order"] if k in shares}},
            where=worst, severity=severity, confidence=self.margin(share, o["dead_share"], "share", n=units),
            fix="Look at the layer before this ReLU: a large negative bias or badly scaled weights push every "
                "pre-activation below zero. Use Kaiming initialisation with zero biases, normalise the inputs, add "
                "BatchNorm/LayerNorm before the ReLU, or use LeakyReLU/GELU.")

    # -- ND304 saturated sigmoid/tanh ----------------------------------------------------------------------------
    def _saturated(self, st):
        o = self.opts
        found = []
        for key, s in st["squash"].items():
            if key == st["final"] or not s["n"]:
                continue  # the output activation: a confident probability is the loss's business
            per_sample = torch.tensor(s["per_sample"])  # (samples,) share of each sample's units saturated
            samples_share = float((per_sample > o["sat_share"]).float().mean())
            if samples_share > o["sat_samples"]:
                found.append((key, samples_share, s["sat"] / s["n"], s["slope"] / s["n"]))
        if not found:
            return
        key, samples_share, value_share, slope = min(found, key=lambda f: f[3])  # the least gradient passes
        severity = "error" if slope < o["sat_error_gain"] else "warning"
        yield self.finding(
            "ND304", f"{value_share:.0%} of the outputs of {key} are within {o['sat_eps']:g} of its limits; the "
            f"mean derivative through it is {slope:.2g} of its maximum",
            {"layer": key, "saturated_share": value_share, "saturated_samples_share": samples_share,
             "mean_relative_derivative": slope, "layers_saturated": [f[0] for f in found]},
            where=key, severity=severity,
            confidence=self.margin(samples_share, o["sat_samples"], "share", n=st["samples"]),
            fix="Scale the weights that feed it: Xavier initialisation (nn.init.xavier_uniform_(w, "
                "gain=nn.init.calculate_gain('tanh'))) or w * fan_in ** -0.5 for hand-made weights, normalised "
                "inputs, and a LayerNorm/BatchNorm before the nonlinearity.")

    # -- ND305 activation scale over depth ------------------------------------------------------------------------
    def _scale(self, st):
        o = self.opts
        stds = []
        for key in st["order"]:
            s = st["scale"].get(key)
            if s is None or s["n"] < 2:
                continue
            var = (s["sq"] / s["n"] - (s["sum"] / s["n"]) ** 2).clamp(min=0)  # (U,) variance across samples
            stds.append((key, float(var.mean().sqrt())))
        hidden = [(k, v) for k, v in stds[:-1] if v > 0]  # the output layer and zero-initialised layers left out
        if len(hidden) < o["min_layers"]:
            return
        ratio = hidden[-1][1] / hidden[0][1]
        gains = [b[1] / a[1] for a, b in zip(hidden, hidden[1:])]
        lo, hi = o["gain_band"]
        grows = ratio > o["scale_ratio"] and sum(g > hi for g in gains) > len(gains) / 2
        shrinks = ratio < 1 / o["scale_ratio"] and sum(g < lo for g in gains) > len(gains) / 2
        compounding = None if grows or shrinks else self._compounding(ratio, gains)
        if not (grows or shrinks or compounding):
            return
        per_layer = ratio ** (1 / len(gains))  # geometric mean gain per layer
        severity = "error" if max(ratio, 1 / ratio) > o["scale_error"] else "warning"
        inside = (f": the median layer's gain, {compounding['median_gain']:.2g}, is inside the healthy {lo:g}-{hi:g}, "
                  f"but compounds over {len(gains)} layers" if compounding else "")
        yield self.finding(
            "ND305", f"the activation std {'grows' if ratio > 1 else 'shrinks'} {per_layer:.2g}x per layer at "
            f"initialisation: {hidden[0][1]:.2g} after {hidden[0][0]}, {hidden[-1][1]:.2g} after {hidden[-1][0]} "
            f"({ratio:.2g}x over {len(hidden)} layers){inside}",
            {"first_layer": hidden[0][0], "first_std": hidden[0][1], "last_layer": hidden[-1][0],
             "last_std": hidden[-1][1], "ratio": ratio, "gain_per_layer": per_layer, "layers": len(hidden),
             "std_by_layer": {k: v for k, v in hidden}, **(compounding or {})},
            where=hidden[-1][0], severity=severity,
            confidence=self.margin(max(ratio, 1 / ratio), o["scale_ratio"]),
            fix="Initialise each layer for its nonlinearity so the std stays near constant: "
                "nn.init.kaiming_normal_(w, nonlinearity='relu') (std sqrt(2 / fan_in)) for ReLU, Xavier for "
                "tanh/linear; or add BatchNorm/LayerNorm between layers.")

    def _compounding(self, ratio: float, gains: list[float]) -> dict | None:
        """Gains inside the per-layer band that compound over the depth (a 20-layer tanh MLP at PyTorch's default
        init: 0.46 to 0.65 per layer, 1e-5 end to end), or None.

        A healthy layer's gain errs at random inside `gain_band`: take the band's edge as two standard deviations
        of one layer's log-gain; over n independent layers the log of the product then spreads sqrt(n) times as
        far, so random errors keep the end-to-end ratio inside hi ** sqrt(n) (lo ** sqrt(n) below): 20x over 19
        layers. Gains that err the same way at every layer compound as the n-th power instead. So: the median
        layer's gain, compounded over the n layers, and the measured ratio itself, both beyond that depth band
        and beyond `scale_ratio` (a material change of scale), on the same side. The median keeps one layer's
        jump (a first layer fed unscaled inputs) from passing for a trend."""
        o, n = self.opts, len(gains)
        lo, hi = o["gain_band"]
        median = statistics.median(gains)
        top, bottom = max(o["scale_ratio"], hi ** math.sqrt(n)), min(1 / o["scale_ratio"], lo ** math.sqrt(n))
        compounded = median ** n
        if not (ratio > top and compounded > top or ratio < bottom and compounded < bottom):
            return None
        return {"median_gain": median, "median_gain_compounded": compounded,
                "depth_band": [bottom, top], "gain_band": [lo, hi]}

    def _scale_over_time(self, st):
        o = self.opts
        found = []
        for key, s in st["recurrent"].items():
            rms = (s["sq"] / s["n"]).sqrt()  # (T,) output RMS per time step
            T = rms.numel()
            if T < o["min_time_steps"] or float(rms[0]) <= 0:
                continue
            ratio = float(rms[-1] / rms[0])
            second_half = float(rms[-1] / rms[T // 2]) if float(rms[T // 2]) > 0 else math.inf
            if ratio > o["scale_ratio"] and second_half > math.sqrt(o["scale_ratio"]):
                found.append((key, ratio, T, float(rms[0]), float(rms[-1])))
        if not found:
            return
        key, ratio, T, first, last = max(found, key=lambda f: f[1])
        per_step = ratio ** (1 / (T - 1))
        yield self.finding(
            "ND305", f"the output of {key} grows {per_step:.3g}x per time step at initialisation: RMS {first:.2g} at "
            f"the first step, {last:.2g} at step {T} ({ratio:.2g}x)",
            {"layer": key, "first_rms": first, "last_rms": last, "ratio": ratio, "gain_per_step": per_step,
             "time_steps": T},
            where=key, severity="error" if ratio > o["scale_error"] else "warning",
            confidence=self.margin(ratio, o["scale_ratio"]),
            fix="Keep the recurrent weights' spectral radius at or below 1: orthogonal or identity initialisation with "
                "gain 1 (nn.init.orthogonal_(rnn.weight_hh_l0)), a tanh nonlinearity or a GRU/LSTM, and gradient "
                "clipping (torch.nn.utils.clip_grad_norm_).")


def _add_steps(s: dict, sq: torch.Tensor, n: int) -> None:
    """Adds one batch's per-step sums `sq` (T,) over `n` sequences to the running per-step sums and counts: batches
    of different lengths (variable-length sequences, a shorter last bptt window) add up position by position."""
    T = sq.numel()
    if s["sq"] is None:
        s["sq"], s["n"] = torch.zeros(0, dtype=sq.dtype), torch.zeros(0, dtype=torch.float64)
    if T > s["sq"].numel():  # a longer batch: room for its later steps
        grow = T - s["sq"].numel()
        s["sq"] = torch.cat([s["sq"], sq.new_zeros(grow)])
        s["n"] = torch.cat([s["n"], s["n"].new_zeros(grow)])
    s["sq"][:T] += sq
    s["n"][:T] += n


def _units(y: torch.Tensor, producer) -> torch.Tensor:
    """(samples * positions, units): units are the features of a dense output (last axis) and the channels of a
    convolutional one (axis 1 of a 4-D/5-D output, or of a 3-D output that a conv/pool/norm layer produced)."""
    if y.dim() == 1:
        return y.reshape(-1, 1)  # (N, 1)
    if y.dim() >= 4 or (y.dim() == 3 and isinstance(producer, CHANNEL_FIRST)):
        return y.transpose(1, -1).reshape(-1, y.shape[1])  # (N, C, ...) -> (N * positions, C)
    return y.reshape(-1, y.shape[-1])  # (N, ..., F) -> (N * positions, F)


def _is_weight_layer(module: nn.Module) -> bool:
    w = getattr(module, "weight", None)
    return isinstance(w, torch.Tensor) and w.dim() >= 2 and not isinstance(module, NOT_WEIGHT_LAYERS)
