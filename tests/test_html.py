"""The html format: one self-contained, well-formed page per run, with a chart for each finding that has plot data.

Every bundled example (quick profile) and every example log goes through it. The browser test needs `chromium`
(or `chromium-browser`) on PATH (Debian: `apt-get install -y chromium`) and is skipped without it; it loads every
report at two widths in one headless browser and reads back, from the DOM, whether anything is wider than the
page and whether the page loaded anything. Run: `.venv/bin/python -m pytest -q tests/test_html.py`.
"""
from __future__ import annotations

import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
import torch
from torch import nn

from conftest import EXAMPLES, make_classification
from nndoctor.api import diagnose, run_config
from nndoctor.curve import diagnose_file
from nndoctor.report import CheckResult, Finding, Report
from nndoctor.report.html import collect_charts, evidence_charts
from nndoctor.report.router import render

SIZE_BUDGET = 100_000  # bytes of one report for a typical run
CONFIGS = sorted(glob.glob(os.path.join(EXAMPLES, "*", "config.yaml")))
LOGS = sorted(glob.glob(os.path.join(EXAMPLES, "curves", "*.csv")) + glob.glob(os.path.join(EXAMPLES, "curves",
                                                                                             "*.jsonl")))
NAMES = [os.path.basename(os.path.dirname(p)) for p in CONFIGS] + ["curve:" + os.path.basename(p) for p in LOGS]
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source", "track", "embed"}


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    """Every example run (quick profile, on the CPU) and every example log, by name."""
    out = {}
    for path in CONFIGS:
        out[os.path.basename(os.path.dirname(path))] = run_config(path, device="cpu", quick=True)
    for path in LOGS:
        out["curve:" + os.path.basename(path)] = diagnose_file(path)[1]
    return out


@pytest.fixture(scope="module")
def pages(reports) -> dict[str, str]:
    return {name: render(r, "html") for name, r in reports.items()}


class StrictParser(HTMLParser):
    """html.parser with the errors it tolerates made fatal: every element closed, in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass  # <meta/>, <rect/>: opened and closed at once

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'} at {self.getpos()}")
        else:
            self.stack.pop()


def strict_parse(page: str) -> list[str]:
    parser = StrictParser()
    parser.feed(page)
    parser.close()
    return parser.problems + [f"<{t}> never closed" for t in parser.stack]


def elements(page: str) -> ET.Element:
    return ET.fromstring(page)


def by_id(root: ET.Element) -> dict[str, ET.Element]:
    return {el.get("id"): el for el in root.iter() if el.get("id")}


# -- every example ----------------------------------------------------------------------------------------------
def test_every_example_is_covered(pages):
    assert len(CONFIGS) >= 40 and len(LOGS) >= 12 and set(pages) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_page_is_well_formed_xml_and_html(pages, name):
    page = pages[name]
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    root = elements(page)  # XHTML-compatible: an XML parser reads it
    assert root.tag == "html" and root.find("head/meta").get("charset") == "utf-8"
    assert strict_parse(page) == []
    ids = [el.get("id") for el in root.iter() if el.get("id")]
    assert len(ids) == len(set(ids)), "ids are unique"
    targets = {a.get("href")[1:] for a in root.iter("a") if (a.get("href") or "").startswith("#")}
    assert targets <= set(ids), f"links to missing anchors: {targets - set(ids)}"


@pytest.mark.parametrize("name", NAMES)
def test_page_is_self_contained(pages, name):
    page = pages[name]
    assert "http:" not in page and "https:" not in page
    assert "<script" not in page and "<link" not in page and "<img" not in page and "@import" not in page
    assert re.findall(r"url\((?!#)", page) == []  # only the chart's own patterns (url(#chart-1-p0))
    root = elements(page)
    for el in root.iter():
        for attr in ("src", "href", "xlink:href", "action", "data"):
            value = el.get(attr)
            assert value is None or value.startswith("#"), f"<{el.tag} {attr}={value!r}>"


def test_pages_stay_under_the_size_budget(pages):
    sizes = sorted((len(page.encode("utf-8")), name) for name, page in pages.items())
    largest, name = sizes[-1]
    print(f"largest html report: {name}, {largest} bytes; smallest {sizes[0][1]}, {sizes[0][0]} bytes")
    assert largest < SIZE_BUDGET, f"{name}: {largest} bytes"


@pytest.mark.parametrize("name", NAMES)
def test_each_finding_with_plot_data_links_to_its_chart(reports, pages, name):
    report, root = reports[name], elements(pages[name])
    ids = by_id(root)
    charts = collect_charts(report)
    assert sum(1 for el in root.iter("figure")) == len(charts)
    for f in report.findings:
        item = ids[f"finding-{f.rank}"]
        assert f.code in "".join(item.find("h3").itertext())
        linked = [a.get("href")[1:] for a in item.iter("a") if a.get("href", "").startswith("#chart-")]
        expected = [ch.anchor for ch in evidence_charts(f, charts)]
        assert linked == expected
        own = [ch for ch in charts if ch.check == f.check]
        # A check whose charts name the codes they show (gradient-flow's ND401-ND403 have none) links only those.
        if own and (not any("codes" in ch.plot for ch in own) or any(f.code in ch.plot.get("codes", [])
                                                                     for ch in own)):
            assert linked, f"{f.code} of {f.check} links to no chart"
        for anchor in linked:
            assert ids[anchor].tag == "figure" and ids[anchor].find("svg") is not None


@pytest.mark.parametrize("name", NAMES)
def test_every_chart_has_a_text_alternative(pages, name):
    root = elements(pages[name])
    for fig in root.iter("figure"):
        svg = fig.find("svg")
        assert svg.get("role") == "img" and svg.get("aria-label")
        assert svg.get("viewBox") and svg.get("width") is None  # scales with the page, no fixed width
        labelled = svg.get("aria-labelledby").split()
        assert [svg.find("title").get("id"), svg.find("desc").get("id")] == labelled
        assert "".join(svg.find("desc").itertext()).strip()
        table = fig.find("details/div/table")
        assert table is not None and len(table.findall("tbody/tr")) >= 1


def test_verdict_checks_and_configuration_are_shown(reports, pages):
    report, root = reports["tiny_init_deep_mlp"], elements(pages["tiny_init_deep_mlp"])
    heading = "".join(root.find(".//h1").itertext())
    assert report.title in heading and report.status in heading
    text = "".join(root.itertext())
    head = report.findings[0]
    assert f"Root cause: {head.code} {head.name}" in text
    assert report.config in text and "What was configured" in text
    rows = {tr.find("td").text: [td.text for td in tr.findall("td")] for tr in root.iter("tr") if tr.find("td")
            is not None and tr.find("td").text in {c.name for c in report.checks}}
    for c in report.checks:
        assert rows[c.name][1] == c.status and rows[c.name][2] == f"{c.seconds:.2f}"
        assert rows[c.name][3] == f"{c.step_equivalents:.1f}"


# -- the charts the checks emit -----------------------------------------------------------------------------------
def chart_titles(report: Report, check: str) -> list[str]:
    return [p["title"] for c in report.checks if c.name == check for p in c.plots]


def test_gradient_flow_charts_carry_the_bands_of_its_options():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
    report = diagnose(model, make_classification(), nn.CrossEntropyLoss(), device="cpu", select=["gradient-flow"],
                      options={"gradient-flow": {"exploding_ratio": 7.0, "vanishing_ratio": 0.01,
                                                 "update_high": 0.5, "update_low": 1e-5}}, quick=True)
    plots = {p["title"].split(" per layer")[0]: p for c in report.checks for p in c.plots}
    grads = plots["gradient norm / weight norm"]
    assert grads["kind"] == "bars" and grads["labels"] == ["0.weight", "2.weight", "4.weight"]
    bands = {b["label"].split(":")[0]: b for b in grads["bands"]}
    assert bands["exploding"]["low"] == 7.0 and bands["exploding"]["high"] is None
    assert bands["vanishing"]["high"] == pytest.approx(grads["values"][-1] * 0.01)
    update = plots["update / weight norm"]
    assert update["kind"] == "layers" and update["labels"] == grads["labels"] and set(update["codes"]) == {"ND407",
                                                                                                           "ND408"}
    assert [b["low"] for b in update["bands"]] == [0.5, None] and [b["high"] for b in update["bands"]] == [None, 1e-5]
    assert update["lines"] == [{"label": "about 0.001 is healthy", "value": 1e-3}]
    assert all(math.isfinite(v) and v > 0 for v in update["values"])
    page = render(report, "html")
    assert page.count('class="band"') == 4  # two bands on each chart, hatched
    assert "band 1 (hatch): exploding: 7x the weight norm or more" in page


def test_the_judged_finding_links_to_the_chart_of_its_evidence(reports, pages):
    report = reports["lr_too_high"]
    nd407 = next(f for f in report.findings if f.code == "ND407")
    (chart,) = evidence_charts(nd407, collect_charts(report))
    assert chart.plot["title"].startswith("update / weight norm") and chart.check == "gradient-flow"
    dead = reports["dead_relu"]
    nd303 = next(f for f in dead.findings if f.code == "ND303")
    (chart,) = evidence_charts(nd303, collect_charts(dead))
    assert chart.plot["title"].startswith("share of ReLU units that never fire")
    assert max(chart.plot["values"]) == pytest.approx(nd303.evidence["dead_share"], abs=1e-6)
    assert f'href="#{chart.anchor}"' in pages["dead_relu"]


@pytest.mark.parametrize("example,code,chart", [
    ("dead_relu", "ND303", "share of ReLU units that never fire"),
    ("saturated_tanh", "ND304", "share of sigmoid/tanh outputs"),
    ("tiny_init_deep_mlp", "ND305", "activation std per weight layer"),
    ("log_of_zero_nan", "ND306", "share of NaN/Inf in each module's output from compress (LogCompress)"),
    ("deep_tanh_default_init", "ND404", "gradient norm / weight norm per layer"),
    ("tiny_init_deep_mlp", "ND407", "update / weight norm per layer after one optimizer step"),
    ("deep_tanh_default_init", "ND501", "overfit one batch"),
])
def test_the_bundled_bugs_link_to_their_charts(reports, pages, example, code, chart):
    root = elements(pages[example])
    f = next(f for f in reports[example].findings if f.code == code)
    ids = by_id(root)
    (first, *_) = [a for a in ids[f"finding-{f.rank}"].iter("a") if a.get("href", "").startswith("#chart-")]
    figure = ids[first.get("href")[1:]]
    assert "".join(figure.find("figcaption").itertext()).startswith(chart)


def test_activations_emit_mean_std_and_dead_and_saturated_shares(reports):
    titles = chart_titles(reports["tiny_init_deep_mlp"], "activations")
    assert any(t.startswith("activation std per weight layer") for t in titles)
    assert any(t.startswith("activation mean per weight layer") for t in titles)
    assert any(t.startswith("share of ReLU units") for t in titles)
    assert any(t.startswith("share of sigmoid/tanh outputs") for t in chart_titles(reports["saturated_tanh"],
                                                                                     "activations"))
    std = next(p for c in reports["tiny_init_deep_mlp"].checks for p in c.plots if p["title"].startswith(
        "activation std"))
    nd305 = next(f for f in reports["tiny_init_deep_mlp"].findings if f.code == "ND305")
    for layer, value in nd305.evidence["std_by_layer"].items():  # the chart shows what the finding judged
        assert std["values"][std["labels"].index(layer)] == pytest.approx(value, rel=1e-4)


def test_nan_tracing_draws_the_path_from_the_first_non_finite_module(reports):
    report = reports["log_of_zero_nan"]
    nd306 = next(f for f in report.findings if f.code == "ND306")
    (plot,) = [p for c in report.checks if c.name == "nan-tracing" for p in c.plots]
    assert plot["labels"][0] == nd306.where and plot["values"][0] == pytest.approx(
        nd306.evidence["non_finite"] / nd306.evidence["values"])
    assert plot["labels"][-1].endswith(")") and len(plot["labels"]) >= 2  # ... up to the model's output
    assert all(0 <= v <= 1 for v in plot["values"])


def test_added_charts_are_not_in_the_json(reports):
    report = reports["lr_too_high"]
    assert any(p["kind"] == "layers" for c in report.checks for p in c.plots)
    assert "plots" not in json.dumps(report.to_dict()) and "bands" not in json.dumps(report.to_dict())


# -- curves ------------------------------------------------------------------------------------------------------
def curve_report(x=None) -> Report:
    plot = {"kind": "curve", "title": "validation loss", "values": [1.0, 0.6, 0.4, 0.45, float("nan"), 0.7],
            "target": None, "points": "steps"}
    if x is not None:
        plot["x"] = x
    f = Finding("ND607", "the validation loss rises from step 200", {"gap_opens_step": 200, "best_val": 0.4},
                "stop early", check="curve-generalisation")
    return Report([f], [CheckResult("curve-generalisation", "failed", 0.1, plots=[plot])], title="nndoctor curve")


def test_a_curve_marks_the_step_where_its_finding_begins():
    page = render(curve_report(x=[0, 500]), "html")
    root = elements(page)
    (line,) = [el for el in root.iter("line") if el.get("class") == "markline"]
    assert float(line.get("x1")) == pytest.approx(60 + 200 / 500 * (520 - 60 - 16), abs=0.2)
    assert "ND607 at step 200" in page and "ND607 begins at step 200</li>" in page
    assert "×" in page and "1 NaN/Inf" in page  # the NaN is drawn and told


def test_a_curve_without_steps_tells_the_step_in_words():
    page = render(curve_report(), "html")
    assert 'class="markline"' not in page
    assert "ND607 begins at step 200 (not marked: the chart&#x27;s points are not tied to steps)" in page


@pytest.mark.parametrize("log,code", [("overfitting.csv", "ND607"), ("nan.jsonl", "ND602"),
                                      ("late_start.csv", "ND604"), ("lr_decayed_early.csv", "ND610")])
def test_curve_findings_link_to_the_series_they_judge(reports, log, code):
    report = reports["curve:" + log]
    f = next(f for f in report.findings if f.code == code)
    charts = evidence_charts(f, collect_charts(report))
    assert len(charts) == 1 and charts[0].kind == "curve"
    assert f"{code} begins at step" in render(report, "html")


# -- escaping ------------------------------------------------------------------------------------------------------
NASTY = "<script>alert('x')</script> & \"q\" \x1b[31mred\x00"


def test_everything_from_the_user_is_escaped():
    f = Finding("ND306", NASTY, {NASTY: NASTY, "list": [NASTY]}, NASTY, where=NASTY, check="nan-tracing")
    plot = {"kind": "layers", "title": NASTY, "labels": [NASTY], "values": [0.5], "unit": NASTY, "log": False,
            "bands": [{"label": NASTY, "low": 0.1, "high": None}], "codes": ["ND306"]}
    checks = [CheckResult("nan-tracing", "failed", 0.1, plots=[plot]),
              CheckResult("gradient-flow", "crashed", 0.2, detail="ZeroDivisionError: " + NASTY)]
    page = render(Report([f], checks, config="/tmp/<dir>/c&g.yaml", title=NASTY), "html")
    assert "<script" not in page and "\x1b" not in page and "\x00" not in page
    root = elements(page)
    assert strict_parse(page) == []
    text = "".join(root.itertext())
    shown = NASTY.replace("\x1b", "?").replace("\x00", "?")
    assert shown in root.find("head/title").text and "/tmp/<dir>/c&g.yaml" in text
    assert "ZeroDivisionError: " + shown in text
    assert root.find(".//figure/svg").get("aria-label").startswith(shown)


def test_odd_plot_data_does_not_break_the_page():
    plots = [{"kind": "curve", "title": "one point", "values": [2.0], "target": 1.0},
             {"kind": "curve", "title": "all nan", "values": [float("nan")] * 3, "target": None},
             {"kind": "bars", "title": "zeros and inf", "labels": ["a", "b", "c"], "values": [0.0, float("inf"), 3.0],
              "unit": ""},
             {"kind": "layers", "title": "signed", "labels": ["a", "b"], "values": [-2.0, 1.0], "log": False},
             {"kind": "heatmap", "title": "unknown kind", "values": [1]}, {"kind": "bars", "values": []}]
    page = render(Report([], [CheckResult("plugin", "passed", 0.1, plots=plots)]), "html")
    root = elements(page)
    assert strict_parse(page) == [] and len(list(root.iter("figure"))) == 4
    assert "(not on the log axis)" in page and ">Inf<" in page


# -- the command line --------------------------------------------------------------------------------------------
def test_the_command_line_writes_one_html_file(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "nndoctor")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "nndoctor"]
    env = {**os.environ, "NO_COLOR": "1"}
    out = tmp_path / "report.html"
    proc = subprocess.run(cmd + ["curve", os.path.join(EXAMPLES, "curves", "overfitting.csv"), "--format", "html",
                                 "--output", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr  # ND607 is a warning: below --fail-on error
    assert "ND607" in proc.stdout and f"report written to {out}" in proc.stderr  # the terminal shows the text
    page = out.read_text(encoding="utf-8")
    assert elements(page).tag == "html" and "ND607" in page


# -- in a browser ----------------------------------------------------------------------------------------------
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
PROBE = """<script>
window.addEventListener('load', function () {
  var out = [];
  document.querySelectorAll('iframe').forEach(function (f) {
    var d = f.contentDocument, w = f.contentWindow;
    out.push({name: f.dataset.name, width: f.clientWidth, scroll: d.documentElement.scrollWidth,
              inner: w.innerWidth, resources: w.performance.getEntriesByType('resource').length,
              figures: d.querySelectorAll('figure svg').length});
  });
  var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def harness(pages: dict[str, str], width: int) -> str:
    """One page holding every report in an iframe `width` pixels wide (same origin: srcdoc), and the probe: the
    check is added to this copy only; the reports hold no script."""
    def attribute(text: str) -> str:
        return text.replace("&", "&amp;").replace('"', "&quot;")

    frames = "".join(f'<iframe data-name="{name}" width="{width}" height="600" srcdoc="{attribute(page)}"></iframe>'
                     for name, page in pages.items())
    return f"<!DOCTYPE html><html><body style=\"margin:0\">{frames}{PROBE}</body></html>"


@pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH (Debian: apt-get install -y chromium)")
@pytest.mark.parametrize("width", [360, 800])
def test_in_a_browser_nothing_is_wider_than_the_page(pages, tmp_path, width):
    path = tmp_path / f"all-{width}.html"
    path.write_text(harness(pages, width), encoding="utf-8")
    proc = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,1200",
                           "--enable-logging=stderr", "--v=0", "--dump-dom", path.as_uri()],
                          capture_output=True, text=True, timeout=240)
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    results = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert {r["name"] for r in results} == set(pages)
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    for r in results:
        assert r["inner"] == width and r["scroll"] <= r["inner"], r
        assert r["resources"] == 0, r  # nothing was fetched
    assert sum(r["figures"] for r in results) == sum(page.count("<figure ") for page in pages.values())
