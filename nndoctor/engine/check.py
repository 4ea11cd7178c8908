"""The base class every run check derives from, built-in or third-party (`from nndoctor import Check`).

A check is one small module: a docstring that documents it (what it catches, why it matters, how to fix it), a
name, the codes it may emit, a rough cost, options declared with `Option` (default, unit, range, help), and
`run(ctx)`, which measures with the shared mechanics (`ctx` and `nndoctor.probes`) and then judges against its
options. It yields findings.

    class MyCheck(Check):
        '''What it catches. Why it matters. How to fix it.'''
        name = "my-check"
        codes = ("ND123",)
        cost = "low"
        options = {"max_ratio": Option(10.0, "ratio of A to B above which it is reported", low=1)}

        def run(self, ctx):
            ratio = ...                                   # measure
            if ratio > self.opts["max_ratio"]:            # judge
                yield self.finding("ND123", "A is 12x B", {"ratio": ratio}, fix="...")
"""
from __future__ import annotations

from typing import ClassVar, Iterable

from ..common.diagnostic import Diagnostic
from ..report.model import Finding

COSTS = ("low", "medium", "high")  # low: a few forward passes; medium: tens; high: hundreds of steps


class Check(Diagnostic):
    cost: ClassVar[str] = "low"
    needs_model: ClassVar[bool] = True  # False: runs from the batches alone (still runs when forward fails)
    # True: trains on the user's loss (its backward); blocked, not crashed, when forward-probe finds it raises
    needs_backward: ClassVar[bool] = False
    order: ClassVar[int] = 50  # runs before checks of a higher order, whatever their cost (forward-probe: 0)

    # -- what a check implements ------------------------------------------------------------------------------
    def run(self, ctx) -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def skip_reason(cls, ctx) -> str | None:
        """Why this check does not apply to this run (e.g. a config key it needs is absent), or None: the
        runner then reports it `skipped` with this reason instead of running it."""
        return None

    @classmethod
    def validate(cls) -> None:
        super().validate()
        if cls.cost not in COSTS:
            raise ValueError(f"{cls.__module__}.{cls.__qualname__}: cost must be one of {COSTS}")
