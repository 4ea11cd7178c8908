"""Which column is which: the roles of a training log's columns (training loss, validation loss, step, epoch,
learning rate, accuracies), recognised by name with the common spellings of PyTorch loops, Lightning, Keras,
Hugging Face and TensorBoard (`loss`, `train_loss`, `Loss/train`, `val_loss`, `eval_loss`, `validation/epoch_loss`,
`global_step`, `lr-AdamW`, `learning_rate`, ...), or given by the user (--train/--val/--step/--lr/--epoch).
"""
from __future__ import annotations

import re

from ..common.errors import did_you_mean
from .log import CurveError

ROLES = ("train", "val", "step", "epoch", "lr", "train_acc", "val_acc")
ROLE_OPTIONS = {"train": "--train", "val": "--val", "step": "--step", "epoch": "--epoch", "lr": "--lr"}

VAL_WORDS = {"val", "valid", "validation", "eval", "evaluation", "dev", "holdout", "heldout", "test"}
TRAIN_WORDS = {"train", "training", "tr", "trn"}
LOSS_WORDS = {"loss", "nll", "xent", "crossentropy", "cost", "objective"}
ACC_WORDS = {"acc", "accuracy", "top1"}
STEP_WORDS = {"step", "steps", "iteration", "iterations", "iter", "iters", "it", "batch", "batches", "update",
              "updates"}
EPOCH_WORDS = {"epoch", "epochs"}
# Words that may qualify a metric without changing what it is (Lightning's train_loss_step, a running average...).
QUALIFIERS = {"avg", "mean", "total", "running", "smooth", "smoothed", "step", "epoch", "batch", "overall", "all",
              "global", "n", "num", "trainer", "optimizer", "opt", "idx", "index", "current", "value", "1", "pg0",
              "pg1", "group0", "metrics", "scalar", "scalars", "logs", "log", "cur"}
# A loss word next to one of these is not the loss curve (the AMP loss scale, a loss weight...).
NOT_A_CURVE = {"scale", "scaler", "weight", "weights", "coef", "coeff", "factor", "std", "var", "ratio", "count",
               "time", "min", "max", "best", "grad", "norm", "5", "top5", "acc5"}


def tokens(name: str) -> list[str]:
    """`Loss/train` -> [loss, train]; `trainLoss` -> [train, loss]; `lr-AdamW` -> [lr, adam, w]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def _is_lr(t: set[str]) -> bool:
    return "lr" in t or "learningrate" in t or {"learning", "rate"} <= t


def role_scores(name: str) -> dict[str, float]:
    """How well `name` fits each role (higher is better; absent: not a candidate)."""
    t = tokens(name)
    ts = set(t)
    if not ts:
        return {}
    known = (VAL_WORDS | TRAIN_WORDS | LOSS_WORDS | ACC_WORDS | QUALIFIERS | STEP_WORDS | EPOCH_WORDS
             | {"lr", "learning", "rate", "learningrate", "cross", "entropy"})
    unknown = len([w for w in t if w not in known])
    out: dict[str, float] = {}
    is_val = bool(ts & VAL_WORDS)
    is_loss = bool(ts & LOSS_WORDS) or {"cross", "entropy"} <= ts
    if ts & NOT_A_CURVE:
        is_loss = False
    if is_loss and not _is_lr(ts):
        if is_val:
            out["val"] = 3.0 - unknown - (0.5 if "test" in ts else 0.0) - (0.5 if "epoch" in ts else 0)
        else:
            out["train"] = 3.0 - unknown + (1.0 if ts & TRAIN_WORDS else 0.0) + (0.5 if "total" in ts else 0.0)
    if ts & ACC_WORDS and not (ts & NOT_A_CURVE) and not is_loss:
        out["val_acc" if is_val else "train_acc"] = 3.0 - unknown
    if _is_lr(ts) and not is_val:
        out["lr"] = 3.0 - (1.0 if unknown > 2 else 0.0)
    if ts & STEP_WORDS and not (ts & (LOSS_WORDS | ACC_WORDS)) and not _is_lr(ts) and unknown == 0 and not is_val:
        out["step"] = 3.0 + (1.0 if "step" in ts or "steps" in ts else 0.0) - (1.0 if ts & {"batch", "batches"} else 0)
    if ts & EPOCH_WORDS and not (ts & (LOSS_WORDS | ACC_WORDS)) and not _is_lr(ts) and unknown == 0 and not is_val:
        out["epoch"] = 3.0
    return out


def assign_roles(names: list[str], counts: dict[str, int], given: dict[str, str | None], path: str,
                 all_names: list[str] | None = None,
                 text_columns: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """Role -> column: the user's choices first (exact or case-insensitive), then the best-scoring names, ties
    broken by the number of values logged (Lightning's train_loss_step beats train_loss_epoch). `names` are the
    numeric columns; `text_columns` the columns of text, {name: (line, first text cell)}."""
    roles: dict[str, str] = {}
    for role, wanted in given.items():
        if wanted:
            roles[role] = _given_column(role, wanted, names, path, all_names or names, text_columns or {})
    taken = set(roles.values())
    scored = {n: role_scores(n) for n in names}
    for role in ROLES:
        if role in roles:
            continue
        cands = [(s[role], counts.get(n, 0), -i, n) for i, (n, s) in enumerate(scored.items())
                 if role in s and n not in taken and counts.get(n, 0) > 0]
        if cands:
            best = max(cands)[3]
            roles[role] = best
            taken.add(best)
    return roles


def _given_column(role: str, wanted: str, names: list[str], path: str, all_names: list[str],
                  text_columns: dict[str, tuple[str, str]]) -> str:
    """The numeric column the user named (exact, else case-insensitive), or a CurveError that says why not."""
    if wanted in names:
        return wanted
    folded = [n for n in names if n.lower() == wanted.lower()]
    if folded:
        return folded[0]
    option = ROLE_OPTIONS.get(role, role)
    text = next((n for n in text_columns if n.lower() == wanted.lower()), None)
    if text is not None:
        where, cell = text_columns[text]
        raise CurveError(f"{path}: the column '{text}' ({option}) holds text, not numbers ({where}: {cell!r}); "
                         f"name a column of numbers")
    others = [n for n in all_names if n.lower() != wanted.lower()]
    hint = did_you_mean(wanted, others) or f"; the columns are: {column_list(all_names)}"
    raise CurveError(f"{path}: no column '{wanted}' ({option}){hint}")


def column_list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
