"""The one place that owns the formats: `render(report, fmt)` as a string, for `text` (plain), `json`,
`markdown`, `junit` and `html`; one module per format beside this one."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .html import render_html
from .junit import render_junit
from .markdown import render_markdown
from .ranking import SEVERITY_ORDER
from .text import render_text

if TYPE_CHECKING:
    from .model import Report


def render_json(report: Report, fail_on: str = "error") -> str:
    """The contract's JSON object, one per run, and nothing else."""
    return report.to_json() + "\n"


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown, "junit": render_junit,
             "html": render_html}


def render(report: Report, fmt: str, fail_on: str = "error") -> str:
    """The report as a string in `fmt`; `fail_on` decides which findings fail a JUnit testcase."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(RENDERERS)}")
    if fail_on not in SEVERITY_ORDER:
        raise ValueError(f"fail_on must be one of {', '.join(SEVERITY_ORDER)}, not {fail_on!r}")
    return RENDERERS[fmt](report, fail_on)
