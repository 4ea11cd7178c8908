"""Report formats as strings: text (plain), json, markdown, junit."""
from __future__ import annotations

import io

from rich.console import Console

from .report import Report


def render_text(report: Report) -> str:
    buf = io.StringIO()
    from .render import print_text

    print_text(report, Console(file=buf, width=120, no_color=True, force_terminal=False))
    return buf.getvalue()


def render_json(report: Report) -> str:
    return report.to_json() + "\n"


RENDERERS = {"text": render_text, "json": render_json}


def render(report: Report, fmt: str) -> str:
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(RENDERERS)}")
    return RENDERERS[fmt](report)
