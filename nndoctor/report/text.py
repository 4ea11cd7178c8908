"""The text format: a report drawn for people (a one-line verdict, the ranked table, small terminal plots).

Rich honours NO_COLOR and falls back to plain text when stdout is not a terminal.
"""
from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table
from rich.text import Text

from typing import TYPE_CHECKING

from .plain import evidence_text

if TYPE_CHECKING:
    from .model import Report

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
BLOCKS = " ▁▂▃▄▅▆▇█"


def grouped_notes(checks) -> list[str]:
    """'status: detail: check, check' lines, one per distinct (status, detail): 14 checks blocked for one reason
    make one line, not fourteen."""
    groups: dict[tuple, list[str]] = {}
    for c in checks:
        groups.setdefault((c.status, c.detail), []).append(c.name)
    return [f"{', '.join(names)}: {status}" + (f": {detail}" if detail else "")
            for (status, detail), names in groups.items()]


def unfinished_text(report: Report) -> str:
    """'2 of 13 checks did not finish: gradient-flow: crashed: ZeroDivisionError: ...; ...' or ''."""
    todo = report.unfinished
    if not todo and not report.interrupted:
        return ""
    head = f"{len(todo)} of {len(report.checks)} checks did not finish"
    if report.interrupted:
        head = "interrupted: partial report; " + head
    return head + (": " + "; ".join(grouped_notes(todo)) if todo else "")


def verdict(report: Report) -> Text:
    counts = {s: sum(f.severity == s for f in report.findings) for s in ("error", "warning", "info")}
    head = report.findings[0] if report.findings and report.findings[0].severity != "info" else None
    ran = len([c for c in report.checks if c.status in ("passed", "failed")])
    if report.status == "incomplete":
        # What did not run comes first: a gate must not read this as healthy.
        text = Text("✗ incomplete", style="bold magenta")
        text.append(f": {unfinished_text(report)}")
        text.append(f"; {ran} checks ran")
        if counts["warning"]:
            text.append(f", {counts['warning']} warning(s)")
            if head:
                text.append(f" — first: {head.code} {head.name}: {head.title}")
    elif report.status == "healthy":
        text = Text("✓ healthy", style="bold green")
        text.append(f": {ran} checks passed")
        if counts["info"]:
            text.append(f", {counts['info']} note(s)")
    else:
        style = SEVERITY_STYLE["error" if report.status == "errors" else "warning"]
        text = Text(f"✗ {counts['error']} error(s), {counts['warning']} warning(s)", style=style)
        if head:
            text.append(f" — root cause: {head.code} {head.name}: {head.title}")
        if report.unfinished or report.interrupted:
            text.append(f"  [{unfinished_text(report)}]", style="magenta")
    text.append(f"  ({report.seconds:.1f} s)", style="dim")
    return text


def verdict_line(report: Report) -> str:
    return verdict(report).plain.strip()


def sparkline(values: list[float], width: int = 60) -> str:
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return "(no finite values)"
    if len(values) > width:  # keep the shape: take evenly spaced samples
        step = len(values) / width
        values = [values[int(i * step)] for i in range(width)]
    lo, hi = min(vals), max(vals)
    span = hi - lo or 1.0
    out = []
    for v in values:
        out.append("×" if not math.isfinite(v) else BLOCKS[1 + int((v - lo) / span * (len(BLOCKS) - 2))])
    return "".join(out)


def draw_curve(console: Console, plot: dict) -> None:
    vals = plot["values"]
    finite = [v for v in vals if math.isfinite(v)]
    console.print(Text(plot["title"], style="bold"))
    if not finite:
        console.print("  (no finite values)")
        return
    top, bottom = f"{max(finite):.4g}", f"{min(finite):.4g}"
    pad = max(len(top), len(bottom))
    console.print(f"  {top:>{pad}} ┤{sparkline(vals)}")
    tail = f"  (target {plot['target']:.3g})" if plot.get("target") is not None else ""
    points = plot.get("points", "steps")  # what one value is: a training step, or a bin of a long log
    console.print(f"  {bottom:>{pad}} ┘ {len(vals)} {points}, first {vals[0]:.4g}, last {vals[-1]:.4g}{tail}")


def draw_bars(console: Console, plot: dict, width: int = 40) -> None:
    labels, vals = plot["labels"], plot["values"]
    console.print(Text(plot["title"] + (f" ({plot['unit']})" if plot.get("unit") else "") + ", log scale",
                       style="bold"))
    positive = [v for v in vals if v > 0 and math.isfinite(v)]
    if not positive:
        console.print("  (all zero)")
        return
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    span = max(hi - lo, 1.0)
    lw = min(max(len(lab) for lab in labels), 40)
    for lab, v in zip(labels, vals):
        if not math.isfinite(v):
            bar = "NaN/Inf"
        elif v <= 0:
            bar = "· (zero)"
        else:
            bar = "█" * max(1, int(round((math.log10(v) - lo) / span * width)))
        console.print(f"  {lab[-lw:]:>{lw}} {bar} {v:.2e}")


def print_text(report: Report, console: Console | None = None, verbose: bool = False) -> None:
    console = console or Console()
    console.print(verdict(report))
    if report.findings:
        table = Table(show_lines=False, expand=False, pad_edge=False)
        for col in ("#", "severity", "code", "what was measured", "where", "fix"):
            table.add_column(col, overflow="fold")
        for f in report.findings:
            measured = Text(f.title)
            ev = evidence_text(f)
            if ev:
                measured.append("\n" + ev, style="dim")
            if f.explained_by:
                measured.append(f"\nexplained by {f.explained_by}", style="italic")
            table.add_row(str(f.rank), Text(f.severity, style=SEVERITY_STYLE[f.severity]),
                          f"{f.code}\n{f.name}", measured, f.where or "", f.fix)
        console.print(table)
    for c in report.checks:
        for plot in c.plots:
            if plot["kind"] == "curve":
                draw_curve(console, plot)
            elif plot["kind"] == "bars" and (verbose or c.status == "failed" or len(plot["labels"]) <= 12):
                draw_bars(console, plot)
    for line in grouped_notes([c for c in report.checks if c.status not in ("passed", "failed")]):
        console.print(Text(line, style="dim" if ": skipped" in line else "magenta"))
    summary = ", ".join(f"{c.name} {c.status} {c.seconds:.1f}s" for c in report.checks
                        if c.status not in ("skipped",))
    console.print(Text(f"checks: {summary}", style="dim"))


def render_text(report: Report, fail_on: str = "error") -> str:
    """The text report without colour, as a string (what `print(report)` and `nndoctor.testing` show)."""
    import io

    buf = io.StringIO()
    print_text(report, Console(file=buf, width=120, no_color=True, force_terminal=False))
    return buf.getvalue()
