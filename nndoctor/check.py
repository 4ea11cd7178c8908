"""The base class every check derives from, built-in or third-party.

A check is one small module: a docstring that documents it (what it catches, why it matters, how to fix
it), a name, the codes it may emit, a rough cost, named options with defaults, and `run(ctx)`, which measures
with the shared mechanics of `nndoctor.context` and then compares with its options. It yields findings.

    class MyCheck(Check):
        '''What it catches. Why it matters. How to fix it.'''
        name = "my-check"
        codes = ("ND123",)
        cost = "low"
        options = {"max_ratio": 10.0}  # ratio of A to B

        def run(self, ctx):
            ratio = ...                                   # measure
            if ratio > self.opts["max_ratio"]:            # judge
                yield self.finding("ND123", "A is 12x B", {"ratio": ratio}, fix="...")
"""
from __future__ import annotations

import inspect
import re
from typing import Any, ClassVar, Iterable

from .report import Finding

COSTS = ("low", "medium", "high")  # low: a few forward passes; medium: tens; high: hundreds of steps


class Check:
    name: ClassVar[str] = ""
    codes: ClassVar[tuple[str, ...]] = ()
    cost: ClassVar[str] = "low"
    needs_model: ClassVar[bool] = True  # False: runs from the batches alone (still runs when forward fails)
    options: ClassVar[dict[str, Any]] = {}
    quick_options: ClassVar[dict[str, Any]] = {}  # overrides for the --quick profile

    def __init__(self, opts: dict[str, Any] | None = None, quick: bool = False) -> None:
        merged = dict(self.options)
        if quick:
            merged.update(self.quick_options)
        merged.update(opts or {})
        self.opts = merged
        self.plots: list[dict] = []

    # -- what a check implements ------------------------------------------------------------------
    def run(self, ctx) -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def skip_reason(cls, ctx) -> str | None:
        """Why this check does not apply to this run (e.g. a config key it needs is absent), or None: the
        runner then reports it `skipped` with this reason instead of running it."""
        return None

    # -- helpers for subclasses ---------------------------------------------------------------------
    def finding(self, code: str, title: str, evidence: dict, fix: str, severity: str = "",
                where: str | None = None, confidence: float = 1.0) -> Finding:
        if code not in self.codes:
            raise ValueError(f"check {self.name} does not declare code {code}")
        return Finding(code=code, title=title, evidence=evidence, fix=fix, severity=severity, where=where,
                       check=self.name, confidence=confidence)

    def plot_curve(self, title: str, values: list[float], target: float | None = None) -> None:
        """A small line chart drawn under the report (a loss curve)."""
        self.plots.append({"kind": "curve", "title": title, "values": [float(v) for v in values],
                           "target": target})

    def plot_bars(self, title: str, labels: list[str], values: list[float], unit: str = "") -> None:
        """One bar per label on a log scale (per-layer gradient norms)."""
        self.plots.append({"kind": "bars", "title": title, "labels": list(labels),
                           "values": [float(v) for v in values], "unit": unit})

    # -- documentation ----------------------------------------------------------------------------------
    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.doc().split("\n", 1)[0]

    @classmethod
    def validate(cls) -> None:
        """A check must be well formed before it is registered: a clear error names what is missing."""
        from .codes import CODES

        where = f"{cls.__module__}.{cls.__qualname__}"
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", cls.name or ""):
            raise ValueError(f"{where}: name must be kebab-case, got {cls.name!r}")
        if not cls.codes:
            raise ValueError(f"{where}: declares no codes")
        unknown = [c for c in cls.codes if c not in CODES]
        if unknown:
            raise ValueError(f"{where}: unknown codes {unknown}")
        if cls.cost not in COSTS:
            raise ValueError(f"{where}: cost must be one of {COSTS}")
        if not cls.doc():
            raise ValueError(f"{where}: the docstring is the check's documentation and is missing")
