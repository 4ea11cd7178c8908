"""Reading a training log: `read_log(path)` sniffs the format, lets its reader (`readers/`) turn the file into a
table of numeric columns, recognises the roles (`roles`), and builds the `CurveLog` the analysers read: the
training loss, the validation loss and the learning rate as `Series` over one step axis, and the epoch length.

Every problem with the input is a `CurveError` of one line that names the file and the fix: no such file, not
UTF-8 text, a binary file, an empty log, a header without rows, a cell or a line too long, JSON that does not parse
or is nested too deep, no training-loss column, a column that holds text.
"""
from __future__ import annotations

import os

import numpy as np

from .log import CurveError, CurveLog, Series
from .readers import Column, Table
from .readers.csv import NOT_TEXT, read_csv
from .readers.jsonl import read_json
from .readers.pivot import pivot
from .readers.tensorboard import TB_MARK, read_tensorboard
from .roles import assign_roles, column_list, role_scores
from .stats import median_step

JSON_EXTENSIONS = (".jsonl", ".ndjson", ".json")
SNIFF = 4096  # bytes looked at to tell text from binary and CSV from JSON


def read_log(path: str, train: str | None = None, val: str | None = None, step: str | None = None,
             lr: str | None = None, epoch: str | None = None) -> CurveLog:
    """Read a training log into a CurveLog; any problem is a CurveError with a one-line fix."""
    given = {"train": train, "val": val, "step": step, "lr": lr, "epoch": epoch}
    if not os.path.exists(path):
        raise CurveError(f"{path}: no such file; give the path of a CSV, JSON-lines or TensorBoard log")
    if os.path.isdir(path) or TB_MARK in os.path.basename(path):
        return build(path, read_tensorboard(path), given)
    try:
        with open(path, "rb") as fh:
            table = _read_text_log(path, fh, tuple(given.values()))
    except OSError as exc:
        raise CurveError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if table.textual:
        table = pivot(table)
    return build(path, table, given)


def _read_text_log(path: str, fh, keep: tuple) -> Table:
    """A CSV or JSON table, after a look at the file's first bytes: binary, empty, or which of the two."""
    head = fh.read(SNIFF)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the look
            raise CurveError(f"{path}: {NOT_TEXT}") from None
    if b"\x00" in head:
        raise CurveError(f"{path}: a binary file, not a text log; nndoctor curve reads CSV, JSON lines and "
                         f"TensorBoard event files (events.out.tfevents.*)")
    first = head.lstrip()[:1]
    if not first and _only_whitespace(fh):
        raise CurveError(f"{path}: the log is empty")
    fh.seek(0)
    if os.path.splitext(path)[1].lower() in JSON_EXTENSIONS or first in (b"{", b"["):
        return read_json(path, fh)
    return read_csv(path, fh, keep)


def _only_whitespace(fh) -> bool:
    while True:
        chunk = fh.read(1 << 20)
        if not chunk:
            return True
        if chunk.strip():
            return False


# -- from a table to series -------------------------------------------------------------------------------------
def _ordered(steps: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps ascending. A resumed run logs some steps twice: the later rows (after the restart) win."""
    ascending = len(steps) < 2 or bool(np.all(steps[1:] >= steps[:-1]))
    if ascending and len(steps) >= 2 and np.isinf(steps[[0, -1]]).any():
        ascending = bool(np.all(np.diff(steps) >= 0))  # inf after inf is not ascending (inf - inf is NaN)
    if ascending:
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


def _on(c: Column, rows: np.ndarray | None) -> np.ndarray:
    """The values of column `c` on the rows that `rows` (a (n,) bool mask) marks; None marks every row."""
    if rows is None:
        return c.values
    return c.values[rows] if c.rows is None else c.values[rows[c.rows]]


def _rows_of(c: Column, rows: np.ndarray | None, n: int) -> np.ndarray:
    """The row numbers of column `c`'s values on the rows that `rows` marks (an index into a (n,) array)."""
    mine = np.arange(n) if c.rows is None else c.rows
    return mine if rows is None else mine[rows[mine]]


def _filled(c: Column, n: int) -> np.ndarray:
    """(n,) a step column with each row that lacks a value given the last one before it (a row without a step
    belongs to the last step seen), and the rows before its first value that first value."""
    if c.rows is None:
        return c.values
    repeats = np.diff(np.append(c.rows, n))  # rows each value stands for
    repeats[0] += c.rows[0]
    return np.repeat(c.values, repeats)


def _distinct_share(table: Table, name: str, on_train: np.ndarray | None) -> float:
    """Distinct values of a column on the training rows, as a share of those rows (1: a step, small: an epoch)."""
    v = _on(table.columns[name], on_train)
    if not v.size:
        return 0.0
    if bool(np.all(v[1:] >= v[:-1])):  # sorted: count where the value changes, without keeping the run lengths
        return (1 + np.count_nonzero(v[1:] != v[:-1])) / v.size
    return np.unique(v).size / v.size


def _axis(table: Table, roles: dict[str, str], given: dict, on_train: np.ndarray | None) -> tuple[str | None,
                                                                                              str | None]:
    """(step column, epoch column): which column is the x axis (None: the row number), and which counts epochs."""
    cols = table.columns
    step_name, epoch_name = roles.get("step"), roles.get("epoch")
    if step_name is None and epoch_name is not None and cols[epoch_name].steps is None:
        # No step column: an epoch that changes on every training row is the x axis; otherwise rows are steps.
        if _distinct_share(table, epoch_name, on_train) >= 0.9:
            step_name = epoch_name
    if (step_name is not None and step_name != epoch_name and cols[step_name].steps is None
            and given.get("step") is None and _distinct_share(table, step_name, on_train) < 0.5):
        # Many training rows share each value: an epoch counter under another name, not a step.
        epoch_name = epoch_name or step_name
        step_name = None
    return step_name, epoch_name


def _epoch_length(table: Table, epoch_name: str, on_train: np.ndarray | None, steps_all: np.ndarray,
                  train: Series) -> float | None:
    """Training-log rows per epoch, from an epoch column: whole epochs count their rows; fractional epochs (Hugging
    Face) give steps per epoch over the training rows' step interval."""
    c = table.columns[epoch_name]
    ev = _on(c, on_train)
    if ev.size < 2 or not ev.max() > ev.min():
        return None
    if _whole_numbers(ev):
        return float(np.median(_run_counts(ev)))
    sv = steps_all[_rows_of(c, on_train, table.rows)]
    per_epoch = float((sv.max() - sv.min()) / (ev.max() - ev.min()))
    return per_epoch / max(median_step(train.steps), 1e-12)


def _whole_numbers(v: np.ndarray, chunk: int = 1 << 20) -> bool:
    """np.all(v == np.round(v)), `chunk` values at a time (np.round copies the column)."""
    return all(bool(np.all(v[i:i + chunk] == np.round(v[i:i + chunk]))) for i in range(0, len(v), chunk))


def _text_notes(table: Table, used: dict[str, str | None]) -> list[str]:
    """A note for each column in use that holds some text cells (read as missing)."""
    notes = []
    for name in dict.fromkeys(n for n in used.values() if n):
        cells = table.text_cells.get(name)
        if cells:
            notes.append(f"{cells.count} cell(s) of '{name}' are not numbers ({cells.quoted()}"
                         f"{', ...' if cells.count > len(cells.examples) else ''}): read as missing")
    return notes


def _no_train_column(path: str, table: Table) -> CurveError:
    text = [n for n in table.text_columns if "train" in role_scores(n)]
    why = ""
    if text:
        where, cell = table.text_columns[text[0]]
        why = f" ('{text[0]}' holds text, not numbers: {where}: {cell!r})"
    return CurveError(f"{path}: no training-loss column among: {column_list(table.names) or '(none)'}{why}; name it "
                      f"with --train COLUMN")


def build(path: str, table: Table, given: dict[str, str | None]) -> CurveLog:
    """The CurveLog of a table: roles, the step axis, and one Series per role present."""
    if table.rows == 0:
        raise CurveError(f"{path}: the log has column names but no rows of values")
    cols = table.columns
    counts = {n: c.count() for n, c in cols.items()}
    roles = assign_roles([n for n in table.names if n in cols], counts, given, path, table.names,
                         table.text_columns)
    notes: list[str] = []
    train_name, train_is_acc = roles.get("train"), False
    if train_name is None and roles.get("train_acc"):
        train_name, train_is_acc = roles["train_acc"], True
        notes.append(f"no training-loss column: the error rate 1 - {train_name} stands in for it")
    if train_name is None:
        raise _no_train_column(path, table)
    train_col = cols[train_name]
    # the rows that log the training loss decide what the x axis is; None: every row
    on_train = train_col.mask(table.rows) if train_col.rows is not None and train_col.steps is None else None
    step_name, epoch_name = _axis(table, roles, given, on_train)
    if step_name is None or not cols[step_name].count():
        steps_all = np.arange(table.rows, dtype=float)
    else:
        steps_all = _filled(cols[step_name], table.rows)

    def series(name: str | None, accuracy: bool = False) -> Series | None:
        if name is None:
            return None
        c = cols[name]
        st = c.steps if c.steps is not None else (steps_all if c.rows is None else steps_all[c.rows])
        st, v = _ordered(np.asarray(st, float), np.asarray(c.values, float))
        if accuracy:
            v = _accuracy_to_error(v)
        return Series(name, st, v, from_accuracy=accuracy)

    train = series(train_name, train_is_acc)
    if len(train) == 0:
        raise CurveError(f"{path}: the training-loss column '{train_name}' holds no values; name another with "
                         f"--train COLUMN")
    val_name, val_is_acc = roles.get("val"), False
    if val_name is None and roles.get("val_acc"):
        val_name, val_is_acc = roles["val_acc"], True
        notes.append(f"no validation-loss column: the error rate 1 - {val_name} stands in for it")
    epoch_length = None
    if epoch_name is not None and cols[epoch_name].steps is None and epoch_name != step_name:
        epoch_length = _epoch_length(table, epoch_name, on_train, steps_all, train)
    used = {"train": train_name, "val": val_name, "step": step_name,
            "epoch": epoch_name if epoch_name != step_name else None, "lr": roles.get("lr")}
    notes += _text_notes(table, used)
    return CurveLog(path=path, format=table.format, columns=table.names, roles={k: v for k, v in used.items() if v},
                    train=train, val=series(val_name, val_is_acc), lr=series(roles.get("lr")),
                    epoch_length=epoch_length, rows=table.rows, notes=notes)
