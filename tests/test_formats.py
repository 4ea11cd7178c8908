"""Report formats: JUnit (well formed, valid against the JUnit schema CI systems read, counts equal to the JSON
report's) and Markdown (a verdict heading and one table row per finding)."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from nndoctor.report.router import render
from nndoctor.report import SEVERITY_ORDER, CheckResult, Finding, Report

from test_cli import CHEAP, cli, project  # noqa: F401  (project is a fixture)


def finding(code, check, severity="", title=None, where=None):
    return Finding(code=code, title=title or f"title of {code}", evidence={"value": 1.5, "n": 3}, fix="the fix",
                   severity=severity, where=where, check=check)


def mixed_report() -> Report:
    """Every outcome a check can have: passed, failed (error, warning, info), crashed, skipped, timeout."""
    findings = [
        finding("ND308", "forward-probe", title="the forward step raises on a real batch: RuntimeError: mat1 | mat2",
                where="train.py:12 in forward: return self.fc(x)"),
        finding("ND103", "input-sanity", "warning", where="inputs"),
        finding("ND107", "input-sanity", "info", where="targets"),
        finding("ND402", "gradient-flow", "info", where="encoder.weight"),
        finding("ND501", "overfit-one-batch", "error"),  # found before its time box ran out
        finding("ND201", "unlisted-plugin", "error"),  # its check is not in the checks list
    ]
    checks = [
        CheckResult("forward-probe", "failed", 0.2),
        CheckResult("input-sanity", "failed", 0.01),
        CheckResult("gradient-flow", "passed", 0.3),
        CheckResult("loss-at-init", "crashed", 0.1, detail="RuntimeError: bug at checks/x.py:3"),
        CheckResult("activations", "skipped", detail="the forward step fails on a real batch (see ND308)"),
        CheckResult("overfit-one-batch", "timeout", 5.0, detail="stopped after its time box of 5 s"),
        CheckResult("slow-check", "timeout", 5.0, detail="stopped after its time box of 5 s"),
    ]
    return Report(findings, checks, seconds=6.5, config="path/to/config.yaml")


# -- JUnit against the schema --------------------------------------------------------------------------------
# Jenkins' junit-10.xsd, the schema that Jenkins, GitLab and the GitHub test reporters read: elements, their
# allowed children in order, required and optional attributes.
SCHEMA = {
    "testsuites": ({"testsuite"}, set(), {"name", "time", "tests", "failures", "disabled", "errors"}),
    "testsuite": ({"properties", "testcase", "system-out", "system-err"}, {"name", "tests"},
                  {"failures", "errors", "time", "disabled", "skipped", "timestamp", "hostname", "id", "package",
                   "file", "log", "url", "version"}),
    "properties": ({"property"}, set(), set()),
    "property": (set(), {"name", "value"}, set()),
    "testcase": ({"skipped", "error", "failure", "system-out", "system-err"}, {"name"},
                 {"assertions", "time", "classname", "status"}),
    "failure": (set(), set(), {"type", "message"}),
    "error": (set(), set(), {"type", "message"}),
    "skipped": (set(), set(), {"message"}),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}
ORDER = {"testsuite": ["properties", "testcase", "system-out", "system-err"],
         "testcase": ["skipped|error|failure", "system-out", "system-err"]}
NUMBERS = {"tests", "failures", "errors", "skipped", "disabled"}


def validate_junit(text: str) -> ET.Element:
    root = ET.fromstring(text.split("\n", 1)[1] if text.startswith("<?xml") else text)  # well formed, or raises
    assert root.tag == "testsuites"

    def visit(el):
        assert el.tag in SCHEMA, f"element <{el.tag}> is not in the schema"
        children, required, optional = SCHEMA[el.tag]
        assert required <= set(el.attrib), f"<{el.tag}> lacks {required - set(el.attrib)}"
        assert set(el.attrib) <= required | optional, f"<{el.tag}> has unknown {set(el.attrib) - required - optional}"
        for k, v in el.attrib.items():
            if k in NUMBERS:
                assert v.isdigit(), (el.tag, k, v)
            if k == "time":
                assert re.fullmatch(r"\d+(\.\d+)?", v), (el.tag, k, v)
        if el.tag in ORDER:  # children in the schema's sequence
            slots = [next(i for i, s in enumerate(ORDER[el.tag]) if c.tag in s.split("|")) for c in el]
            assert slots == sorted(slots), f"<{el.tag}> children out of order: {[c.tag for c in el]}"
        if el.tag == "testsuite":
            assert sum(c.tag == "system-out" for c in el) <= 1 and sum(c.tag == "properties" for c in el) <= 1
        for c in el:
            assert c.tag in children, f"<{c.tag}> may not be inside <{el.tag}>"
            visit(c)

    visit(root)
    return root


def junit_counts(root: ET.Element) -> dict:
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    counted = {"tests": len(cases), "failures": sum(c.find("failure") is not None for c in cases),
               "errors": sum(c.find("error") is not None for c in cases),
               "skipped": sum(c.find("skipped") is not None for c in cases)}
    for key, value in counted.items():  # the suite's attributes agree with its testcases
        assert int(suite.get(key)) == value, key
        if key != "skipped":
            assert int(root.get(key)) == value, key
    return counted


def expected_from_json(report: dict, fail_on: str) -> dict:
    """What the JUnit counts must be, computed from the JSON report alone."""
    limit = SEVERITY_ORDER[fail_on]
    names = [c["name"] for c in report["checks"]]
    names += sorted({f["check"] for f in report["findings"]} - set(names))
    status = {c["name"]: c["status"] for c in report["checks"]}
    failing = {f["check"] for f in report["findings"] if SEVERITY_ORDER[f["severity"]] <= limit}
    errors = {n for n in names if status.get(n) in ("crashed", "interrupted")}
    return {"tests": len(names), "errors": len(errors), "failures": len(failing - errors),
            "skipped": len({n for n in names if status.get(n) in ("skipped", "timeout", "blocked")} - failing - errors)}


@pytest.mark.parametrize("fail_on", ["error", "warning", "info"])
def test_junit_is_valid_and_counts_match_json(fail_on):
    report = mixed_report()
    root = validate_junit(render(report, "junit", fail_on))
    assert junit_counts(root) == expected_from_json(json.loads(report.to_json()), fail_on)


def test_junit_testcases_carry_findings():
    root = validate_junit(render(mixed_report(), "junit", "error"))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"forward-probe", "input-sanity", "gradient-flow", "loss-at-init", "activations",
                          "overfit-one-batch", "slow-check", "unlisted-plugin"}
    assert all(c.get("classname") == f"nndoctor.{n}" for n, c in cases.items())
    # ND308 makes forward-probe fail; the failure text is the ranked findings, with the fix
    fail = cases["forward-probe"].find("failure")
    assert fail.get("message").startswith("ND308 forward-fails: the forward step raises")
    assert fail.get("type") == "error"
    assert "#1 error ND308" in fail.text and "fix: the fix" in fail.text and "train.py:12" in fail.text
    # below --fail-on error: the warning and the note are in system-out and the testcase passes
    sanity = cases["input-sanity"]
    assert sanity.find("failure") is None and "ND103" in sanity.find("system-out").text
    assert "ND107" in sanity.find("system-out").text
    assert cases["loss-at-init"].find("error").get("type") == "crashed"
    assert "RuntimeError" in cases["loss-at-init"].find("error").get("message")
    assert "ND308" in cases["activations"].find("skipped").get("message")
    # a time-boxed check keeps what it found: a failure; without findings it is skipped
    assert cases["overfit-one-batch"].find("failure").get("message").startswith("ND501")
    assert "time box" in cases["slow-check"].find("skipped").get("message")
    assert cases["unlisted-plugin"].find("failure") is not None
    # --fail-on warning: the warning fails input-sanity, the note stays in system-out
    root = validate_junit(render(mixed_report(), "junit", "warning"))
    sanity = next(c for c in root.iter("testcase") if c.get("name") == "input-sanity")
    assert sanity.find("failure").get("type") == "warning" and "ND107" in sanity.find("system-out").text


def test_junit_healthy_report():
    report = Report([], [CheckResult("forward-probe", "passed", 0.1), CheckResult("input-sanity", "passed", 0.0)],
                    seconds=0.2)
    root = validate_junit(render(report, "junit"))
    assert junit_counts(root) == {"tests": 2, "failures": 0, "errors": 0, "skipped": 0}


def test_junit_from_the_cli_matches_its_json(project, capsys, monkeypatch, tmp_path):  # noqa: F811
    """The whole path: one config, `--format junit --output` and `--format json`, counts compared."""
    path = project("model_kwargs: {features: 5}\n")  # ND308: forward-probe fails, model checks are skipped
    xml_file = tmp_path / "nndoctor.xml"
    for fail_on in ("error", "warning"):
        code, _, _ = cli(capsys, monkeypatch, "run", path, "--format", "junit", "--output", xml_file,
                         "--fail-on", fail_on, "--select", f"{CHEAP},ND2")
        assert code == 1
        code, out, _ = cli(capsys, monkeypatch, "run", path, "--format", "json", "--fail-on", fail_on,
                           "--select", f"{CHEAP},ND2")
        report = json.loads(out)
        root = validate_junit(xml_file.read_text())
        assert junit_counts(root) == expected_from_json(report, fail_on)
        probe = next(c for c in root.iter("testcase") if c.get("name") == "forward-probe")
        assert probe.find("failure").get("message").startswith("ND308")


def test_junit_escapes_markup_and_drops_characters_xml_cannot_hold():
    report = Report([finding("ND103", "input-sanity", "error", title='x < 1 & y > "2" ]]> </failure>'),
                     finding("ND308", "forward-probe", title="\x1b[31mRuntimeError\x1b[0m: bad\x00byte")],
                    [CheckResult("input-sanity", "failed"), CheckResult("forward-probe", "failed")])
    root = validate_junit(render(report, "junit"))
    messages = [f.get("message") for f in root.iter("failure")]
    assert any('x < 1 & y > "2" ]]> </failure>' in m for m in messages)
    assert any("?[31mRuntimeError?[0m: bad?byte" in m for m in messages)


# -- Markdown ------------------------------------------------------------------------------------------------
def test_markdown_table_has_one_row_per_finding():
    report = mixed_report()
    text = render(report, "markdown")
    lines = text.splitlines()
    assert lines[0].startswith("### ❌ nndoctor: 3 error(s), 1 warning(s), 2 note(s)")
    assert "**Root cause:** ND308 forward-fails" in text
    header = lines.index("| # | severity | code | what was measured | where | fix |")
    assert lines[header + 1] == "|---|---|---|---|---|---|"
    rows = []
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    assert len(rows) == len(report.findings)
    for row, f in zip(rows, report.findings):
        cells = re.split(r"(?<!\\)\|", row)[1:-1]  # unescaped pipes only
        assert len(cells) == 6, row
        assert cells[0].strip() == str(f.rank) and cells[1].strip() == f.severity and f.code in cells[2]
    assert "mat1 \\| mat2" in rows[0]  # a pipe in a title does not break the table
    assert "- loss-at-init: crashed: RuntimeError" in text and "- activations: skipped" in text
    assert "checks: forward-probe failed" in lines[-1]


def test_markdown_healthy():
    report = Report([], [CheckResult("forward-probe", "passed", 0.1)], seconds=0.2)
    text = render(report, "markdown")
    assert text.startswith("### ✅ nndoctor: healthy, 1 checks passed") and "| # |" not in text


def test_text_and_json_and_unknown_format():
    report = mixed_report()
    assert json.loads(render(report, "json"))["status"] == "errors"
    text = render(report, "text")
    assert "ND308" in text and "\x1b[" not in text
    with pytest.raises(ValueError, match="unknown format"):
        render(report, "pdf")
    with pytest.raises(ValueError, match="fail_on"):
        render(report, "junit", "warnings")
