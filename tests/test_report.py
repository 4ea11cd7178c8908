"""Ranking (root cause first, explained_by), the JSON shape of the contract, exit codes."""
from __future__ import annotations

import json

import pytest

from nndoctor.catalogue.causes import EXPLAINS
from nndoctor.catalogue.codes import CODES
from nndoctor.report import CheckResult, ExitCode, Finding, Report, json_safe


def f(code, severity="", confidence=1.0, where=None):
    return Finding(code=code, title=f"title {code}", evidence={"x": 1.0}, fix="fix it", severity=severity,
                   check="c", confidence=confidence, where=where)


def test_severity_then_causal_group():
    r = Report([f("ND501"), f("ND107", "warning"), f("ND401"), f("ND402", "info")], [])
    assert [x.code for x in r.findings] == ["ND401", "ND501", "ND107", "ND402"]
    assert [x.rank for x in r.findings] == [1, 2, 3, 4]


def test_cause_ranks_above_what_it_explains_even_at_lower_severity():
    # ND201 error explained by unnormalised inputs (a warning): the cause comes first.
    r = Report([f("ND201", "error"), f("ND103", "warning")], [])
    assert [x.code for x in r.findings] == ["ND103", "ND201"]
    assert r.findings[1].explained_by == "ND103"
    assert r.findings[0].explained_by is None


def test_chain_of_causes():
    r = Report([f("ND503"), f("ND406"), f("ND306")], [])
    assert [x.code for x in r.findings] == ["ND306", "ND406", "ND503"]
    assert r.findings[2].explained_by in ("ND306", "ND406")


def test_causal_rules_have_no_cycles_and_known_codes():
    for cause, effects in EXPLAINS.items():
        assert cause in CODES
        for e in effects:
            assert e in CODES
    # depth-first search for a cycle
    seen, stack = set(), set()

    def visit(c):
        assert c not in stack, f"cycle through {c}"
        if c in seen:
            return
        stack.add(c)
        for e in EXPLAINS.get(c, ()):
            visit(e)
        stack.discard(c)
        seen.add(c)

    for c in EXPLAINS:
        visit(c)


def test_duplicate_findings_are_merged():
    r = Report([f("ND408", where="model"), f("ND408", where="model")], [])
    assert len(r.findings) == 1


def test_status_and_exit_codes():
    assert Report([], []).status == "healthy" and Report([], []).exit_code() == ExitCode.OK
    info = Report([f("ND402", "info")], [])
    assert info.status == "healthy" and info.exit_code("info") == ExitCode.FINDINGS
    warn = Report([f("ND103", "warning")], [])
    assert warn.status == "warnings" and warn.exit_code() == ExitCode.OK
    assert warn.exit_code("warning") == ExitCode.FINDINGS
    assert Report([f("ND401")], []).exit_code() == ExitCode.FINDINGS
    assert Report([], [], interrupted=True).exit_code() == ExitCode.INTERRUPTED
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 130]


def test_json_shape_matches_contract():
    r = Report([f("ND202", "error", where="model output")], [CheckResult("loss-inputs", "failed", 1.9)],
               seconds=4.2, config="path/to/config.yaml")
    d = json.loads(r.to_json())
    assert set(d) == {"schema_version", "nndoctor_version", "config", "status", "findings", "checks", "seconds"}
    assert d["schema_version"] == 1 and d["status"] == "errors" and d["config"] == "path/to/config.yaml"
    (fd,) = d["findings"]
    assert set(fd) == {"rank", "code", "name", "severity", "check", "title", "where", "evidence", "fix",
                       "explained_by"}
    assert fd["name"] == "double-softmax" and fd["rank"] == 1
    assert d["checks"][0]["name"] == "loss-inputs" and d["checks"][0]["status"] == "failed"


def test_evidence_is_json_safe():
    import torch

    ev = json_safe({"t": torch.tensor(2.5), "nan": float("nan"), "inf": float("inf"), "l": (1, 2.0)})
    assert ev == {"t": 2.5, "nan": "nan", "inf": "inf", "l": [1, 2.0]}
    json.dumps(ev)


def test_unknown_code_and_severity_rejected():
    with pytest.raises(ValueError):
        Finding(code="ND999", title="", evidence={}, fix="")
    with pytest.raises(ValueError):
        Finding(code="ND101", title="", evidence={}, fix="", severity="fatal")


def test_info_finding_explains_nothing():
    r = Report([f("ND501"), f("ND402", "info")], [])
    assert [x.code for x in r.findings] == ["ND501", "ND402"] and r.findings[0].explained_by is None
