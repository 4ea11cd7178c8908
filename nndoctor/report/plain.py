"""Plain-text pieces shared by the formats: the measured numbers of a finding, a finding as a few lines, the
verdict line."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Finding


def evidence_text(f: Finding, limit: int = 6) -> str:
    """The measured numbers, short: `key=value` pairs (lists shortened)."""
    parts = []
    for k, v in list(f.evidence.items())[:limit]:
        if isinstance(v, list):
            v = "[" + ", ".join(str(x) for x in v[:4]) + (", …]" if len(v) > 4 else "]")
        elif isinstance(v, dict):
            v = "{" + ", ".join(f"{a}: {b}" for a, b in list(v.items())[:3]) + (", …}" if len(v) > 3 else "}")
        parts.append(f"{k}={v}")
    return "; ".join(parts)


def finding_text(f: Finding) -> str:
    """One finding as a few plain lines: rank, severity, code, title, then evidence, where, fix."""
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
