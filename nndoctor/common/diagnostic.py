"""The one base of every diagnostic: a run check (`nndoctor.engine.check.Check`) and a curve analyser
(`nndoctor.curve.analyser.Analyser`) are both declared this way, and selected and isolated by the same code.

A diagnostic is a class: its docstring is its documentation (what it catches, why it matters, how to fix it), a
kebab-case `name`, the `codes` it may emit, `options` declared with `Option` (default, unit, range, help), and a
`run` that measures and then judges against its options, yielding findings.
"""
from __future__ import annotations

import inspect
import re
from typing import Any, ClassVar

from ..catalogue import CODES
from ..report.model import Finding
from . import confidence
from .options import Option, declared, defaults


class Diagnostic:
    name: ClassVar[str] = ""
    codes: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[dict[str, Any]] = {}
    quick_options: ClassVar[dict[str, Any]] = {}  # overrides for the --quick profile
    # A finding's confidence: how far its measurement is past its threshold (one meaning for all, see the module)
    margin = staticmethod(confidence.margin)

    def __init__(self, opts: dict[str, Any] | None = None, quick: bool = False) -> None:
        merged = defaults(self.options)
        if quick:
            merged.update(self.quick_options)
        merged.update(opts or {})
        self.opts = merged
        self.plots: list[dict] = []

    # -- helpers for subclasses -------------------------------------------------------------------------------
    def finding(self, code: str, title: str, evidence: dict, fix: str = "", severity: str = "",
                where: str | None = None, confidence: float = 1.0) -> Finding:
        """A finding of one of this diagnostic's codes; without `fix`, the catalogue's fix for the code."""
        if code not in self.codes:
            raise ValueError(f"{self.name} does not declare code {code}")
        return Finding(code=code, title=title, evidence=evidence, fix=fix or CODES[code].fix, severity=severity,
                       where=where, check=self.name, confidence=confidence)

    def plot_curve(self, title: str, values: list[float], target: float | None = None,
                   points: str | None = None) -> None:
        """A small line chart drawn under the report (a loss curve); `points` says what one value is."""
        plot = {"kind": "curve", "title": title, "values": [float(v) for v in values], "target": target}
        if points is not None:
            plot["points"] = points
        self.plots.append(plot)

    def plot_bars(self, title: str, labels: list[str], values: list[float], unit: str = "", *,
                  bands: list[dict] | None = None, lines: list[dict] | None = None,
                  codes: tuple[str, ...] = ()) -> None:
        """One bar per label on a log scale (per-layer gradient norms). `bands`, `lines` and `codes` are for the
        HTML report, as in `plot_layers`."""
        plot = {"kind": "bars", "title": title, "labels": list(labels), "values": [float(v) for v in values],
                "unit": unit}
        self.plots.append(_marks(plot, bands, lines, codes))

    def plot_layers(self, title: str, labels: list[str], values: list[float], unit: str = "", *, log: bool = True,
                    bands: list[dict] | None = None, lines: list[dict] | None = None,
                    codes: tuple[str, ...] = ()) -> None:
        """One value per layer (or module), drawn in the HTML report only: the terminal report stays short.

        `log`: a log axis (values over decades) or a linear one from zero (shares, signed means). `bands`: the
        regions a judgement uses, each {"label", "low", "high"} (None: open on that side). `lines`: reference
        levels, each {"label", "value"} (about 1e-3 is a healthy update ratio). `codes`: the findings this chart is
        the evidence of (a finding links to it)."""
        plot = {"kind": "layers", "title": title, "labels": list(labels), "values": [float(v) for v in values],
                "unit": unit, "log": log}
        self.plots.append(_marks(plot, bands, lines, codes))

    # -- documentation and declaration --------------------------------------------------------------------------
    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.doc().split("\n", 1)[0]

    @classmethod
    def declared_options(cls) -> dict[str, Option]:
        return declared(cls.options)

    @classmethod
    def validate(cls) -> None:
        """A diagnostic must be well formed before it is registered: a clear error names what is missing."""
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", cls.name or ""):
            raise ValueError(f"{where}: name must be kebab-case, got {cls.name!r}")
        if not cls.codes:
            raise ValueError(f"{where}: declares no codes")
        unknown = [c for c in cls.codes if c not in CODES]
        if unknown:
            raise ValueError(f"{where}: unknown codes {unknown}")
        if not cls.doc():
            raise ValueError(f"{where}: the docstring is its documentation and is missing")
        options = cls.declared_options()
        for key, value in cls.quick_options.items():
            if key not in options:
                raise ValueError(f"{where}: quick option {key!r} is not one of its options")
            problem = options[key].problem(value)
            if problem:
                raise ValueError(f"{where}: quick option {key!r}: {problem}")


def _marks(plot: dict, bands: list[dict] | None, lines: list[dict] | None, codes: tuple[str, ...]) -> dict:
    """`plot` with its bands, reference lines and evidence codes, each only when given (bounds as floats)."""
    def number(v):
        return None if v is None else float(v)

    if bands:
        plot["bands"] = [{"label": str(b["label"]), "low": number(b.get("low")), "high": number(b.get("high"))}
                         for b in bands]
    if lines:
        plot["lines"] = [{"label": str(x["label"]), "value": float(x["value"])} for x in lines]
    if codes:
        plot["codes"] = list(codes)
    return plot
