"""Look at the inputs and targets before anything else (37 reasons #1, #6-#8, #12, #14, #19, #37).

What it catches, from the batches alone (no model): NaN or Inf in inputs (ND101) or targets (ND104); inputs
that are all zero or identical across the batch (ND102); inputs on a scale far from unit, such as raw 0-255
pixels or features in the thousands (ND103); targets out of range for the loss: a class index >= C or < 0,
a BCE target outside [0, 1] (ND105); batches that hold far fewer classes than a shuffled loader would give,
the mark of data sorted by label (ND106); one class dominating the targets (ND107); the loader yielding the
same batch again and again, or far fewer distinct samples than drawing from its dataset gives (a
WeightedRandomSampler given one weight per class instead of one per sample draws only indices 0..C-1) (ND108;
not judged when the inputs are the same in every sample, ND102: their hashes cannot tell samples apart).

Why it matters: each of these trains "fine" (the loss moves) while the model learns nothing useful, and none of
them raises an exception.

How to fix it: print a few batches and their statistics; normalise inputs with training-set statistics; make
targets match the loss (class indices in [0, C), BCE targets in [0, 1]); shuffle the training loader
(`DataLoader(..., shuffle=True)`); and check that the dataset's `__getitem__` uses its index.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter

import torch

from nndoctor import Check, Option
from nndoctor.probes.batches import order_sampler, population, reads_in_order, tensors
from nndoctor.probes.sequences import SHIFT_SHARE, predicts_next_step
from nndoctor.probes.losses import ignored_target


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha1(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


SHUFFLE_FIX = "Shuffle the training data: DataLoader(..., shuffle=True), or a sampler that draws across classes."


class InputSanity(Check):
    """Inputs and targets from a few batches: non-finite, constant, unnormalised, out of range, sorted, repeated."""

    name = "input-sanity"
    codes = ("ND101", "ND102", "ND103", "ND104", "ND105", "ND106", "ND107", "ND108")
    cost = "low"
    needs_model = False
    options = {
        "warn_scale": Option(10.0, "mean |x| or std of float inputs above this: warning (unit scale is ~1)", low=0),
        "error_scale": Option(100.0, "... above this: error (raw 0-255 pixels have a mean near 120)", low=1e-12),
        "min_scale": Option(1e-3, "std of non-constant inputs below this: warning", low=0),
        "feature_spread": Option(1e3, "ratio of largest to smallest per-feature std in (N, F) inputs: warning",
                                 unit="ratio", low=1),
        "sorted_ratio": Option(0.5, "distinct classes per batch / expected under shuffling below this: sorted data",
                               unit="share", low=0, high=1),
        "batch_class_v": Option(0.5, "Cramer's V between batch and class above this (0 shuffled, 1 sorted): sorted "
                                "data", low=0, high=1),
        "majority_share": Option(0.95, "one class above this share of the targets: warning (info from 2x the fair "
                                 "share)", unit="share", low=0, high=1),
        "distinct_ratio": Option(0.5, "distinct samples read / expected when drawing from the dataset, below this: "
                                 "ND108", unit="share", low=0, high=1),
        "distinct_error_ratio": Option(0.1, "... below this: error (a sampler stuck on a handful of indices)",
                                       unit="share", low=0, high=1),
        "min_expected_samples": Option(8, "expected distinct samples needed before the ratio means anything",
                                       unit="samples", low=1),
        "shift_share": Option(SHIFT_SHARE, "next-step data: share of the positions whose target is the next input "
                              "(whatever `task` says)", unit="share", low=0, high=1),
    }

    def run(self, ctx):
        batches = ctx.batches()
        constant = _constant_inputs(batches)  # (all zero, identical across samples): ND102, and no ND108
        yield from self._inputs(batches, constant)
        yield from self._targets(ctx, batches)
        yield from self._repeats(ctx, batches, constant)

    # -- inputs ---------------------------------------------------------------------------------------------
    def _inputs(self, batches, constant: tuple[bool, bool]):
        o = self.opts
        xs = [t for b in batches for t in tensors(b.inputs)]
        floats = [t.float() for t in xs if t.is_floating_point() or t.dtype == torch.uint8]
        nonfinite = sum(int((~torch.isfinite(t)).sum()) for t in xs if t.is_floating_point())
        total = sum(t.numel() for t in xs)
        if nonfinite:
            yield self.finding("ND101", f"{nonfinite} of {total} input values are NaN or Inf",
                               {"non_finite": nonfinite, "values": total, "batches": len(batches)},
                               where="inputs", fix="Find where NaN/Inf enter the data (missing values, division by "
                               "zero, log of zero) and clean or impute them before batching.")
            floats = [torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0) for t in floats]
        all_zero, identical = constant
        if all_zero or identical:
            what = "all zero" if all_zero else "identical across every sample of the batch"
            yield self.finding("ND102", f"inputs are {what} in all {len(batches)} batches",
                               {"all_zero": all_zero, "batches": len(batches)}, where="inputs",
                               fix="Check the dataset's __getitem__ (it must use its index) and the transforms: "
                               "a normalisation by a zero std or a wrong key can blank the inputs.")
            return
        if not floats:
            return  # integer inputs (token ids) have no scale to judge
        flat = torch.cat([t.reshape(-1) for t in floats])  # (all values,)
        mean_abs, std = float(flat.abs().mean()), float(flat.std()) if flat.numel() > 1 else 0.0
        scale = max(mean_abs, std)
        ev = {"mean_abs": mean_abs, "std": std, "min": float(flat.min()), "max": float(flat.max())}
        if scale > o["warn_scale"]:
            severity = "error" if scale > o["error_scale"] else "warning"
            hint = " (raw 0-255 pixels?)" if 0 <= ev["min"] and 100 < ev["max"] <= 255 else ""
            yield self.finding("ND103", f"input scale is {scale:.3g}, far from unit{hint}", ev, severity=severity,
                               where="inputs", confidence=self.margin(scale, o["warn_scale"]),
                               fix="Normalise inputs to zero mean and unit variance with training-set statistics "
                               "((x - mean) / std); divide raw pixels by 255 first.")
            return
        if 0 < std < o["min_scale"]:
            yield self.finding("ND103", f"input std is {std:.3g}: the inputs barely vary", ev, where="inputs",
                               fix="Rescale the inputs to unit variance; check for a double normalisation.")
            return
        # Tabular data: one feature in the thousands next to features in units.
        feats = [t for t in floats if t.dim() == 2 and t.shape[0] > 1 and t.shape[1] > 1]
        if feats:
            x = torch.cat(feats)  # (N, F)
            fstd = x.std(dim=0)
            live = fstd[fstd > 0]
            if live.numel() > 1 and float(live.max() / live.min()) > o["feature_spread"]:
                i_max, i_min = int(torch.argmax(fstd)), int(torch.argmin(torch.where(fstd > 0, fstd, fstd.max() + 1)))
                yield self.finding("ND103", f"feature scales differ by {float(live.max() / live.min()):.3g}x",
                                   {"largest_std": float(live.max()), "feature_largest": i_max,
                                    "smallest_std": float(live.min()), "feature_smallest": i_min},
                                   where=f"input feature {i_max}",
                                   fix="Standardise each feature separately (per-column mean and std).")

    # -- targets ----------------------------------------------------------------------------------------
    def _targets(self, ctx, batches):
        ys = [b.targets for b in batches if isinstance(b.targets, torch.Tensor)]
        if not ys:
            return
        nonfinite = sum(int((~torch.isfinite(y)).sum()) for y in ys if y.is_floating_point())
        if nonfinite:
            yield self.finding("ND104", f"{nonfinite} target values are NaN or Inf",
                               {"non_finite": nonfinite, "values": sum(y.numel() for y in ys)}, where="targets",
                               fix="Drop or impute the samples with missing targets before batching.")
            return
        task, C = ctx.task, ctx.num_classes
        if task in ("classification", "language-modeling") and not ys[0].is_floating_point():
            y = torch.cat([t.reshape(-1) for t in ys])  # (all targets,)
            ignore = ignored_target(ctx.subject.loss)
            y = y[y != ignore]
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or (C is not None and hi >= C):
                yield self.finding("ND105", f"class indices span [{lo}, {hi}] but the output has {C} classes",
                                   {"min": lo, "max": hi, "num_classes": C}, where="targets",
                                   fix="Class targets must be integers in [0, C): remap the labels (e.g. 1..C to "
                                   "0..C-1) or widen the output layer to the number of classes.")
                return
            # Class balance and order are judged for classes, not for next tokens (Zipfian by nature), whatever
            # `task` says: targets that are the inputs one position on are next-token prediction.
            b0 = batches[0]
            if task == "classification" and not predicts_next_step(b0.inputs, b0.targets, ignore,
                                                                   self.opts["shift_share"]):
                yield from self._classes(ctx, ys, C, lambda t: t.reshape(-1))
        elif task in ("binary", "multilabel"):
            y = torch.cat([t.reshape(-1).float() for t in ys])
            lo, hi = float(y.min()), float(y.max())
            if lo < 0 or hi > 1:
                yield self.finding("ND105", f"binary targets span [{lo:.3g}, {hi:.3g}], outside [0, 1]",
                                   {"min": lo, "max": hi}, where="targets",
                                   fix="BCE targets are probabilities: map labels to {0, 1} (e.g. (y + 1) / 2 for "
                                   "-1/+1 labels), or use CrossEntropyLoss for more than two classes.")
                return
            if task == "binary" and bool(((y == 0) | (y == 1)).all()):
                yield from self._classes(ctx, ys, 2, lambda t: t.reshape(-1).long())

    def _classes(self, ctx, ys, C, flatten):
        """ND106 (batches hold too few classes) and ND107 (one class dominates)."""
        labels = [flatten(y) for y in ys]
        counts = Counter(int(v) for y in labels for v in y.tolist())
        total = sum(counts.values())
        if total == 0:
            return
        if len(counts) == 1:
            yield from self._one_class(ctx, labels, counts, C)
        else:
            yield from self._sorted(labels, counts)
        yield from self._imbalance(ctx, counts, C)

    def _one_class(self, ctx, labels, counts, C):
        """ND106 when every batch read holds the same one class of the C the output scores and the loader reads the
        dataset in its stored order: data sorted by label (a shuffled loader mixes classes from the first batch)."""
        if (C or 0) < 2 or len(labels) < 2 or not reads_in_order(ctx.subject.data):
            return
        (only,) = counts
        total = sum(counts.values())
        yield self.finding("ND106", f"all {total} targets of the first {len(labels)} batches are class {only} "
                           f"(of the {C} the output scores), and the loader reads the dataset in order",
                           {"batches": len(labels), "targets": total, "class": only, "num_classes": C,
                            "classes_seen": 1, "sampler": type(order_sampler(ctx.subject.data)).__name__},
                           where="data loader", severity="error",
                           fix=SHUFFLE_FIX)

    def _sorted(self, labels, counts):
        """ND106 when the class of a sample depends on its batch."""
        o = self.opts
        total = sum(counts.values())
        shares = {c: n / total for c, n in counts.items()}
        # Expected number of distinct classes in a shuffled batch of size B: sum over classes of 1 - (1 - p)^B.
        ratios = []
        for y in labels:
            B = y.numel()
            expected = sum(1 - (1 - p) ** B for p in shares.values())
            if expected >= 2:
                ratios.append(len(set(y.tolist())) / expected)
        # Batch-class association (Cramer's V of the batches x classes table): about sqrt(dof / N) when shuffled,
        # 1 when each batch's class is fixed by its position, as in data sorted by label.
        classes = sorted(counts)
        table = [[sum(int(v) == c for v in y.tolist()) for c in classes] for y in labels]  # (batches, classes)
        chi2, n_rows = 0.0, len(table)
        for row in table:
            n_b = sum(row)
            for c, observed in zip(classes, row):
                expected_bc = n_b * shares[c]
                chi2 += (observed - expected_bc) ** 2 / expected_bc if expected_bc > 0 else 0.0
        dof = (n_rows - 1) * (len(classes) - 1)
        cramers_v = math.sqrt(chi2 / (total * (min(n_rows, len(classes)) - 1))) if n_rows > 1 else 0.0
        # significance: chi2 beyond dof + 5 standard deviations (sqrt(2 dof)) of its null distribution
        significant = dof > 0 and chi2 > dof + 5 * math.sqrt(2 * dof)
        mean_ratio = sum(ratios) / len(ratios) if ratios else 1.0
        if n_rows >= 2 and significant and (mean_ratio < o["sorted_ratio"] or cramers_v > o["batch_class_v"]):
            yield self.finding("ND106", f"the class of a sample depends on its batch (Cramer's V {cramers_v:.2f}); "
                               f"batches hold {mean_ratio:.0%} of the classes a shuffled loader gives",
                               {"cramers_v": cramers_v, "chi2": chi2, "dof": dof,
                                "distinct_over_expected": mean_ratio, "batches": n_rows,
                                "classes_seen": len(counts)}, where="data loader", severity="error",
                               fix=SHUFFLE_FIX)

    def _imbalance(self, ctx, counts, C):
        """ND107 when one class dominates the targets."""
        o = self.opts
        total = sum(counts.values())
        top, n_top = counts.most_common(1)[0]
        share = n_top / total
        fair = 1 / max(C or len(counts), len(counts))
        if share >= min(o["majority_share"], 2 * fair) and share > 0.5:
            # A weighted loss is the imbalance already handled: a note, not a warning.
            weighted = any(getattr(ctx.subject.loss, a, None) is not None for a in ("weight", "pos_weight"))
            severity = "warning" if share >= o["majority_share"] and not weighted else "info"
            yield self.finding("ND107", f"class {top} is {share:.0%} of {total} targets",
                               {"majority_class": top, "majority_share": share, "classes_seen": len(counts),
                                "targets": total}, where="targets", severity=severity,
                               fix="Weight the loss (CrossEntropyLoss(weight=...), BCEWithLogitsLoss(pos_weight=...)), "
                               "resample with a WeightedRandomSampler (one weight per sample), or set the output "
                               "bias to the class prior.")

    # -- the loader ---------------------------------------------------------------------------------------
    def _repeats(self, ctx, batches, constant: tuple[bool, bool]):
        """ND108: whole batches repeated, or far fewer distinct samples than drawing from the dataset gives."""
        if len(batches) < 2 or any(constant):
            return  # inputs the same in every sample (ND102): their hashes cannot tell batches or samples apart
        digests = ["".join(_digest(t) for t in tensors(b.inputs)) for b in batches]
        repeated = len(digests) - len(set(digests))
        if repeated:
            severity = "error" if len(set(digests)) == 1 else "warning"
            yield self.finding("ND108", f"{repeated} of {len(batches)} batches repeat an earlier batch exactly",
                               {"batches": len(batches), "distinct": len(set(digests))}, where="data loader",
                               severity=severity,
                               fix="Make the dataset's __getitem__ use its index and the loader iterate the dataset "
                               "(a generator that yields one cached batch, or a sampler with one index, repeats).")
            return
        yield from self._distinct_samples(ctx, batches)

    def _distinct_samples(self, ctx, batches):
        """Distinct samples (row hashes) among the rows read, against drawing them from a dataset of N samples.

        With replacement, n draws from N give N (1 - (1 - 1/N)^n) distinct samples on average (without
        replacement: min(n, N), more); the data cannot hold more distinct rows than the product of its
        per-column distinct values (low-cardinality tabular data repeats rows by nature).
        """
        o = self.opts
        N = population(ctx.subject.data)
        if N is None:
            return  # no dataset size to compare with (a generator)
        rows = [_row_digests(b.inputs) for b in batches]
        if any(r is None for r in rows):
            return
        n = sum(len(r) for r in rows)
        distinct = len({d for r in rows for d in r})
        expected = N * (1 - (1 - 1 / N) ** n) if N > 0 else 0.0
        expected = min(expected, _row_capacity(batches, expected))
        if expected < o["min_expected_samples"]:
            return
        ratio = distinct / expected
        if ratio >= o["distinct_ratio"]:
            return
        yield self.finding(
            "ND108", f"{n} samples read hold only {distinct} distinct ones, where drawing from the {N} samples "
            f"of the dataset gives about {expected:.0f}", {"samples_read": n, "distinct": distinct,
                                                          "expected_distinct": expected, "dataset_size": N,
                                                          "distinct_over_expected": ratio},
            where="data loader", severity="error" if ratio < o["distinct_error_ratio"] else "warning",
            confidence=self.margin(ratio, o["distinct_ratio"], below=True),
            fix="Check the sampler: a WeightedRandomSampler needs one weight per sample (weights[i] = "
            "class_weight[label[i]]), not one per class, and a Subset or sampler must cover the dataset's indices.")


def _row_digests(inputs) -> list[str] | None:
    """One hash per sample of the batch, over all its input tensors."""
    ts = tensors(inputs)
    if not ts or any(t.dim() == 0 or t.shape[0] != ts[0].shape[0] for t in ts):
        return None
    flat = [t.detach().cpu().reshape(t.shape[0], -1).contiguous().numpy() for t in ts]  # (B, D) each
    return [hashlib.sha1(b"".join(f[i].tobytes() for f in flat)).hexdigest() for i in range(ts[0].shape[0])]


def _row_capacity(batches, enough: float) -> float:
    """An upper bound on how many distinct rows the data can hold: the product of per-column distinct counts
    (computed until it passes `enough`)."""
    log_cap, limit = 0.0, math.log(max(enough, 1.0)) + 1
    for group in zip(*[tensors(b.inputs) for b in batches]):  # one input tensor across the batches
        try:
            x = torch.cat([t.detach().reshape(t.shape[0], -1) for t in group])  # (n, D)
        except RuntimeError:
            return math.inf
        for c in range(0, x.shape[1], 64):
            srt = x[:, c:c + 64].sort(dim=0).values  # (n, 64) each column sorted
            card = 1 + (srt[1:] != srt[:-1]).sum(dim=0)  # (64,) distinct values per column
            log_cap += float(torch.log(card.double()).sum())
            if log_cap > limit:
                return math.inf
    return math.exp(log_cap)


def _constant_inputs(batches) -> tuple[bool, bool]:
    """(all zero, every sample identical to the first of its batch) over every input tensor of every batch (the
    second needs batches of two or more samples)."""
    xs = [t for b in batches for t in tensors(b.inputs)]
    per_batch_same = [bool((t == t[:1]).all()) for t in xs if t.dim() > 0 and t.shape[0] > 1]
    all_zero = bool(xs) and all(bool((t == 0).all()) for t in xs)
    return all_zero, bool(per_batch_same) and all(per_batch_same)
