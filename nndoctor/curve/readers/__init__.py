"""The readers of `nndoctor curve`: each turns one log format into a `Table` of named numeric columns.

- `csv`: CSV/TSV/semicolon/whitespace tables, streamed in blocks (ten million rows in a few seconds and a few
  hundred MB), numbers parsed by `numbers`;
- `jsonl`: JSON lines, streamed one line at a time, and whole JSON files (a list of records, a Keras history dict, a
  Hugging Face trainer_state.json);
- `tensorboard`: event files, through the optional `tensorboard` package;
- `pivot`: long tables (`step,tag,value`, or a `split` column) turned into one column per metric.

A column keeps only the cells that hold a value, compactly: the values (float64) and, when some rows lack one, the
rows that hold them. Empty cells, JSON nulls and absent keys are *missing* (a metric not logged on that row);
`nan`/`inf` are *values* (the run met a NaN) and are kept. Which column plays which role is `..roles`' business.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

MAX_CELL = 131072  # characters in one cell at most (the csv module's own limit): a training log holds numbers
MAX_LINE = 1 << 24  # bytes in one line at most (16 MB): beyond, the file is not a line-oriented log
MAX_DEPTH = 64  # nesting of one JSON record at most ({"eval": {"loss": ...}} is 2)
NOTED_CELLS = 3  # text cells quoted in a note


@dataclass
class Column:
    """One numeric column: the values of the rows that hold one, in row order."""

    values: np.ndarray  # (k,) float64; NaN/Inf are values
    rows: np.ndarray | None = None  # (k,) int64, ascending: the row of each value; None: one per row (k = rows)
    steps: np.ndarray | None = None  # (k,) its own steps (TensorBoard tags); None: the table's step column

    def count(self) -> int:
        return len(self.values)

    def mask(self, n: int) -> np.ndarray:
        """(n,) bool: the rows that hold a value."""
        if self.rows is None:
            return np.ones(n, bool)
        present = np.zeros(n, bool)
        present[self.rows] = True
        return present

    def dense(self, n: int) -> np.ndarray:
        """(n,) float64 with NaN where a row holds no value (for the small tables that are pivoted)."""
        if self.rows is None:
            return self.values
        out = np.full(n, np.nan)
        out[self.rows] = self.values
        return out


@dataclass
class TextCells:
    """Cells of a numeric column that are not numbers: read as missing, and said in a note."""

    count: int = 0
    examples: list[tuple[str, str]] = field(default_factory=list)  # (where: "line 12", cell), the first few

    def add(self, where: str, cell: str) -> None:
        self.count += 1
        if len(self.examples) < NOTED_CELLS:
            self.examples.append((where, cell if len(cell) <= 40 else cell[:37] + "..."))

    def quoted(self) -> str:
        """`line 12: 'n/a!', line 40: 'oops'`."""
        return ", ".join(f"{where}: {cell!r}" for where, cell in self.examples)


@dataclass
class Table:
    """What a reader gives back: every column name in file order, the numeric columns, the text columns a long
    table pivots on, and the number of rows."""

    format: str  # csv, jsonl, json, tensorboard
    names: list[str]
    columns: dict[str, Column]
    rows: int
    textual: dict[str, list] = field(default_factory=dict)  # name -> (rows,) str or None (tag, split columns)
    text_cells: dict[str, TextCells] = field(default_factory=dict)  # numeric columns with some text cells
    text_columns: dict[str, tuple[str, str]] = field(default_factory=dict)  # columns of text: (where, a cell)

    def add(self, name: str, column: "ColumnBuilder") -> None:
        """A column as read: numeric, or a text column when its text cells outnumber its numbers."""
        if column.text.count > len(column.values):
            self.text_columns[name] = column.text.examples[0]
            return
        self.columns[name] = column.column(self.rows)
        if column.text.count:
            self.text_cells[name] = column.text


class ColumnBuilder:
    """One column as it is read: the values that are present and, once a row lacks one, the rows that hold them.
    They go into stdlib arrays, 8 bytes a value, so that ten million rows cost 80 MB, not a list of floats."""

    def __init__(self) -> None:
        self.values = array("d")
        self.rows: array | None = None  # None while every row so far holds a value
        self.next_row = 0  # rows seen so far (add_block)
        self.text = TextCells()

    def add_block(self, values: np.ndarray, present: np.ndarray | None = None) -> None:
        """The next len(values) rows (present: which of them hold a value; None: all of them)."""
        k = len(values)
        if present is not None and not present.all():
            self._explicit_rows()
            self.rows.frombytes((np.flatnonzero(present) + self.next_row).astype(np.int64).tobytes())
            values = values[present]
        elif self.rows is not None:
            self.rows.frombytes(np.arange(self.next_row, self.next_row + k, dtype=np.int64).tobytes())
        self.values.frombytes(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        self.next_row += k

    def add(self, row: int, value: float) -> None:
        """One value of row `row` (JSON lines; rows only ever grow)."""
        if self.rows is None and row != len(self.values):
            self._explicit_rows()
        if self.rows is not None:
            self.rows.append(row)
        self.values.append(value)

    def _explicit_rows(self) -> None:
        if self.rows is None:  # every row so far held a value
            self.rows = array("q")
            self.rows.frombytes(np.arange(len(self.values), dtype=np.int64).tobytes())

    def column(self, n_rows: int) -> Column:
        """The column of a table of `n_rows` rows."""
        if self.rows is None and len(self.values) != n_rows:
            self._explicit_rows()
        values = np.frombuffer(self.values, dtype=np.float64) if len(self.values) else np.zeros(0)
        if self.rows is None:
            return Column(values)
        rows = np.frombuffer(self.rows, dtype=np.int64) if len(self.rows) else np.zeros(0, np.int64)
        return Column(values, rows)
