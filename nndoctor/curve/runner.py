"""Running the curve analysers over a log: which run (`--select` / `--ignore`, the same rules as `nndoctor run`,
through `nndoctor.common.selection`), each one's turn isolated (`nndoctor.common.isolation.take_turn`: a crashing
analyser becomes a `crashed` entry and the others still run), and the findings ranked into one report.

    log, report = diagnose_file("train_log.csv", select=["ND60"], ignore=["curve-periodicity"])
"""
from __future__ import annotations

import time
from typing import Iterable

from ..catalogue import CODES
from ..common import selection
from ..common.errors import did_you_mean
from ..common.isolation import take_turn
from ..report.model import CheckResult, Finding, Report
from .analyser import Analyser
from .analysers import ANALYSERS
from .log import CurveError, CurveLog
from .read import read_log
from .stats import Curves, measure


def check_selectors(items: Iterable[str]) -> list[str]:
    """--select/--ignore items as they are matched: codes or code prefixes (ND607, ND60) or analyser names; a
    CurveError names the item that is neither, and what is close to it."""
    names = [a.name for a in ANALYSERS]
    out = []
    for item in items:
        try:
            out.append(selection.normalise(item, CODES, names))
        except selection.SelectionError:
            raise CurveError(f"--select/--ignore: '{item}' is not a code, code prefix or curve analyser ("
                             f"{', '.join(names)})" + did_you_mean(item, list(CODES) + names)) from None
    return out


def check_options(options: dict) -> None:
    """`options` is {analyser name: {option: value}}; a CurveError names an unknown analyser, an unknown option or
    a value outside an option's declared type and range."""
    by_name = {a.name: a for a in ANALYSERS}
    for name, given in options.items():
        if name not in by_name:
            raise CurveError(f"options: '{name}' is not a curve analyser" + did_you_mean(name, by_name))
        declared = by_name[name].declared_options()
        for key, value in (given or {}).items():
            if key not in declared:
                raise CurveError(f"options: '{name}' has no option '{key}'"
                                 + (did_you_mean(key, declared) or f"; its options are: {', '.join(declared)}"))
            problem = declared[key].problem(value)
            if problem:
                raise CurveError(f"options: '{name}.{key}': {problem}")


def suppress(findings: list[Finding]) -> list[Finding]:
    """"Train longer" is no advice for a run that overfits, diverges, swings or died."""
    blocking = {f.code for f in findings
                if f.code in ("ND603", "ND605", "ND607") or (f.code == "ND602" and f.severity == "error")}
    return [f for f in findings if not (f.code == "ND609" and blocking)]


def analyse(analyser: Analyser, curves: Curves, select: list[str], ignore: list[str]) -> tuple[list[Finding],
                                                                                             CheckResult, bool]:
    """One analyser's turn: (the findings kept, its entry in the report, whether a Ctrl-C stopped it)."""
    t0 = time.monotonic()
    reason = analyser.skip_reason(curves)
    if reason:
        return [], CheckResult(analyser.name, "skipped", detail=reason), False
    turn = take_turn(lambda: analyser.run(curves),
                     keep=lambda f: selection.keep(f.code, f.check, select, ignore))
    result = CheckResult(analyser.name, turn.status, time.monotonic() - t0, turn.detail, analyser.plots)
    return turn.findings, result, turn.interrupted


def diagnose_log(log: CurveLog, select: Iterable[str] = (), ignore: Iterable[str] = (),
                 options: dict | None = None, started: float | None = None) -> Report:
    """Run the selected analysers on a parsed log; returns the ranked report (`config` is the log's path)."""
    started = time.monotonic() if started is None else started
    select, ignore, options = list(select), list(ignore), dict(options or {})
    check_options(options)
    curves = measure(log)
    findings: list[Finding] = []
    results: list[CheckResult] = []
    interrupted = False
    for cls in selection.chosen(ANALYSERS, select, ignore):
        got, result, interrupted = analyse(cls(options.get(cls.name)), curves, select, ignore)
        findings += got
        results.append(result)
        if interrupted:
            break
    return Report(findings=suppress(findings), checks=results, seconds=time.monotonic() - started,
                  config=log.path, interrupted=interrupted, title="nndoctor curve")


def diagnose_file(path: str, *, train: str | None = None, val: str | None = None, step: str | None = None,
                  lr: str | None = None, epoch: str | None = None, select: Iterable[str] = (),
                  ignore: Iterable[str] = (), options: dict | None = None) -> tuple[CurveLog, Report]:
    """Read `path` and diagnose it. Raises CurveError (one line: the file and the fix) on bad input."""
    started = time.monotonic()
    select, ignore = check_selectors(select), check_selectors(ignore)
    check_options(dict(options or {}))
    log = read_log(path, train=train, val=val, step=step, lr=lr, epoch=epoch)
    return log, diagnose_log(log, select, ignore, options, started)
