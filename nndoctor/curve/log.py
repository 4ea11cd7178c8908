"""Reading training logs for `nndoctor curve`: CSV/TSV, JSON lines (or a JSON list, a Keras history dict, a
Hugging Face trainer_state.json) and TensorBoard event files (with the optional `tensorboard` package).

A log becomes named numeric columns; the roles (training loss, validation loss, step, epoch, learning rate,
accuracies) are then recognised by name, with the common spellings of PyTorch loops, Lightning, Keras, Hugging
Face and TensorBoard (`loss`, `train_loss`, `Loss/train`, `val_loss`, `eval_loss`, `validation/epoch_loss`,
`global_step`, `lr-AdamW`, `learning_rate`, ...), or given by the user (--train/--val/--step/--lr/--epoch).

Empty cells, JSON nulls and absent keys are *missing* (a metric not logged on that row: validation every N steps);
`nan`/`inf` are *values* (the run met a NaN) and are kept. Long tables (`step,tag,value` exports, or a
`split`/`phase` column holding train/val) are pivoted to one column per metric.

Speed: a plain numeric CSV goes through numpy's C parser (`np.loadtxt`), about 1 s for a million rows; anything
odder (quoted text, ragged rows, string columns) falls back to the csv module.
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

ROLES = ("train", "val", "step", "epoch", "lr", "train_acc", "val_acc")
ROLE_OPTIONS = {"train": "--train", "val": "--val", "step": "--step", "epoch": "--epoch", "lr": "--lr"}


class CurveError(Exception):
    """Bad input for `nndoctor curve`: one line naming the file and the fix (exit code 2)."""


# -- the result ------------------------------------------------------------------------------------------------
@dataclass
class Series:
    """One metric over the run: steps ascending, NaN/Inf kept (they are findings), missing cells dropped."""

    name: str  # the column it came from
    steps: np.ndarray  # (n,) float64, non-decreasing
    values: np.ndarray  # (n,) float64
    from_accuracy: bool = False  # values are an error rate made from an accuracy column (1 - acc)

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class CurveLog:
    """A parsed log: the columns found, the roles recognised, and one Series per role present."""

    path: str
    format: str  # csv, jsonl, json, tensorboard
    columns: list[str]
    roles: dict[str, str]  # role -> column name
    train: Series
    val: Series | None = None
    lr: Series | None = None
    epoch_length: float | None = None  # training-log rows per epoch, when an epoch column says so
    rows: int = 0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{r}={c}" for r, c in self.roles.items()]
        return ", ".join(parts)


# -- names -----------------------------------------------------------------------------------------------------
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
                 all_names: list[str] | None = None) -> dict[str, str]:
    """Role -> column: the user's choices first (exact or case-insensitive), then the best-scoring names, ties
    broken by the number of values logged (Lightning's train_loss_step beats train_loss_epoch)."""
    roles: dict[str, str] = {}
    for role, wanted in given.items():
        if not wanted:
            continue
        if wanted in names:
            roles[role] = wanted
            continue
        folded = [n for n in names if n.lower() == wanted.lower()]
        if folded:
            roles[role] = folded[0]
            continue
        close = difflib.get_close_matches(wanted, all_names or names, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else f"; the columns are: {_column_list(all_names or names)}"
        raise CurveError(f"{path}: no column '{wanted}' ({ROLE_OPTIONS.get(role, role)}){hint}")
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
    # A step column that is really the epoch (one value for many rows) is the epoch, not the x axis.
    return roles


def _column_list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# -- a table of columns ------------------------------------------------------------------------------------------
@dataclass
class Column:
    values: np.ndarray  # (n,) float64; NaN where missing or where the log holds NaN
    present: np.ndarray | None = None  # (n,) bool; None: every row present
    steps: np.ndarray | None = None  # (n,) own steps (TensorBoard tags); None: the table's step column

    def mask(self) -> np.ndarray:
        return np.ones(len(self.values), bool) if self.present is None else self.present

    def count(self) -> int:
        return int(len(self.values) if self.present is None else self.present.sum())


# -- CSV ---------------------------------------------------------------------------------------------------------
def _delimiter(header: str) -> str | None:
    counts = {d: header.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    if counts[best]:
        return best
    return None if header.strip().count(" ") else ","  # whitespace-separated, or a single column


def _header_names(header: str, delim: str | None) -> list[str]:
    fields = header.split() if delim is None else next(csv.reader([header], delimiter=delim))
    names = []
    for i, f in enumerate(fields):
        f = f.strip().strip('"').strip()
        names.append(f or f"column{i}")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # duplicate names get a suffix
        if n in seen:
            seen[n] += 1
            names[i] = f"{n}.{seen[n]}"
        else:
            seen[n] = 0
    return names


def _to_float(cell: str) -> float | None:
    """A cell as a number; None when missing (empty); raises ValueError on text."""
    cell = cell.strip().strip('"').strip()
    if not cell or cell.lower() in ("none", "null", "na", "n/a"):
        return None
    return float(cell)


def _is_number(cell: str) -> bool:
    try:
        _to_float(cell)
        return True
    except ValueError:
        return False


def read_csv(path: str, text: str, keep: tuple = ()) -> tuple[list[str], dict[str, Column], dict[str, list]]:
    """Columns of a CSV/TSV text: numeric ones as Column, text ones (for pivots) as lists of strings. Only columns
    that may play a role, or that `keep` names, are parsed."""
    lines = text.split("\n", 200)[:200]
    body_start = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")), None)
    if body_start is None:
        raise CurveError(f"{path}: the log has no rows; write one line of column names, then one row per step")
    header = lines[body_start].rstrip("\r")
    delim = _delimiter(header)
    names = _header_names(header, delim)
    if all(_is_number(n) for n in names):
        raise CurveError(f"{path}: the first line holds numbers, not column names; add a header such as "
                         f"'step,train_loss,val_loss'")
    offset = sum(len(ln) + 1 for ln in lines[:body_start + 1])  # where the rows start in the text
    body = text[offset:]
    sample = [r for r in _split_rows(body.split("\n", 200)[:200], delim) if r]
    numeric, textual = [], []
    for j, n in enumerate(names):
        cells = [r[j] for r in sample if j < len(r)]
        (numeric if all(_is_number(c) for c in cells) else textual).append(j)
    lower_keep = {k.lower() for k in keep if k}
    wanted = [j for j in numeric if _maybe_used(names[j]) or names[j].lower() in lower_keep]
    if textual and any(_pivot_kind(names[j]) for j in textual):
        return _read_csv_slow(names, body, delim)
    if not wanted:
        wanted = numeric
    try:
        cols = _read_csv_fast(body, delim, wanted, len(names))
    except ValueError:
        return _read_csv_slow(names, body, delim)
    return names, {names[j]: c for j, c in zip(wanted, cols)}, {}


def _maybe_used(name: str) -> bool:
    """Could this column play a role? (Parse only those: a million rows of grad norms cost time for nothing.)"""
    return bool(role_scores(name))


def _split_rows(lines: list[str], delim: str | None) -> list[list[str]]:
    lines = [ln.rstrip("\r") for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if delim is None:
        return [ln.split() for ln in lines]
    return list(csv.reader(lines, delimiter=delim))


def _fill_empty(body: str, delim: str, fill: str) -> str:
    """Empty cells -> `fill`, so numpy's parser reads them (str.replace: ~0.1 s for 30 MB)."""
    d = delim
    out = body.replace("\r", "") if "\r" in body else body
    out = out.replace(d + d, d + fill + d).replace(d + d, d + fill + d)  # twice: ",,," has overlapping pairs
    out = out.replace(d + "\n", d + fill + "\n").replace("\n" + d, "\n" + fill + d)
    if out.startswith(d):
        out = fill + out
    if out.endswith(d):
        out = out + fill
    return out


def _read_csv_fast(body: str, delim: str | None, usecols: list[int], ncols: int) -> list[Column]:
    """numpy's C parser over the numeric columns; empty cells are missing, literal nan/inf are kept."""
    def load(text: str) -> np.ndarray:
        with warnings.catch_warnings():  # a header without rows: an empty array, said once by read_log
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(io.StringIO(text), delimiter=delim, usecols=usecols, comments="#", ndmin=2,
                              dtype=np.float64, quotechar='"' if delim else None)  # (rows, len(usecols))

    if delim is None:
        arr = load(body)
        return [Column(arr[:, k]) for k in range(len(usecols))]
    first = load(_fill_empty(body, delim, "nan"))
    literal_nonfinite = "n" in body or "N" in body  # nan, NaN, inf, Infinity all hold an n (a fast test)
    if not literal_nonfinite:
        missing = np.isnan(first)  # every NaN came from an empty cell
    else:  # tell `nan` written in the log from an empty cell: parse again with empty -> 0
        second = load(_fill_empty(body, delim, "0"))
        missing = np.isnan(first) & ~np.isnan(second)
    cols = []
    for k in range(len(usecols)):
        miss = missing[:, k]
        cols.append(Column(first[:, k], None if not miss.any() else ~miss))
    return cols


def _read_csv_slow(names: list[str], body: str, delim: str | None) -> tuple[list[str], dict, dict]:
    rows = _split_rows(body.split("\n"), delim)
    n = len(rows)
    numeric: dict[str, Column] = {}
    textual: dict[str, list] = {}
    for j, name in enumerate(names):
        vals = np.full(n, np.nan)
        present = np.zeros(n, bool)
        strings: list | None = None
        for i, r in enumerate(rows):
            if j >= len(r):
                continue
            try:
                v = _to_float(r[j])
            except ValueError:
                if strings is None:
                    strings = [None] * n
                strings[i] = r[j].strip()
                continue
            if v is not None:
                vals[i], present[i] = v, True
        if strings is not None and sum(s is not None for s in strings) > present.sum():
            textual[name] = strings
        else:
            numeric[name] = Column(vals, present)
    return names, numeric, textual


# -- JSON --------------------------------------------------------------------------------------------------------
def _flatten(obj: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def _rows_to_columns(rows: list[dict]) -> tuple[list[str], dict[str, Column], dict[str, list]]:
    n = len(rows)
    numeric_idx: dict[str, list] = {}
    numeric_val: dict[str, list] = {}
    strings: dict[str, dict] = {}
    order: dict[str, None] = {}
    for i, row in enumerate(rows):
        for k, v in row.items():
            order.setdefault(k, None)
            if v is None or isinstance(v, bool):
                continue
            if isinstance(v, (int, float)):
                numeric_idx.setdefault(k, []).append(i)
                numeric_val.setdefault(k, []).append(float(v))
            elif isinstance(v, str):
                try:
                    f = float(v)
                except ValueError:
                    strings.setdefault(k, {})[i] = v
                    continue
                numeric_idx.setdefault(k, []).append(i)
                numeric_val.setdefault(k, []).append(f)
    names = list(order)
    cols: dict[str, Column] = {}
    textual: dict[str, list] = {}
    for k in names:
        idx = numeric_idx.get(k, [])
        if len(strings.get(k, {})) > len(idx):
            textual[k] = [strings[k].get(i) for i in range(n)]
            continue
        vals = np.full(n, np.nan)
        present = np.zeros(n, bool)
        if idx:
            ii = np.asarray(idx)
            vals[ii] = numeric_val[k]
            present[ii] = True
        cols[k] = Column(vals, present)
    return names, cols, textual


def read_json(path: str, text: str) -> tuple[str, list[str], dict[str, Column], dict[str, list]]:
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and _one_json_value(stripped)):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CurveError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); write one JSON object per "
                             f"line, or a list of objects") from None
        if isinstance(data, dict) and isinstance(data.get("log_history"), list):  # HF trainer_state.json
            data = data["log_history"]
        if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
            # Keras History.history: {"loss": [...], "val_loss": [...]}, one value per epoch.
            longest = max(len(v) for v in data.values())
            data = [{k: (v[i] if i < len(v) else None) for k, v in data.items()} for i in range(longest)]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise CurveError(f"{path}: JSON holds no list of records; write one object per line such as "
                             f'{{"step": 10, "loss": 0.5}}')
        return ("json",) + _rows_to_columns([_flatten(r) for r in data])
    rows = []
    for i, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CurveError(f"{path}: line {i} is not JSON ({exc.msg}); nndoctor curve reads one JSON object "
                             f"per line") from None
        if not isinstance(obj, dict):
            raise CurveError(f"{path}: line {i} is not a JSON object; write one object per line such as "
                             f'{{"step": 10, "loss": 0.5}}')
        rows.append(_flatten(obj))
    return ("jsonl",) + _rows_to_columns(rows)


def _one_json_value(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError:
        return False


# -- TensorBoard -------------------------------------------------------------------------------------------------
TB_MARK = "tfevents"


def _event_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    found = []
    for root, _dirs, files in os.walk(path):
        found += [os.path.join(root, f) for f in files if TB_MARK in f]
    return sorted(found)


def read_tensorboard(path: str) -> tuple[list[str], dict[str, Column]]:
    """Scalars of every event file under `path`, one column per (run folder, tag): `validation/epoch_loss`."""
    try:
        from tensorboard.backend.event_processing import event_accumulator as ea
    except ImportError:
        raise CurveError(f"{path}: reading TensorBoard event files needs the tensorboard package: pip install "
                         f"'nndoctor[tensorboard]' (or export the scalars to CSV)") from None
    files = _event_files(path)
    if not files:
        raise CurveError(f"{path}: no TensorBoard event files (events.out.tfevents.*) here; give a CSV or "
                         f"JSON-lines log, or a TensorBoard log folder")
    root = path if os.path.isdir(path) else os.path.dirname(path)
    by_folder: dict[str, list[str]] = {}
    for f in files:
        by_folder.setdefault(os.path.dirname(f), []).append(f)
    cols: dict[str, Column] = {}
    for folder, fs in by_folder.items():
        run = os.path.relpath(folder, root)
        prefix = "" if run in (".", "") else run.replace(os.sep, "/") + "/"
        source = fs[0] if os.path.isfile(path) else folder
        try:
            acc = ea.EventAccumulator(source, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
            acc.Reload()
        except Exception as exc:  # a corrupt or truncated file: tensorboard raises its own errors
            raise CurveError(f"{path}: cannot read the TensorBoard events in {folder}: {exc}") from None
        tags = acc.Tags()
        for tag in tags.get("scalars", []):
            events = acc.Scalars(tag)
            cols[prefix + tag] = Column(np.array([e.value for e in events], float),
                                        steps=np.array([e.step for e in events], float))
        for tag in tags.get("tensors", []):  # TF2 summaries store scalars as tensors
            if prefix + tag in cols:
                continue
            from tensorboard.util import tensor_util

            steps, vals = [], []
            for e in acc.Tensors(tag):
                arr = tensor_util.make_ndarray(e.tensor_proto)
                if getattr(arr, "size", 0) == 1 and np.issubdtype(arr.dtype, np.number):
                    steps.append(e.step)
                    vals.append(float(arr.reshape(())))
            if vals:
                cols[prefix + tag] = Column(np.array(vals, float), steps=np.array(steps, float))
    return list(cols), cols


# -- long tables -------------------------------------------------------------------------------------------------
TAG_COLUMNS = ("tag", "metric", "name", "key", "series")
SPLIT_COLUMNS = ("split", "phase", "mode", "stage", "subset", "set", "partition", "dataset")


def _pivot_kind(name: str) -> str | None:
    low = name.strip().lower()
    if low in TAG_COLUMNS:
        return "tag"
    if low in SPLIT_COLUMNS:
        return "split"
    return None


def pivot(names: list[str], cols: dict[str, Column], textual: dict[str, list]) -> tuple[list[str], dict]:
    """`step,tag,value` -> one column per tag; `epoch,phase,loss` (phase train/val) -> train_loss, val_loss."""
    tag_col = next((n for n in textual if _pivot_kind(n) == "tag"), None)
    value_col = next((n for n in cols if n.strip().lower() in ("value", "values", "y")), None)
    if tag_col and value_col:
        tags = textual[tag_col]
        v = cols[value_col]
        out = {n: c for n, c in cols.items() if n != value_col}
        labels = sorted({t for t in tags if t is not None})
        for lab in labels:
            m = np.array([t == lab for t in tags]) & v.mask()
            out[lab] = Column(np.where(m, v.values, np.nan), m)
        return [n for n in names if n in out] + labels, out
    split_col = next((n for n in textual if _pivot_kind(n) == "split"), None)
    if split_col:
        splits = textual[split_col]
        labels = sorted({s for s in splits if s is not None})
        metrics = [n for n in cols if set(role_scores(n)) & {"train", "val", "train_acc", "val_acc"}]
        out = {n: c for n, c in cols.items() if n not in metrics}
        new_names = [n for n in names if n in out]
        for lab in labels:
            in_split = np.array([s == lab for s in splits])
            for m in metrics:
                c = cols[m]
                mask = in_split & c.mask()
                name = f"{lab}_{m}"
                out[name] = Column(np.where(mask, c.values, np.nan), mask)
                new_names.append(name)
        return new_names, out
    return names, cols


# -- from columns to series ---------------------------------------------------------------------------------------
def _ffill(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Carry the last present value forward (a row without a step belongs to the last step seen)."""
    idx = np.where(present, np.arange(len(values)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = values[idx]
    if not present[0]:
        first = np.argmax(present) if present.any() else len(values)
        out[:first] = values[first] if first < len(values) else 0.0
    return out


def _ordered(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps ascending. A resumed run logs some steps twice: the later rows (after the restart) win."""
    if len(steps) < 2 or bool(np.all(np.diff(steps) >= 0)):
        return steps, values
    rev_steps = steps[::-1]
    uniq, first_in_rev = np.unique(rev_steps, return_index=True)  # sorted steps, last occurrence in file order
    keep = len(steps) - 1 - first_in_rev
    return uniq, values[keep]


def _run_counts(v: np.ndarray) -> np.ndarray:
    """How many times each distinct value occurs: run lengths when `v` is sorted (O(n), the usual case for a step
    or epoch column), np.unique otherwise."""
    if v.size and bool(np.all(v[1:] >= v[:-1])):
        edges = np.flatnonzero(v[1:] != v[:-1]) + 1  # where a new value starts
        return np.diff(np.concatenate(([0], edges, [v.size])))
    return np.unique(v, return_counts=True)[1]


def _accuracy_to_error(values: np.ndarray) -> np.ndarray:
    """Accuracy -> error rate (lower is better, like a loss): 1 - acc, or 100 - acc for percentages."""
    finite = values[np.isfinite(values)]
    top = 100.0 if finite.size and finite.max() > 1.0 + 1e-9 else 1.0
    return (top - values) / top


def build(path: str, fmt: str, names: list[str], cols: dict[str, Column], given: dict[str, str | None],
          rows: int) -> CurveLog:
    if rows == 0:
        raise CurveError(f"{path}: the log has column names but no rows of values")
    counts = {n: c.count() for n, c in cols.items()}
    numeric_names = [n for n in names if n in cols]
    roles = assign_roles(numeric_names, counts, given, path, names)
    notes: list[str] = []
    train_name = roles.get("train")
    train_is_acc = False
    if train_name is None and roles.get("train_acc"):
        train_name, train_is_acc = roles["train_acc"], True
        notes.append(f"no training-loss column: the error rate 1 - {train_name} stands in for it")
    if train_name is None:
        raise CurveError(f"{path}: no training-loss column among: {_column_list(names) or '(none)'}; name it with "
                         f"--train COLUMN")
    step_name = roles.get("step")
    epoch_name = roles.get("epoch")
    on_train = cols[train_name].mask()  # the rows that log the training loss decide what the x axis is

    def distinct_share(name: str) -> float:
        c = cols[name]
        v = c.values[c.mask() & on_train]
        return _run_counts(v).size / v.size if v.size else 0.0

    if step_name is None and epoch_name is not None and cols[epoch_name].steps is None:
        # No step column: an epoch that changes on every training row is the x axis; otherwise rows are steps.
        if distinct_share(epoch_name) >= 0.9:
            step_name = epoch_name
    if (step_name is not None and step_name != epoch_name and cols[step_name].steps is None
            and given.get("step") is None and distinct_share(step_name) < 0.5):
        # Many training rows share each value: an epoch counter under another name, not a step.
        epoch_name = epoch_name or step_name
        step_name = None
    if step_name is None:
        steps_all = np.arange(rows, dtype=float)
    else:
        s = cols[step_name]
        steps_all = _ffill(s.values, s.mask()) if s.count() else np.arange(rows, dtype=float)

    def series(name: str | None, accuracy: bool = False) -> Series | None:
        if name is None:
            return None
        c = cols[name]
        m = c.mask()
        st = c.steps[m] if c.steps is not None else steps_all[m]
        v = c.values[m]
        st, v = _ordered(st.astype(float), v.astype(float))
        if accuracy:
            v = _accuracy_to_error(v)
        return Series(name, st, v, from_accuracy=accuracy)

    train = series(train_name, train_is_acc)
    if train is None or len(train) == 0:
        raise CurveError(f"{path}: the training-loss column '{train_name}' holds no values; name another with "
                         f"--train COLUMN")
    val_name, val_is_acc = roles.get("val"), False
    if val_name is None and roles.get("val_acc"):
        val_name, val_is_acc = roles["val_acc"], True
        notes.append(f"no validation-loss column: the error rate 1 - {val_name} stands in for it")
    val = series(val_name, val_is_acc)
    lr = series(roles.get("lr"))
    epoch_length = None
    if epoch_name is not None and cols[epoch_name].steps is None and epoch_name != step_name:
        c = cols[epoch_name]
        both = c.mask() & on_train
        ev, sv = c.values[both], steps_all[both]
        if ev.size >= 2 and ev.max() > ev.min():
            if np.all(ev == np.round(ev)):  # whole epochs: training rows per epoch value
                epoch_length = float(np.median(_run_counts(ev)))
            else:  # fractional epochs (Hugging Face): steps per epoch, over the training rows' step interval
                per_epoch = float((sv.max() - sv.min()) / (ev.max() - ev.min()))
                epoch_length = per_epoch / max(float(np.median(np.diff(train.steps))), 1e-12)
    used = {"train": train_name, "val": val_name, "step": step_name,
            "epoch": epoch_name if epoch_name != step_name else None, "lr": roles.get("lr")}
    return CurveLog(path=path, format=fmt, columns=names, roles={k: v for k, v in used.items() if v},
                    train=train, val=val, lr=lr, epoch_length=epoch_length, rows=rows, notes=notes)


# -- entry point -------------------------------------------------------------------------------------------------
def read_log(path: str, train: str | None = None, val: str | None = None, step: str | None = None,
             lr: str | None = None, epoch: str | None = None) -> CurveLog:
    """Read a training log into a CurveLog; any problem is a CurveError with a one-line fix."""
    given = {"train": train, "val": val, "step": step, "lr": lr, "epoch": epoch}
    if not os.path.exists(path):
        raise CurveError(f"{path}: no such file; give the path of a CSV, JSON-lines or TensorBoard log")
    if os.path.isdir(path) or TB_MARK in os.path.basename(path):
        names, cols = read_tensorboard(path)
        rows = max((len(c.values) for c in cols.values()), default=0)
        return build(path, "tensorboard", names, cols, given, rows)
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise CurveError(f"{path}: not a text log (not UTF-8); nndoctor curve reads CSV, JSON lines and "
                         f"TensorBoard event files (events.out.tfevents.*)") from None
    except OSError as exc:
        raise CurveError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if "\x00" in text[:4096]:
        raise CurveError(f"{path}: a binary file, not a text log; nndoctor curve reads CSV, JSON lines and "
                         f"TensorBoard event files (events.out.tfevents.*)")
    if not text.strip():
        raise CurveError(f"{path}: the log is empty")
    ext = os.path.splitext(path)[1].lower()
    first = text.lstrip()[:1]
    if ext in (".jsonl", ".ndjson", ".json") or first in ("{", "["):
        fmt, names, cols, textual = read_json(path, text)
    else:
        fmt = "csv"
        names, cols, textual = read_csv(path, text, tuple(given.values()))
    if textual:
        names, cols = pivot(names, cols, textual)
    rows = max((len(c.values) for c in cols.values()), default=0)
    return build(path, fmt, names, cols, given, rows)

