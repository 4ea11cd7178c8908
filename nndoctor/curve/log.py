"""A training log as `nndoctor curve` reads it: one `Series` per role (training loss, validation loss, learning
rate) in a `CurveLog`, and `CurveError`, the one error bad input raises. `read.read_log` builds a CurveLog from a
file; the analysers (`analysers/`) read it through `stats.measure`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class CurveError(Exception):
    """Bad input for `nndoctor curve`: one line naming the file and the fix (exit code 2)."""


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
