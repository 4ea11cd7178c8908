"""Long tables turned wide: `step,tag,value` (a TensorBoard or W&B export) becomes one column per tag, and
`epoch,phase,loss` with phase train/val becomes `train_loss` and `val_loss`."""
from __future__ import annotations

import numpy as np

from ..roles import role_scores
from . import Column, Table

TAG_COLUMNS = ("tag", "metric", "name", "key", "series")
SPLIT_COLUMNS = ("split", "phase", "mode", "stage", "subset", "set", "partition", "dataset")


def pivot_kind(name: str) -> str | None:
    """"tag" or "split" for a column a long table is pivoted on, else None."""
    low = name.strip().lower()
    if low in TAG_COLUMNS:
        return "tag"
    if low in SPLIT_COLUMNS:
        return "split"
    return None


def _masked(values: np.ndarray, mask: np.ndarray) -> Column:
    return Column(values[mask], None if mask.all() else np.flatnonzero(mask))


def pivot(table: Table) -> Table:
    """The table with a tag column's values spread into one column per tag, or a split column's metrics into one
    column per split and metric; unchanged when it has neither."""
    names, cols, textual, n = table.names, table.columns, table.textual, table.rows
    tag_col = next((c for c in textual if pivot_kind(c) == "tag"), None)
    value_col = next((c for c in cols if c.strip().lower() in ("value", "values", "y")), None)
    if tag_col and value_col:
        tags = textual[tag_col]
        v = cols[value_col]
        values, present = v.dense(n), v.mask(n)
        out = {c: col for c, col in cols.items() if c != value_col}
        labels = sorted({t for t in tags if t is not None})
        for lab in labels:
            out[lab] = _masked(values, np.array([t == lab for t in tags]) & present)
        return Table(table.format, [c for c in names if c in out] + labels, out, n, {}, table.text_cells,
                     table.text_columns)
    split_col = next((c for c in textual if pivot_kind(c) == "split"), None)
    if split_col:
        splits = textual[split_col]
        labels = sorted({s for s in splits if s is not None})
        metrics = [c for c in cols if set(role_scores(c)) & {"train", "val", "train_acc", "val_acc"}]
        out = {c: col for c, col in cols.items() if c not in metrics}
        new_names = [c for c in names if c in out]
        for lab in labels:
            in_split = np.array([s == lab for s in splits])
            for m in metrics:
                name = f"{lab}_{m}"
                out[name] = _masked(cols[m].dense(n), in_split & cols[m].mask(n))
                new_names.append(name)
        return Table(table.format, new_names, out, n, {}, table.text_cells, table.text_columns)
    return table
