"""The junit format: one testcase per check, for CI dashboards.

A testcase fails (`<failure>`) when its check reported a
finding at or above `fail_on` (the same rule as the exit code), with the ranked findings as the failure text;
findings below `fail_on` go to the testcase's `<system-out>`. A check that crashed (or was interrupted) is an
`<error>`; one that was skipped, or stopped by its time box without a failing finding, is `<skipped>`.
The layout follows the JUnit XML schema that Jenkins publishes (junit-10.xsd) and GitLab, GitHub test
reporters and Azure read: testsuites > testsuite > (properties, testcase*, system-out), testcase >
(failure | error | skipped)*, system-out.
"""
from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._version import __version__
from .plain import finding_text
from .text import verdict_line
from .ranking import SEVERITY_ORDER

if TYPE_CHECKING:
    from .model import Report

XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0, even escaped
ERROR_STATUSES = ("crashed", "interrupted")  # a JUnit <error>: the check itself did not work
SKIP_STATUSES = ("skipped", "timeout", "blocked")  # a JUnit <skipped>, unless it left a failing finding behind


@dataclass
class _Orphan:
    """The testcase of a finding whose check is not among the report's checks."""

    name: str
    status: str = "failed"
    seconds: float = 0.0
    detail: str | None = None


@dataclass
class Case:
    """One testcase: a check, its outcome in JUnit terms, and its findings at/above and below `fail_on`."""

    check: object  # a CheckResult, or an _Orphan
    outcome: str  # passed, failure, error or skipped
    failing: list
    below: list


def junit_cases(report: Report, fail_on: str = "error") -> list[Case]:
    """One entry per check: its outcome in JUnit terms ("passed", "failure", "error", "skipped") and the findings
    at/above and below `fail_on`. A finding whose check is not listed gets a testcase of its own."""
    limit = SEVERITY_ORDER[fail_on]
    checks: list = list(report.checks)
    names = {c.name for c in checks}
    for f in report.findings:
        if f.check not in names:
            names.add(f.check)
            checks.append(_Orphan(f.check or "nndoctor"))
    cases = []
    for c in checks:
        mine = [f for f in report.findings if (f.check or "nndoctor") == c.name]
        failing = [f for f in mine if SEVERITY_ORDER[f.severity] <= limit]
        below = [f for f in mine if SEVERITY_ORDER[f.severity] > limit]
        if c.status in ERROR_STATUSES:
            outcome = "error"
        elif failing:
            outcome = "failure"
        elif c.status in SKIP_STATUSES:
            outcome = "skipped"
        else:
            outcome = "passed"
        cases.append(Case(c, outcome, failing, below))
    return cases


def render_junit(report: Report, fail_on: str = "error") -> str:
    cases = junit_cases(report, fail_on)
    counts = {k: sum(c.outcome == k for c in cases) for k in ("failure", "error", "skipped")}
    totals = {"tests": str(len(cases)), "failures": str(counts["failure"]), "errors": str(counts["error"]),
              "skipped": str(counts["skipped"]), "time": f"{report.seconds:.3f}"}
    # Jenkins' junit-10.xsd has no `skipped` on <testsuites>, only on <testsuite>.
    root = ET.Element("testsuites", {"name": "nndoctor", **{k: v for k, v in totals.items() if k != "skipped"}})
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - report.seconds))
    suite = ET.SubElement(root, "testsuite", {"name": "nndoctor", **totals, "timestamp": started})
    props = ET.SubElement(suite, "properties")
    for name, value in (("nndoctor_version", __version__), ("config", report.config or ""),
                        ("status", report.status), ("fail_on", fail_on)):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for case in cases:
        c = case.check
        tc = ET.SubElement(suite, "testcase", {"classname": f"nndoctor.{c.name}", "name": c.name,
                                               "time": f"{c.seconds:.3f}"})
        failing, below = case.failing, case.below
        if case.outcome == "error":
            body = c.detail or c.status
            if failing:
                body += "\n\nfindings before it stopped:\n" + "\n".join(finding_text(f) for f in failing)
            ET.SubElement(tc, "error", {"message": f"{c.status}: {c.detail or ''}".strip(": "),
                                        "type": c.status}).text = body
        elif case.outcome == "failure":
            top = failing[0]
            more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
            body = "\n".join(finding_text(f) for f in failing)
            if c.status == "timeout":
                body += f"\n\n(the check stopped early: {c.detail})"
            ET.SubElement(tc, "failure", {"message": f"{top.code} {top.name}: {top.title}{more}",
                                          "type": top.severity}).text = body
        elif case.outcome == "skipped":
            ET.SubElement(tc, "skipped", {"message": f"{c.status}: {c.detail or ''}".strip(": ")})
        if below:
            ET.SubElement(tc, "system-out").text = "\n".join(finding_text(f) for f in below)
    ET.SubElement(suite, "system-out").text = verdict_line(report)
    for el in root.iter():  # a user's exception message may carry colour codes or NUL bytes
        el.attrib.update({k: XML_INVALID.sub("?", v) for k, v in el.attrib.items()})
        if el.text:
            el.text = XML_INVALID.sub("?", el.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
