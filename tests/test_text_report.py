"""The text report reads well where it is read most: an 80-column terminal and a CI log (stdout piped).

At 80, 120 and 200 columns and through a pipe: no line is wider than the console (except a single token longer
than the line, a path, which is never cut), no word, number or path is broken across lines, and the report of
the all-zeros example stays short (it was 114 lines at 80 columns with the old table layout).
"""
from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from conftest import EXAMPLES, run_example
from rich.cells import cell_len
from rich.console import Console

from nndoctor.report.text import print_text

EXAMPLE_NAMES = ("all_zeros", "flatten_size_mismatch", "double_softmax", "healthy")
MAX_LINES_AT_80 = {"all_zeros": 60, "flatten_size_mismatch": 40, "double_softmax": 45, "healthy": 20}


@pytest.fixture(scope="module")
def reports():
    return {name: run_example(os.path.join(EXAMPLES, name, "config.yaml")) for name in EXAMPLE_NAMES}


def render(report, width: int, verbose: bool = False) -> str:
    buf = io.StringIO()
    print_text(report, Console(file=buf, width=width, no_color=True, force_terminal=False), verbose=verbose)
    return buf.getvalue()


def assert_fits(text: str, width: int) -> None:
    for line in text.splitlines():
        if cell_len(line) > width:
            # Only a token that cannot be broken may overflow, alone on its line after the indent/label.
            words = line.split()
            assert len(words) <= 2 and cell_len(words[-1]) > width - 20, f"line over {width}: {line!r}"


def assert_tokens_whole(report, text: str) -> None:
    """Every word of each finding's title, where and fix appears whole among the output's words."""
    out_words = set(text.split())
    for f in report.findings:
        for field in (f.title, f.where or "", f.fix):
            for word in field.split():
                assert word in out_words, f"{word!r} of {f.code} was broken or lost"


@pytest.mark.parametrize("width", [80, 120, 200])
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_fits_the_width_and_breaks_no_token(reports, name, width):
    text = render(reports[name], width)
    assert_fits(text, width)
    assert_tokens_whole(reports[name], text)
    lines = text.splitlines()
    assert lines[0].startswith(("✗", "✓")), lines[0]  # the verdict first
    if width == 80:
        assert len(lines) <= MAX_LINES_AT_80[name], f"{name}: {len(lines)} lines"


def test_root_cause_is_the_first_finding_block(reports):
    report = reports["all_zeros"]
    lines = render(report, 80).splitlines()
    head = report.findings[0]
    assert f"root cause: {head.code}" in lines[0]
    block = next(i for i, line in enumerate(lines) if line.startswith("#1 "))
    assert lines[block] == f"#1 {head.severity} {head.code} {head.name}"


def test_verbose_shows_every_evidence_number(reports):
    report = reports["all_zeros"]
    f = max(report.findings, key=lambda f: len(f.evidence))
    short, full = render(report, 120), render(report, 120, verbose=True)
    assert len(f.evidence) > 6
    assert all(f"{k}=" in full for k in f.evidence) and not all(f"{k}=" in short for k in f.evidence)


def test_piped_stdout_is_80_columns_and_plain(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["NO_COLOR"] = "1"
    p = subprocess.run([sys.executable, "-m", "nndoctor", "run", os.path.join(EXAMPLES, "all_zeros", "config.yaml"),
                        "--device", "cpu"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 1
    assert "\x1b[" not in p.stdout  # no colour codes in a log
    assert_fits(p.stdout, 80)
    assert len(p.stdout.splitlines()) <= MAX_LINES_AT_80["all_zeros"]
