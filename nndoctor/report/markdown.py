"""The markdown format: a verdict heading, the ranked table and a checks line: fit for a pull-request comment
or a CI job summary (`$GITHUB_STEP_SUMMARY`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .plain import evidence_text

if TYPE_CHECKING:
    from .model import Report


def _cell(text: str | None) -> str:
    """A table cell: pipes escaped, line breaks as <br>."""
    return (text or "").replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def render_markdown(report: Report, fail_on: str = "error") -> str:
    icon = {"healthy": "✅", "warnings": "⚠️", "errors": "❌", "incomplete": "⛔"}[report.status]
    counts = {s: sum(f.severity == s for f in report.findings) for s in ("error", "warning", "info")}
    ran = sum(c.status in ("passed", "failed") for c in report.checks)
    if report.status == "healthy":
        verdict = f"healthy, {ran} checks passed" + (f", {counts['info']} note(s)" if counts["info"] else "")
    elif report.status == "incomplete":
        verdict = f"incomplete: {len(report.unfinished)} of {len(report.checks)} checks did not finish ({ran} ran)"
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
    notes = [c for c in report.checks if c.status not in ("passed", "failed")]
    for c in notes:
        out.append(f"- {c.name}: {c.status}: {_cell(c.detail)}")
    if notes:
        out.append("")
    summary = ", ".join(f"{c.name} {c.status} {c.seconds:.1f} s" for c in report.checks if c.status != "skipped")
    out.append(f"<sub>checks: {_cell(summary) or 'none'}; {report.seconds:.1f} s in all</sub>")
    return "\n".join(out) + "\n"
