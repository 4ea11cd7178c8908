"""Training against validation data, and targets against inputs: preprocessing that differs, targets that leak.

What it catches:
- ND110 train-val-shift (needs `val_data`): training and validation inputs preprocessed differently (validation
  not normalised, normalised twice, another scale). Per feature of (N, F) inputs, per channel of (N, C, ...)
  inputs, it compares validation with training in units of the training std: the mean difference
  |mean_val - mean_train| / std_train and the std ratio (either way). Each must pass its bound on two witnesses:
  its lower confidence bound (a sample of n rows moves a mean by about std / sqrt(n), and log(std) by about
  sqrt((kurtosis - 1) / n) / 2, the sampling error of a variance for any distribution, with the kurtosis of both
  splits together; z grows with the number of features compared, a Bonferroni bound at `false_alarm`), and the
  same statistic from the median and the interquartile range, which one outlier in heavy-tailed data cannot
  move. Rows, not values, count as the sample size (pixels of one image are not independent). A feature that holds
  one value on every training row (blanked, or filled with a default, by the training pipeline alone) has no
  training std: it counts as shifted when so many validation rows hold other values that, the rows of both splits
  being exchangeable, all of them landing in validation has a chance below the same Bonferroni bound
  (hypergeometric, `constant_in_training`).
- ND111 target-leak: the targets are a copy of the inputs. A language model whose targets equal its input ids
  (never shifted by one, or shifted the wrong way), and tabular data with a feature column equal to, or
  perfectly correlated with, a target column (the label left among the features).

Where it stays silent on purpose: an autoencoder, whose targets are the whole input on purpose (same shape,
reconstruction), is not a leak: for tabular data only a column among several (the target having fewer columns
than the inputs) counts, and for token ids only integer (B, T) targets under a classification or
language-modeling loss, where an unshifted copy makes the task the identity. A correctly shifted LM has targets
equal to the inputs one position later, which the check tells apart; and targets equal to the inputs are right
for a loss that shifts them itself (a Hugging Face causal LM given `labels=input_ids`), which the loss shows: it
never scores the first target of a sequence. Integer inputs (token ids) have no scale to
compare between splits.

Why it matters: a model validated on differently preprocessed data looks broken when it is not (or fine when
it is not); a model trained with the answer among its inputs learns to copy it and nothing else: training
loss near zero, useless in use.

How to fix it: compute normalisation statistics once on the training set and apply the same transform to
every split; build LM targets as `inputs[:, 1:]` and inputs as `inputs[:, :-1]` (or shift inside the loss);
drop the label column (and anything derived from it) from the feature matrix.
"""
from __future__ import annotations

import math

import torch

from nndoctor import Check, Option
from nndoctor.probes.batches import tensors
from nndoctor.probes.losses import ignored_target, is_model_loss, shifts_targets


def _named_inputs(inputs) -> list[tuple[str, torch.Tensor]]:
    """(label, tensor) for each input tensor: `inputs`, `inputs[1]`, `inputs['pixels']`."""
    if isinstance(inputs, torch.Tensor):
        return [("inputs", inputs)]
    if isinstance(inputs, dict):
        return [(f"inputs[{k!r}]", v) for k, v in inputs.items() if isinstance(v, torch.Tensor)]
    return [(f"inputs[{i}]", t) for i, t in enumerate(tensors(inputs))]


def _batch_first(layout, xs: list, ys: list) -> tuple[list, list]:
    """Inputs and targets as (B, ...) / (B, T, ...) by the run's layout (time-major (T, B) windows and their
    flattened (T * B,) targets reordered), each batch by the shape of its first input; batch-first ones as they are."""
    out_x, out_y = [], []
    for named, y in zip(xs, ys):
        like = tuple(named[0][1].shape) if named else ()
        out_x.append([(label, layout.batch_first(t, like)) for label, t in named])
        out_y.append(layout.batch_first(y, like))
    return out_x, out_y


def _features(t: torch.Tensor, axis: int) -> torch.Tensor:
    """(N, F, K): samples, features (the axis given), the values of each feature within one sample."""
    if t.dim() == 1:
        return t.reshape(-1, 1, 1)  # (N, 1, 1)
    x = t.movedim(axis, 1)
    return x.reshape(x.shape[0], x.shape[1], -1)  # (N, F, K)


def _values(x: torch.Tensor) -> torch.Tensor:
    """(F, N*K): every value of each feature of (N, F, K), in float64."""
    return x.double().transpose(0, 1).reshape(x.shape[1], -1)


def _moments(v: torch.Tensor):
    """Per row of (F, M): mean, std and kurtosis (the 4th standardised moment)."""
    mean = v.mean(dim=1)
    c = v - mean[:, None]
    var = c.pow(2).mean(dim=1)
    kurt = c.pow(4).mean(dim=1) / var.pow(2).clamp_min(1e-300)
    return mean, var.sqrt(), kurt


def _quartiles(v: torch.Tensor, max_values: int = 200_000) -> torch.Tensor:
    """Per row of (F, M): the 25th, 50th and 75th percentiles, as (3, F)."""
    step = max(1, v.shape[1] // max_values)  # torch.quantile has a size limit; an even subsample suffices
    return torch.quantile(v[:, ::step], torch.tensor([0.25, 0.5, 0.75], dtype=v.dtype), dim=1)


def _z(features: int, false_alarm: float) -> float:
    """Two-sided normal quantile at false_alarm / features (Bonferroni), from the Gaussian tail bound."""
    q = false_alarm / (2 * max(1, features))
    return math.sqrt(2 * math.log(1 / q))


def compare_splits(ft: torch.Tensor, fv: torch.Tensor, false_alarm: float) -> dict:
    """Per feature of (N, F, K) training and validation inputs: how far apart the two are, beyond sampling noise.

    `shift` is the mean difference in training stds and `spread` the std ratio (>= 1, either way), each the
    smaller of two witnesses: the lower confidence bound of the moment statistic, and the same statistic from
    the median and interquartile range, which one outlier cannot move (heavy tails do not fake a shift).
    """
    vt, vv = _values(ft), _values(fv)  # (F, values) each
    mt, st, _ = _moments(vt)
    mv, sv, _ = _moments(vv)
    kp = _moments(torch.cat([vt, vv], dim=1))[2]  # the tails under "same distribution": both splits together
    nt, nv = ft.shape[0], fv.shape[0]  # rows, not values: values within one sample are not independent
    live = st > 1e-12 * st.max().clamp_min(1e-300)  # features constant in training: nothing to scale by
    z = _z(int(live.sum()), false_alarm)
    stt = st.clamp_min(1e-300)
    smd = (mv - mt).abs() / stt
    se_smd = torch.sqrt(1 / nt + (sv / stt).pow(2) / nv)
    log_ratio = torch.log(sv.clamp_min(1e-300) / stt).abs()
    se_log_ratio = 0.5 * torch.sqrt((kp - 1).clamp_min(0.1) * (1 / nt + 1 / nv))
    shift_lo = (smd - z * se_smd).clamp_min(0)
    ratio_lo = torch.exp((log_ratio - z * se_log_ratio).clamp_min(0))
    ratio_lo = torch.where(sv > 0, ratio_lo, torch.ones_like(ratio_lo))  # constant in one split: no std to compare
    # Robust witnesses; a zero interquartile range (a sparse or discrete feature) leaves the moment one alone.
    qt, qv = _quartiles(vt), _quartiles(vv)  # (3, F) each
    iqr_t, iqr_v = qt[2] - qt[0], qv[2] - qv[0]
    inf = torch.full_like(smd, math.inf)
    robust_shift = torch.where(iqr_t > 0, (qv[1] - qt[1]).abs() / (iqr_t / 1.349).clamp_min(1e-300), inf)
    robust_ratio = torch.where((iqr_t > 0) & (iqr_v > 0),
                               torch.maximum(iqr_v / iqr_t.clamp_min(1e-300), iqr_t / iqr_v.clamp_min(1e-300)), inf)
    return {"live": live, "z": z, "nt": nt, "nv": nv, "train_mean": mt, "train_std": st, "val_mean": mv,
            "val_std": sv, "smd": smd, "std_ratio": sv / stt, "shift_lower_bound": shift_lo,
            "ratio_lower_bound": ratio_lo, "median_shift": robust_shift, "iqr_ratio": robust_ratio,
            "shift": torch.minimum(shift_lo, robust_shift), "spread": torch.minimum(ratio_lo, robust_ratio)}


# A value that differs from the training constant by less than this share of its magnitude is the same value: about
# a hundred float32 rounding steps (1.2e-7 each), so a constant recomputed along another path is not a shift.
SAME_VALUE = 1e-5


def constant_in_training(ft: torch.Tensor, fv: torch.Tensor, false_alarm: float) -> dict | None:
    """The feature of (N, F, K) inputs that holds one value on every training row and other values on validation
    rows, beyond chance; None when there is none.

    Such a feature has no training std to measure a shift in (`compare_splits` leaves it out), yet the splits
    plainly differ: a column blanked or filled with a default in the training pipeline only. Chance: under one
    distribution for both splits the rows are exchangeable, so of the k rows (of either split) whose value differs
    from the training constant, all k land among the nv validation rows with probability
    C(nv, k) / C(nt + nv, k) (hypergeometric; about (nv / (nt + nv)) ** k). It must be below `false_alarm` over the
    number of features (Bonferroni): with equal splits at 1e-3 over 10 features, 14 such validation rows. A rare
    value (a flag set on 1% of rows) that a training sample happened to miss falls short of that.
    """
    vt, vv = _values(ft), _values(fv)  # (F, values) each
    c = vt[:, :1]  # (F, 1) the first training value of each feature
    tol = SAME_VALUE * c.abs().clamp_min(1.0)
    constant = ((vt - c).abs() <= tol).all(dim=1)  # (F,)
    if not bool(constant.any()):
        return None
    nt, nv, F = ft.shape[0], fv.shape[0], ft.shape[1]
    differs = ((fv.double() - c[None]).abs() > tol[None]).any(dim=2)  # (Nv, F): rows off the training value
    k = differs.sum(dim=0)  # (F,)
    log_p = torch.tensor([_log_choose(nv, int(ki)) - _log_choose(nt + nv, int(ki)) for ki in k.tolist()],
                         dtype=torch.float64)  # (F,) log C(nv, k) - log C(nt + nv, k)
    log_p = torch.where(constant & (k > 0), log_p, torch.zeros_like(log_p))
    j = int(log_p.argmin())
    bound = math.log(false_alarm / max(1, F))
    if float(log_p[j]) >= bound:
        return None
    vals = vv[j]
    return {"feature": j, "train_value": float(c[j, 0]) + 0.0, "val_mean": float(vals.mean()),
            "val_std": float(vals.std()) if vals.numel() > 1 else 0.0, "val_rows_differing": int(k[j]),
            "train_rows": nt, "val_rows": nv, "log10_chance": float(log_p[j]) / math.log(10),
            "log10_bound": bound / math.log(10),
            "features_constant_in_training": int(constant.sum()),
            "features_shifted": int((log_p < bound).sum()), "features_compared": F}


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


class DataSplits(Check):
    """Training vs validation inputs (ND110) and targets copied from the inputs (ND111), from the batches."""

    name = "data-splits"
    codes = ("ND110", "ND111")
    cost = "low"
    needs_model = False
    options = {
        "mean_shift": Option(1.0, "|mean_val - mean_train| in training stds (lower confidence bound): warning",
                             unit="stds", low=1e-12),
        "error_mean_shift": Option(3.0, "... above this: error", unit="stds", low=0),
        "std_ratio": Option(2.0, "val std / train std (or its inverse), lower confidence bound: warning", unit="ratio",
                            low=1),
        "error_std_ratio": Option(3.0, "... above this: error", unit="ratio", low=1),
        "false_alarm": Option(1e-3, "chance of a noise-only ND110 on one run (sets z from the number of features)",
                              unit="probability", low=1e-12, high=1),
        "copy_share": Option(0.99, "share of (non-ignored) token positions where targets equal inputs: an unshifted "
                             "copy", unit="share", low=0, high=1),
        "leak_corr": Option(0.9999, "|Pearson r| of a feature column with a target column: a copy of the label",
                            low=0, high=1),
        "min_rows": Option(16, "rows needed before a perfect correlation means anything", unit="rows", low=3),
    }

    def run(self, ctx):
        batches = ctx.batches()
        yield from self._leak(ctx, batches)
        val = ctx.val_batches()
        if val:
            yield from self._shift(batches, val)

    # -- ND110: training vs validation statistics -----------------------------------------------------------
    def _shift(self, train, val):
        o = self.opts
        worst = None
        for pos, (label, first) in enumerate(_named_inputs(train[0].inputs)):
            tr = [_named_inputs(b.inputs)[pos][1] for b in train]
            va = [_named_inputs(b.inputs)[pos][1] for b in val if len(_named_inputs(b.inputs)) > pos]
            if not va or not (first.is_floating_point() or first.dtype == torch.uint8):
                continue  # integer inputs (token ids) have no scale to compare
            try:
                xt, xv = torch.cat(tr), torch.cat(va)  # (N, ...) each
            except RuntimeError:
                continue  # variable sizes across batches
            if xt.shape[1:] != xv.shape[1:] and xt.dim() >= 3 and xt.shape[-1] == xv.shape[-1]:
                axis = -1  # (N, T, F) sequences of different lengths: features on the last axis
            elif xt.dim() >= 2 and xt.shape[1] == xv.shape[1]:
                axis = 1  # (N, F) features or (N, C, ...) channels
            elif xt.dim() == 1 and xv.dim() == 1:
                axis = 0
            else:
                continue
            ft, fv = _features(xt, axis), _features(xv, axis)  # (N, F, K) each
            if not (torch.isfinite(ft).all() and torch.isfinite(fv).all()):
                continue  # ND101 reports non-finite inputs
            flat = constant_in_training(ft, fv, o["false_alarm"])
            if flat is not None:  # no training std to count a shift in: any other shift ranks below it
                unit = "channel" if xt.dim() >= 3 and axis == 1 else "feature"
                j = flat["feature"]
                name = f"input {unit} {j}" if label == "inputs" else f"{label} {unit} {j}"
                if worst is None or worst[0] < math.inf:
                    worst = (math.inf, name, {**flat, "feature": name, "constant_in_training": True})
                continue
            c = compare_splits(ft, fv, o["false_alarm"])
            score = torch.maximum(c["shift"] / o["mean_shift"], c["spread"] / o["std_ratio"])  # > 1: shifted
            score = torch.where(c["live"], score, torch.zeros_like(score))
            j = int(score.argmax())
            n_bad = int((score > 1).sum())
            if float(score[j]) > 1 and (worst is None or float(score[j]) > worst[0]):
                unit = "channel" if xt.dim() >= 3 and axis == 1 else "feature"
                name = f"input {unit} {j}" if label == "inputs" else f"{label} {unit} {j}"
                ev = {k: float(c[k][j]) for k in ("train_mean", "train_std", "val_mean", "val_std", "smd",
                                                  "std_ratio", "shift", "spread", "median_shift", "iqr_ratio")}
                ev.update({"feature": name, "features_shifted": n_bad, "features_compared": int(c["live"].sum()),
                           "train_rows": c["nt"], "val_rows": c["nv"], "z": c["z"]})
                worst = (float(score[j]), name, ev)
        if worst is None:
            return
        _, name, ev = worst
        if ev.get("constant_in_training"):
            yield self.finding(
                "ND110", f"{name} is {ev['train_value']:.3g} on every one of {ev['train_rows']} training rows but "
                f"varies in validation (mean {ev['val_mean']:.3g}, std {ev['val_std']:.3g}; "
                f"{ev['val_rows_differing']} of {ev['val_rows']} rows differ, a chance of 1e{ev['log10_chance']:.0f} "
                "under one distribution for both splits): the training pipeline blanks it",
                ev, where=name, severity="error", confidence=self.margin(-ev["log10_chance"], -ev["log10_bound"]),
                fix="Apply the same transform to training and validation data: look for a training-only step "
                "(an augmentation, a mask, a fill value) that sets this input to one value.")
            return
        error = ev["shift"] > o["error_mean_shift"] or ev["spread"] > o["error_std_ratio"]
        standard = lambda m, s: abs(m) < 0.5 and 0.5 < s < 2  # noqa: E731 - looks standardised
        hint = ""
        if standard(ev["train_mean"], ev["train_std"]) and not standard(ev["val_mean"], ev["val_std"]):
            hint = ": validation inputs look not normalised, or normalised twice"
        elif standard(ev["val_mean"], ev["val_std"]) and not standard(ev["train_mean"], ev["train_std"]):
            hint = ": training inputs look not normalised while validation ones are"
        yield self.finding(
            "ND110", f"{name}: validation mean {ev['val_mean']:.3g} / std {ev['val_std']:.3g} vs training "
            f"{ev['train_mean']:.3g} / {ev['train_std']:.3g} ({ev['smd']:.3g} training stds apart, std ratio "
            f"{ev['std_ratio']:.3g}); {ev['features_shifted']} of {ev['features_compared']} shifted{hint}",
            ev, where=name, severity="error" if error else "warning", confidence=self.margin(worst[0], 1.0),
            fix="Compute the normalisation statistics (mean, std) once on the training set and apply the same "
            "transform to training and validation data; check that no split is normalised twice.")

    # -- ND111: targets copied from the inputs ---------------------------------------------------------------
    def _leak(self, ctx, batches):
        ys = [b.targets for b in batches]
        if not ys or not all(isinstance(y, torch.Tensor) for y in ys):
            return
        xs = [_named_inputs(b.inputs) for b in batches]
        xs, ys = _batch_first(ctx.layout(), xs, ys)
        if not all(len(x) == len(xs[0]) for x in xs):
            return
        for pos, (label, x0) in enumerate(xs[0]):
            xcol = [x[pos][1] for x in xs]
            if all(x.shape == y.shape for x, y in zip(xcol, ys)):
                if ctx.task in ("language-modeling", "classification") and x0.dim() == 2 \
                        and not x0.is_floating_point() and not ys[0].is_floating_point():
                    yield from self._token_copy(ctx, label, xcol, ys)
                continue  # same shape otherwise: a reconstruction (autoencoder) on purpose
            if x0.dim() == 2 and x0.shape[1] >= 2:
                yield from self._column_copy(label, xcol, ys)

    def _token_copy(self, ctx, label, xs, ys):
        """(B, T) token targets equal to the (B, T) inputs at the same position, not one later."""
        o = self.opts
        ignore = ignored_target(ctx.subject.loss)
        same = shifted = wrong = n0 = n1 = 0
        for x, y in zip(xs, ys):  # (B, T) each
            keep = y != ignore
            same += int(((x == y) & keep).sum())
            n0 += int(keep.sum())
            k1 = keep[:, :-1] & keep[:, 1:]  # both positions scored
            shifted += int(((y[:, :-1] == x[:, 1:]) & k1).sum())  # y[t] == x[t+1]: the right shift
            wrong += int(((y[:, 1:] == x[:, :-1]) & k1).sum())  # y[t] == x[t-1]: shifted the wrong way
            n1 += int(k1.sum())
        if n0 == 0 or n1 == 0:
            return
        share0, share_next, share_prev = same / n0, shifted / n1, wrong / n1
        ev = {"positions": n0, "share_equal": share0, "share_equal_to_next_input": share_next,
              "share_equal_to_previous_input": share_prev}
        if share0 >= o["copy_share"] and share_next < share0:
            if self._loss_shifts(ctx):
                return  # labels = input_ids on purpose: the loss scores logits[:, t] against labels[:, t + 1]
            title = f"targets equal the input ids at {share0:.1%} of positions: the sequence is never shifted"
        elif share_prev >= o["copy_share"] and share_next < share_prev:
            title = (f"targets equal the previous input id at {share_prev:.1%} of positions: the sequence is "
                     "shifted the wrong way (the model is asked for a token it has already seen)")
        else:
            return
        yield self.finding(
            "ND111", title, ev, where="targets", severity="error",
            confidence=self.margin(max(share0, share_prev), o["copy_share"], "share", n=n0),
            fix="Predict the next token: inputs = ids[:, :-1], targets = ids[:, 1:] (or shift the logits and "
            "labels inside the loss); for a deliberate copy task, ignore ND111.")

    @staticmethod
    def _loss_shifts(ctx) -> bool:
        """Whether the loss shifts the targets itself (a Hugging Face causal LM given labels = input_ids): it never
        scores the first target of a sequence. Asked of the loss on the first batch: a function loss on random
        outputs of the model's output shape, a model's own loss on an eval-mode copy's forward."""
        batch = ctx.batches(1)[0]
        if not isinstance(batch.targets, torch.Tensor) or not ctx.num_classes or not ctx.output_shape:
            return False
        loss_fn = ctx.new_loss()
        if not is_model_loss(ctx.subject.loss):
            g = torch.Generator().manual_seed(ctx.seed)
            outputs = torch.randn(ctx.output_shape, generator=g).to(batch.targets.device)
            return shifts_targets(loss_fn, outputs, batch.targets, ctx.num_classes)
        model = ctx.new_model(train=False)
        with torch.no_grad():
            try:
                outputs = ctx.forward(model, batch.inputs, batch.targets)
            except Exception:  # the forward fails: forward-probe reports it
                return False
        return shifts_targets(lambda out, y: ctx.loss(out, y, loss_fn), outputs, batch.targets, ctx.num_classes)

    def _column_copy(self, label, xs, ys):
        """A feature column of (N, F) inputs equal to, or perfectly correlated with, a target column."""
        o = self.opts
        try:
            x = torch.cat(xs).double()  # (N, F)
            y = torch.cat([t.reshape(t.shape[0], -1) for t in ys]).double()  # (N, K)
        except RuntimeError:
            return
        N, F = x.shape
        if y.shape[0] != N:
            return  # targets not one per input row (flattened over another layout): nothing to correlate
        if N < o["min_rows"] or y.shape[1] >= F or not (torch.isfinite(x).all() and torch.isfinite(y).all()):
            return
        xs_, ys_ = x - x.mean(0), y - y.mean(0)
        sx, sy = xs_.norm(dim=0), ys_.norm(dim=0)  # (F,), (K,)
        live_x, live_y = sx > 1e-12 * sx.max().clamp_min(1e-300), sy > 0
        if not bool(live_y.any()) or not bool(live_x.any()):
            return
        r = (xs_.T @ ys_) / (sx[:, None] * sy[None, :]).clamp_min(1e-300)  # (F, K)
        r = torch.where(live_x[:, None] & live_y[None, :], r, torch.zeros_like(r))
        equal = (x[:, :, None] == y[:, None, :]).all(dim=0) & live_y[None, :]  # (F, K)
        hit = equal | (r.abs() >= o["leak_corr"])
        if not bool(hit.any()):
            return
        j, k = (int(v) for v in hit.nonzero()[0])
        col = f"input feature {j}" if label == "inputs" else f"{label} feature {j}"
        tgt = "the target" if y.shape[1] == 1 else f"target column {k}"
        how = "is a copy of" if bool(equal[j, k]) else f"is perfectly correlated with (r = {float(r[j, k]):.6f})"
        yield self.finding(
            "ND111", f"{col} {how} {tgt}: the label is among the features",
            {"feature": j, "target_column": k, "exact_copy": bool(equal[j, k]), "correlation": float(r[j, k]),
             "leaking_features": int(hit.any(dim=1).sum()), "features": F, "rows": N},
            where=col, severity="error",
            fix=f"Drop column {j} (and anything computed from the label) from the feature matrix before "
            "batching; select the feature columns by name, not by position.")
