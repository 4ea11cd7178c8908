"""The text format: a report drawn for people, made to read in an 80-column terminal and in a CI log.

The verdict and the root cause come first; then each finding as a compact block (code and title on one line,
then what was measured, where, and the fix), wrapped at word boundaries to the console's width so that no token
is ever broken (a path longer than the width stands alone on its line); then the small plots that fit, the checks
that did not run or finish, and one line of check timings. `--verbose` shows every number of the evidence and
every plot. Rich honours NO_COLOR and falls back to plain text when stdout is not a terminal (80 columns, or
$COLUMNS).
"""
from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from .plain import evidence_text

if TYPE_CHECKING:
    from .model import Report

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
STATUS_STYLE = {"errors": "bold red", "warnings": "yellow", "incomplete": "bold magenta", "healthy": "bold green"}
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
        if report.unfinished or report.interrupted:  # which ones, and why, is listed under the findings
            text.append(f"  [{len(report.unfinished)} of {len(report.checks)} checks did not finish"
                        + ("; interrupted" if report.interrupted else "") + "]", style="magenta")
    text.append(f"  ({report.seconds:.1f} s)", style="dim")
    return text


def verdict_line(report: Report) -> str:
    return verdict(report).plain.strip()


def wrap(text: str, width: int, indent: str = "", first: str | None = None) -> list[str]:
    """`text` wrapped to `width` at spaces only: words, paths and numbers are never cut."""
    first = indent if first is None else first
    lines = textwrap.wrap(text, width=max(width, len(first) + 10), initial_indent=first, subsequent_indent=indent,
                          break_long_words=False, break_on_hyphens=False)
    return lines or [first.rstrip()]


def _print(console: Console, lines: list[str], style: str | None = None) -> None:
    for line in lines:
        console.print(Text(line, style=style or ""), soft_wrap=True)  # already wrapped: rich must not re-wrap


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


def draw_curve(console: Console, plot: dict, width: int = 80) -> None:
    vals = plot["values"]
    finite = [v for v in vals if math.isfinite(v)]
    _print(console, wrap(plot["title"], width), "bold")
    if not finite:
        console.print("  (no finite values)")
        return
    top, bottom = f"{max(finite):.4g}", f"{min(finite):.4g}"
    pad = max(len(top), len(bottom))
    console.print(f"  {top:>{pad}} ┤{sparkline(vals, min(60, width - pad - 4))}", soft_wrap=True)
    tail = f" (target {plot['target']:.3g})" if plot.get("target") is not None else ""
    points = plot.get("points", "steps")  # what one value is: a training step, or a bin of a long log
    legend = f"{len(vals)} {points}, first {vals[0]:.4g}, last {vals[-1]:.4g}{tail}"
    _print(console, wrap(legend, width, " " * (pad + 5), f"  {bottom:>{pad}} ┘ "))


def draw_bars(console: Console, plot: dict, width: int = 80) -> None:
    labels, vals = plot["labels"], plot["values"]
    title = plot["title"] + (f" ({plot['unit']})" if plot.get("unit") else "") + ", log scale"
    _print(console, wrap(title, width), "bold")
    positive = [v for v in vals if v > 0 and math.isfinite(v)]
    if not positive:
        console.print("  (all zero)")
        return
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    span = max(hi - lo, 1.0)
    lw = min(max(len(lab) for lab in labels), 40, width // 3)  # label column; long names keep their tail
    bar_width = max(5, min(40, width - lw - 13))  # "  label bar 1.23e-04"
    for lab, v in zip(labels, vals):
        if not math.isfinite(v):
            bar = "NaN/Inf"
        elif v <= 0:
            bar = "· (zero)"
        else:
            bar = "█" * max(1, int(round((math.log10(v) - lo) / span * bar_width)))
        console.print(f"  {lab[-lw:]:>{lw}} {bar} {v:.2e}", soft_wrap=True)


def finding_lines(f, width: int, verbose: bool = False) -> list[tuple[str, str | None]]:
    """One finding as a compact block of (line, style): '#1 error ND202 double-softmax', then the title, what
    was measured, where, the fix and what explains it, each wrapped under a three-space indent."""
    ind = "   "
    out: list[tuple[str, str | None]] = [(f"#{f.rank} {f.severity} {f.code} {f.name}", SEVERITY_STYLE[f.severity])]
    out += [(line, None) for line in wrap(f.title, width, ind)]
    ev = evidence_text(f, limit=len(f.evidence) if verbose else 6)
    if ev:
        out += [(line, "dim") for line in wrap(ev, width, ind + "  ", ind + "measured: ")]
    if f.where:
        out += [(line, None) for line in wrap(f.where, width, ind + "  ", ind + "where: ")]
    out += [(line, None) for line in wrap(f.fix, width, ind + "  ", ind + "fix: ")]
    if f.explained_by:
        out.append((f"{ind}explained by {f.explained_by}", "italic"))
    return out


def print_text(report: Report, console: Console | None = None, verbose: bool = False) -> None:
    console = console or Console()
    width = max(40, console.width)
    first, *rest = wrap(verdict(report).plain.strip(), width, "  ", "")
    _print(console, [first], STATUS_STYLE[report.status])
    _print(console, rest)
    for f in report.findings:
        for line, style in finding_lines(f, width, verbose):
            console.print(Text(line, style=style or ""), soft_wrap=True)
    for c in report.checks:
        for plot in c.plots:
            if plot["kind"] == "curve":
                draw_curve(console, plot, width)
            elif plot["kind"] == "bars" and (verbose or c.status == "failed" or len(plot["labels"]) <= 12):
                draw_bars(console, plot, width)
    for line in grouped_notes([c for c in report.checks if c.status not in ("passed", "failed") or c.detail]):
        _print(console, wrap(line, width, "  ", ""), "dim" if line.endswith(": skipped") or ": skipped:" in line
               else "magenta")
    summary = ", ".join(f"{c.name} {c.status} {c.seconds:.1f}s" for c in report.checks
                        if c.status not in ("skipped",))
    _print(console, wrap(f"checks: {summary}", width, "  ", ""), "dim")


def render_text(report: Report, fail_on: str = "error") -> str:
    """The text report without colour, as a string (what `print(report)` and `nndoctor.testing` show)."""
    import io

    buf = io.StringIO()
    print_text(report, Console(file=buf, width=120, no_color=True, force_terminal=False))
    return buf.getvalue()
