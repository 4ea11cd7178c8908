"""Report formats as strings: text (plain), json, markdown, junit.

- `text`: the terminal report without colour (what `nndoctor.testing` puts in an assertion message).
- `json`: the contract's JSON object (`../shared/spec/report.md`).
- `markdown`: a verdict heading, the ranked table and a checks line: fit for a pull-request comment or a CI job
  summary (`$GITHUB_STEP_SUMMARY`).
- `junit`: one testcase per check, for CI dashboards. A testcase fails (`<failure>`) when its check reported a
  finding at or above `fail_on` (the same rule as the exit code), with the ranked findings as the failure text;
  findings below `fail_on` go to the testcase's `<system-out>`. A check that crashed (or was interrupted) is an
  `<error>`; one that was skipped, or stopped by its time box without a failing finding, is `<skipped>`.
  The layout follows the JUnit XML schema that Jenkins publishes (junit-10.xsd) and GitLab, GitHub test
  reporters and Azure read: testsuites > testsuite > (properties, testcase*, system-out), testcase >
  (failure | error | skipped)*, system-out.
"""
from __future__ import annotations

import io
import re
import time
import xml.etree.ElementTree as ET

from rich.console import Console

from .report import SEVERITY_ORDER, CheckResult, Finding, Report

XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0, even escaped
ERROR_STATUSES = ("crashed", "interrupted")  # a JUnit <error>: the check itself did not work
SKIP_STATUSES = ("skipped", "timeout")  # a JUnit <skipped>, unless it left a failing finding behind


def render_text(report: Report, fail_on: str = "error") -> str:
    buf = io.StringIO()
    from .render import print_text

    print_text(report, Console(file=buf, width=120, no_color=True, force_terminal=False))
    return buf.getvalue()


def render_json(report: Report, fail_on: str = "error") -> str:
    return report.to_json() + "\n"


# -- plain-text lines shared by markdown and junit ------------------------------------------------------------
def verdict_line(report: Report) -> str:
    from .render import verdict

    return verdict(report).plain.strip()


def finding_text(f: Finding) -> str:
    """One finding as a few plain lines: rank, severity, code, title, then evidence, where, fix."""
    from .render import evidence_text

    lines = [f"#{f.rank} {f.severity} {f.code} {f.name}: {f.title}"]
    ev = evidence_text(f)
    if ev:
        lines.append(f"   measured: {ev}")
    if f.where:
        lines.append(f"   where: {f.where}")
    if f.explained_by:
        lines.append(f"   explained by {f.explained_by}")
    lines.append(f"   fix: {f.fix}")
    return "\n".join(lines)


# -- markdown ----------------------------------------------------------------------------------------------
def _cell(text: str | None) -> str:
    """A table cell: pipes escaped, line breaks as <br>."""
    return (text or "").replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def render_markdown(report: Report, fail_on: str = "error") -> str:
    from .render import evidence_text

    icon = {"healthy": "✅", "warnings": "⚠️", "errors": "❌"}[report.status]
    counts = {s: sum(f.severity == s for f in report.findings) for s in ("error", "warning", "info")}
    if report.status == "healthy":
        ran = sum(c.status in ("passed", "failed") for c in report.checks)
        verdict = f"healthy, {ran} checks passed" + (f", {counts['info']} note(s)" if counts["info"] else "")
    else:
        verdict = f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)"
    if report.interrupted:
        verdict += " (interrupted: partial report)"
    out = [f"### {icon} nndoctor: {verdict}", ""]
    head = report.findings[0] if report.findings and report.findings[0].severity != "info" else None
    if head:
        out += [f"**Root cause:** {head.code} {head.name}: {_cell(head.title)}", ""]
    if report.config:
        out += [f"Config: `{report.config.replace('`', '')}`", ""]
    if report.findings:
        out += ["| # | severity | code | what was measured | where | fix |", "|---|---|---|---|---|---|"]
        for f in report.findings:
            measured = f"**{_cell(f.title)}**"
            ev = evidence_text(f)
            if ev:
                measured += "<br>" + _cell(ev)
            if f.explained_by:
                measured += f"<br>_explained by {f.explained_by}_"
            where = f"`{_cell(f.where.replace('`', ''))}`" if f.where else ""
            out.append(f"| {f.rank} | {f.severity} | {f.code} {f.name} | {measured} | {where} | {_cell(f.fix)} |")
        out.append("")
    for c in report.checks:
        if c.status in ("crashed", "timeout", "interrupted", "skipped"):
            out.append(f"- {c.name}: {c.status}: {_cell(c.detail)}")
    if any(c.status in ("crashed", "timeout", "interrupted", "skipped") for c in report.checks):
        out.append("")
    summary = ", ".join(f"{c.name} {c.status} {c.seconds:.1f} s" for c in report.checks if c.status != "skipped")
    out.append(f"<sub>checks: {_cell(summary) or 'none'}; {report.seconds:.1f} s in all</sub>")
    return "\n".join(out) + "\n"


# -- junit -------------------------------------------------------------------------------------------------
def junit_cases(report: Report, fail_on: str = "error") -> list[dict]:
    """One entry per check: its outcome in JUnit terms ("passed", "failure", "error", "skipped") and the findings
    at/above and below `fail_on`. A finding whose check is not listed gets a testcase of its own."""
    limit = SEVERITY_ORDER[fail_on]
    checks: list[CheckResult] = list(report.checks)
    names = {c.name for c in checks}
    for f in report.findings:
        if f.check not in names:
            names.add(f.check)
            checks.append(CheckResult(f.check or "nndoctor", "failed"))
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
        cases.append({"check": c, "outcome": outcome, "failing": failing, "below": below})
    return cases


def render_junit(report: Report, fail_on: str = "error") -> str:
    cases = junit_cases(report, fail_on)
    counts = {k: sum(c["outcome"] == k for c in cases) for k in ("failure", "error", "skipped")}
    totals = {"tests": str(len(cases)), "failures": str(counts["failure"]), "errors": str(counts["error"]),
              "skipped": str(counts["skipped"]), "time": f"{report.seconds:.3f}"}
    # Jenkins' junit-10.xsd has no `skipped` on <testsuites>, only on <testsuite>.
    root = ET.Element("testsuites", {"name": "nndoctor", **{k: v for k, v in totals.items() if k != "skipped"}})
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - report.seconds))
    suite = ET.SubElement(root, "testsuite", {"name": "nndoctor", **totals, "timestamp": started})
    props = ET.SubElement(suite, "properties")
    from . import __version__

    for name, value in (("nndoctor_version", __version__), ("config", report.config or ""),
                        ("status", report.status), ("fail_on", fail_on)):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for case in cases:
        c: CheckResult = case["check"]
        tc = ET.SubElement(suite, "testcase", {"classname": f"nndoctor.{c.name}", "name": c.name,
                                               "time": f"{c.seconds:.3f}"})
        failing, below = case["failing"], case["below"]
        if case["outcome"] == "error":
            body = c.detail or c.status
            if failing:
                body += "\n\nfindings before it stopped:\n" + "\n".join(finding_text(f) for f in failing)
            ET.SubElement(tc, "error", {"message": f"{c.status}: {c.detail or ''}".strip(": "),
                                        "type": c.status}).text = body
        elif case["outcome"] == "failure":
            top = failing[0]
            more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
            body = "\n".join(finding_text(f) for f in failing)
            if c.status == "timeout":
                body += f"\n\n(the check stopped early: {c.detail})"
            ET.SubElement(tc, "failure", {"message": f"{top.code} {top.name}: {top.title}{more}",
                                          "type": top.severity}).text = body
        elif case["outcome"] == "skipped":
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


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown, "junit": render_junit}


def render(report: Report, fmt: str, fail_on: str = "error") -> str:
    """The report as a string in `fmt`; `fail_on` decides which findings fail a JUnit testcase."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(RENDERERS)}")
    if fail_on not in SEVERITY_ORDER:
        raise ValueError(f"fail_on must be one of {', '.join(SEVERITY_ORDER)}, not {fail_on!r}")
    return RENDERERS[fmt](report, fail_on)
