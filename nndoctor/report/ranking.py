"""Ranking: the root cause first (the contract's "Ranking").

Severity (error, warning, info), then causal order (the code's hundreds: data, loss wiring, model, gradients,
dynamics), then confidence, then the code number. A finding that another one explains (the causal table,
`nndoctor.catalogue.causes`) gets `explained_by` and is placed below its cause. Works on any objects with the
fields of `nndoctor.report.model.Finding`.
"""
from __future__ import annotations

from ..catalogue import CODES, explaining_cause

SEVERITIES = ("error", "warning", "info")
SEVERITY_ORDER = {s: i for i, s in enumerate(SEVERITIES)}


def _sort_key(f) -> tuple:
    return (SEVERITY_ORDER[f.severity], CODES[f.code].group, -f.confidence, f.code, f.where or "")


def rank_findings(findings: list) -> list:
    """Order findings root cause first and number them; set `explained_by` from the causal rules."""
    # Two checks may reach the same diagnosis (ND408 from the standard loop and from the user's step): keep one.
    unique: dict[tuple, object] = {}
    for f in sorted(findings, key=_sort_key):
        unique.setdefault((f.code, f.where), f)
    findings = list(unique.values())
    # A note (info) explains nothing: a layer frozen on purpose is not why a batch cannot be overfit.
    present = {f.code for f in findings if f.severity != "info"}
    for f in findings:
        f.explained_by = explaining_cause(f.code, present)
    pending = sorted(findings, key=_sort_key)
    placed: list = []
    placed_codes: set[str] = set()
    # Place each finding in sort order, but hold back one whose cause has not been placed yet.
    while pending:
        # (only a cycle could leave nothing placeable: then fall back to the plain order)
        i = next((k for k, f in enumerate(pending) if f.explained_by is None or f.explained_by in placed_codes), 0)
        f = pending.pop(i)
        placed.append(f)
        placed_codes.add(f.code)
    for rank, f in enumerate(placed, start=1):
        f.rank = rank
    return placed
