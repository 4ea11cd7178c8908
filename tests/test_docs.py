"""The README is the public contract: its tables are held to the code they describe.

The code catalogue against `nndoctor.catalogue.CODES` and the registry, the config keys against
`nndoctor.config.schema`, the exit codes against `nndoctor.report.ExitCode`, the JSON fields against
`Report.to_dict()`, and the layout's module counts against the package tree. A table that drifts from the code
fails here, naming the row.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from nndoctor.catalogue import CODES
from nndoctor.config.schema import KEYS, REQUIRED
from nndoctor.report import SEVERITIES, CheckResult, ExitCode, Finding, Report

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONTRIBUTING = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")


@dataclass
class Table:
    header: list[str]
    rows: list[dict[str, str]]  # header cell -> row cell, as written (backticks kept)

    def column(self, name: str) -> list[str]:
        return [row[name] for row in self.rows]


def section(title: str) -> str:
    """The README's text under `## title`, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README.md has no section '## {title}'"
    return match.group(1)


def cells(line: str) -> list[str]:
    """The cells of one table row; `\\|` inside a cell is a literal bar, not a separator."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def tables(text: str) -> list[Table]:
    """Every Markdown table in `text`, in order."""
    found, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if len(block) >= 2:
            header = cells(block[0])
            found.append(Table(header, [dict(zip(header, cells(row))) for row in block[2:]]))
        block = []
    return found


def table_after(text: str, lead: str) -> Table:
    """The first table after the line that starts with `lead`."""
    start = text.find(lead)
    assert start >= 0, f"README.md: no '{lead}'"
    found = tables(text[start:])
    assert found, f"README.md: no table after '{lead}'"
    return found[0]


def quoted(cell: str) -> list[str]:
    """The `backticked` names in a cell."""
    return re.findall(r"`([^`]+)`", cell)


def plain(cell: str) -> str:
    return cell.replace("`", "")


# -- the code catalogue ------------------------------------------------------------------------------------------
def catalogue_rows() -> list[dict[str, str]]:
    return [row for t in tables(section("What nndoctor catches")) if t.header[:2] == ["code", "name"]
            for row in t.rows]


def test_catalogue_has_one_row_per_code():
    written = Counter(row["code"] for row in catalogue_rows())
    assert [c for c, n in written.items() if n > 1] == [], "codes with more than one row"
    assert sorted(set(CODES) - set(written)) == [], "codes of nndoctor/catalogue/codes.py missing from the README"
    assert sorted(set(written) - set(CODES)) == [], "README rows for codes that do not exist"


def test_catalogue_rows_say_what_the_catalogue_says():
    for row in catalogue_rows():
        code = CODES[row["code"]]
        assert row["name"] == code.name, row["code"]
        assert plain(row["what it means"]) == plain(code.meaning), row["code"]
        assert row["checklist"] == code.source, row["code"]


def emitters(code: str) -> set[str]:
    """Who emits `code`: the registered built-in checks that declare it, or `nndoctor curve` and its analysers."""
    if code.startswith("ND6"):
        from nndoctor.curve import ANALYSERS

        return {"nndoctor curve"} | {a.name for a in ANALYSERS if code in a.codes}
    from nndoctor.engine.registry import all_checks

    return {name for name, cls in all_checks().items()
            if code in cls.codes and cls.__module__.startswith("nndoctor.checks")}


def test_catalogue_check_column_matches_the_registry():
    wrong = {row["code"]: (sorted(quoted(row["check"])), sorted(emitters(row["code"])))
             for row in catalogue_rows() if set(quoted(row["check"])) != emitters(row["code"])}
    assert wrong == {}, "code: (README check column, who declares the code)"


def test_every_code_has_an_emitter():
    assert [c for c in CODES if not emitters(c) - {"nndoctor curve"}] == []


def test_catalogue_examples_exist_and_name_their_code():
    for row in catalogue_rows():
        names = quoted(row["example"])
        assert names, f"{row['code']}: no example"
        for name in names:
            path = ROOT / "examples" / name
            assert path.exists(), f"{row['code']}: examples/{name} does not exist"
            if path.is_dir():
                comments = " ".join(line for line in (path / "config.yaml").read_text().splitlines()
                                    if line.startswith("#"))
                assert row["code"] in comments, f"examples/{name}/config.yaml's comments do not name {row['code']}"


def test_curve_section_names_each_curve_code_once_with_its_analyser():
    from nndoctor.curve import ANALYSERS

    table = next(t for t in tables(section("Triage from a training log: `nndoctor curve`"))
                 if t.header[:2] == ["code", "analyser"])
    assert sorted(table.column("code")) == sorted(c for c in CODES if c.startswith("ND6"))
    for row in table.rows:
        assert {plain(row["analyser"])} == {a.name for a in ANALYSERS if row["code"] in a.codes}, row["code"]


# -- the config keys ----------------------------------------------------------------------------------------------
def test_config_table_has_every_key_once():
    table = table_after(section("The config"), "Every key")
    keys = [plain(k) for k in table.column("key")]
    assert [k for k, n in Counter(keys).items() if n > 1] == []
    assert sorted(keys) == sorted(KEYS)


def test_config_table_says_which_keys_are_required():
    table = table_after(section("The config"), "Every key")
    said = {plain(row["key"]): row["required"].split()[0] for row in table.rows}
    assert {k for k, v in said.items() if v == "yes"} == set(REQUIRED)
    assert {v for k, v in said.items() if k not in REQUIRED} == {"no"}


# -- the exit codes -------------------------------------------------------------------------------------------------
def test_exit_code_table_matches_the_enum():
    table = tables(section("Exit codes"))[0]
    written = {int(row["code"]): plain(row["`nndoctor.ExitCode`"]) for row in table.rows}
    assert len(written) == len(table.rows), "an exit code with two rows"
    assert written == {e.value: e.name for e in ExitCode}


# -- the report -----------------------------------------------------------------------------------------------------
def tiny_report(findings=(), checks=None) -> Report:
    checks = checks if checks is not None else [CheckResult("loss-inputs", "passed", 0.1)]
    return Report(findings=list(findings), checks=checks, config="config.yaml")


def finding(severity: str = "") -> Finding:
    return Finding(code="ND202", title="CrossEntropyLoss gets probabilities", evidence={"min": 0.0}, fix="...",
                   severity=severity, where="10 (Softmax)", check="loss-inputs")


def documented(lead: str) -> list[str]:
    return [plain(f) for f in table_after(section("The report"), lead).column("field")]


def test_json_fields_are_those_documented():
    check = CheckResult("loss-inputs", "crashed", 0.1, detail="ValueError: ...", step_equivalents=2.0)
    data = tiny_report([finding()], [check]).to_dict()
    assert sorted(documented("`--format json` prints")) == sorted(data)
    assert sorted(documented("Each finding:")) == sorted(data["findings"][0])
    assert sorted(documented("Each check entry:")) == sorted(data["checks"][0])


def test_severities_table_matches_the_model():
    written = [plain(s) for s in table_after(section("The report"), "The severities:").column("severity")]
    assert sorted(written) == sorted(SEVERITIES)


@pytest.mark.parametrize("severity, expected", [(None, "healthy"), ("info", "healthy"), ("warning", "warnings"),
                                                ("error", "errors")])
def test_status_of_a_report_is_documented_and_as_described(severity, expected):
    report = tiny_report([finding(severity)] if severity else [])
    assert report.status == expected
    assert report.status in [plain(s) for s in table_after(section("The report"), "The statuses:").column("status")]


def test_status_with_an_unfinished_check_is_a_documented_one():
    report = tiny_report([], [CheckResult("loss-inputs", "crashed", 0.1, detail="ValueError: ...")])
    assert report.status in [plain(s) for s in table_after(section("The report"), "The statuses:").column("status")]


# -- the layout and the references ------------------------------------------------------------------------------------
def test_layout_module_counts_match_the_tree():
    counts = re.findall(r"- `([\w/]+/)` \((\d+) modules", section("Development"))
    assert {"nndoctor/", "checks/", "nndoctor/probes/"} <= {folder for folder, _ in counts}
    for folder, n in counts:
        modules = [p for p in (ROOT / folder).glob("*.py") if p.name != "__init__.py"]
        assert len(modules) == int(n), f"README says {folder} holds {n} modules; it holds {len(modules)}"
    packages = {f"{p.parent.relative_to(ROOT)}/" for p in (ROOT / "nndoctor").glob("*/__init__.py")}
    assert packages <= {folder for folder, _ in counts}, "a package of nndoctor/ missing from the layout"


def test_contributing_lists_every_probe():
    probes = sorted(p.stem for p in (ROOT / "nndoctor" / "probes").glob("*.py") if p.name != "__init__.py")
    listed = re.findall(r"^- `(\w+)`:", CONTRIBUTING.split("## The probes", 1)[1].split("\n## ", 1)[0], re.M)
    assert sorted(listed) == probes


@pytest.mark.parametrize("name, text", [("README.md", README), ("CONTRIBUTING.md", CONTRIBUTING)])
def test_docs_refer_only_to_what_ships(name, text):
    """Users get the project, not the repository it was planned in: no `../` paths out of it."""
    assert re.findall(r"\.\./shared|shared/spec", text) == [], name
