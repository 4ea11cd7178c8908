"""The report model: findings, check results, the report with its status and exit code (the README's "The
report" section is the contract, tested against this module). Ranking is `nndoctor.report.ranking`; the formats
are `nndoctor.report.router`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .._version import __version__
from ..catalogue import CODES
from .ranking import SEVERITIES, SEVERITY_ORDER, rank_findings

SCHEMA_VERSION = 1


class ExitCode(IntEnum):
    """The process exit codes: a documented enum, as pytest's are."""

    OK = 0  # no finding at or above --fail-on
    FINDINGS = 1  # at least one finding at or above --fail-on
    USAGE = 2  # usage or config error: one line on stderr
    INTERNAL = 3  # internal error of nndoctor itself, outside any check
    INCOMPLETE = 4  # no finding at or above --fail-on, but a selected check did not finish
    INTERRUPTED = 130  # interrupted from the terminal; the partial report is still printed (status incomplete)


# Check statuses. A check that did not finish leaves the run `incomplete`: it crashed, ran out of time, was
# interrupted, or was blocked (it could not run because an earlier failure made it impossible, or the run's
# deadline came first). `skipped` is a check that does not apply (a config key it needs is absent).
STATUSES = ("passed", "failed", "skipped", "crashed", "timeout", "interrupted", "blocked")
UNFINISHED = ("crashed", "timeout", "interrupted", "blocked")


def json_safe(value: Any) -> Any:
    """Evidence is plain JSON: numbers (finite, rounded), strings, bools, lists and dicts of those."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "numel", lambda: 1)() == 1:  # torch / numpy scalar
        return json_safe(value.item())
    if hasattr(value, "tolist"):
        return json_safe(value.tolist())
    return str(value)


@dataclass
class Finding:
    """One diagnosis: a stable code, a severity, evidence in numbers, where, and the fix."""

    code: str
    title: str
    evidence: dict
    fix: str
    severity: str = ""  # empty: the code's default severity
    where: str | None = None
    check: str = ""
    confidence: float = 1.0  # 0..1, breaks ties between findings of one severity and group
    explained_by: str | None = None
    rank: int = 0

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown diagnosis code {self.code!r}")
        if not self.severity:
            self.severity = CODES[self.code].severity
        if self.severity not in SEVERITY_ORDER:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")
        self.evidence = json_safe(dict(self.evidence))

    @property
    def name(self) -> str:
        return CODES[self.code].name

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "check": self.check,
            "title": self.title,
            "where": self.where,
            "evidence": self.evidence,
            "fix": self.fix,
            "explained_by": self.explained_by,
        }


@dataclass
class CheckResult:
    """What one check did: one of STATUSES (failed: it reported a warning or an error)."""

    name: str
    status: str
    seconds: float = 0.0
    detail: str | None = None  # why it crashed, stopped, was blocked or skipped
    plots: list = field(default_factory=list)  # terminal drawings: {"kind": "curve"|"bars", ...}
    step_equivalents: float = 0.0  # cost in training steps over the user's batch (forward + backward)

    def to_dict(self) -> dict:
        out = {"name": self.name, "status": self.status, "seconds": round(self.seconds, 3),
               "step_equivalents": round(self.step_equivalents, 1)}
        if self.detail:
            out["detail"] = self.detail
        return out

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED


@dataclass
class Report:
    """The ranked diagnosis of one run."""

    findings: list[Finding]
    checks: list[CheckResult]
    seconds: float = 0.0
    config: str | None = None
    interrupted: bool = False
    title: str = "nndoctor run"
    fail_on: str = "error"  # the severity at which the run fails: decides `status` between a finding and incomplete
    distributed: dict | None = None  # a run on several ranks (`--nproc N`): world size, backend, each rank's status

    def __post_init__(self) -> None:
        self.findings = rank_findings(list(self.findings))

    @property
    def unfinished(self) -> list[CheckResult]:
        """The selected checks that did not run to their end."""
        return [c for c in self.checks if not c.finished]

    @property
    def complete(self) -> bool:
        """Every selected check ran to its end, and the run was not interrupted."""
        return not self.interrupted and not self.unfinished

    @property
    def status(self) -> str:
        """`errors`, `warnings` or `healthy` from the findings; `incomplete` when a selected check did not finish
        and no finding at or above `fail_on` was made (`healthy` is only said when every check ran)."""
        severities = {f.severity for f in self.findings}
        failing = bool(self.failing(self.fail_on))
        if "error" in severities:
            return "errors"
        if not self.complete and not failing:
            return "incomplete"
        if "warning" in severities:
            return "warnings"
        return "healthy" if self.complete else "incomplete"

    @property
    def ok(self) -> bool:
        """True when every check ran and nothing at warning or error was found."""
        return self.status == "healthy"

    def failing(self, fail_on: str | None = None) -> list[Finding]:
        limit = SEVERITY_ORDER[fail_on or self.fail_on]
        return [f for f in self.findings if SEVERITY_ORDER[f.severity] <= limit]

    def exit_code(self, fail_on: str | None = None) -> ExitCode:
        """130 when interrupted from the terminal; else 1 for a finding at or above `fail_on`, then 4 when a
        selected check did not finish, then 0."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.failing(fail_on):
            return ExitCode.FINDINGS
        return ExitCode.OK if self.complete else ExitCode.INCOMPLETE

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "nndoctor_version": __version__,
            "config": self.config,
            "status": self.status,
            "findings": [f.to_dict() for f in self.findings],
            "checks": [c.to_dict() for c in self.checks],
            "seconds": round(self.seconds, 3),
            **({"distributed": self.distributed} if self.distributed is not None else {}),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        """`print(report)`: the plain-text report, as the terminal shows it without colour."""
        from .router import render

        return render(self, "text")

    def _repr_markdown_(self) -> str:
        """A notebook shows a report as its Markdown table."""
        from .router import render

        return render(self, "markdown")
