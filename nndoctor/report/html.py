"""The html format: one self-contained file (`--format html --output report.html`) to read in a browser or attach
to a CI run.

No script, no font, no stylesheet or image from anywhere: the CSS is inline and every chart is inline SVG drawn
here from the checks' plot data (`CheckResult.plots`), so the file opens offline and stays a few tens of kilobytes.
It reads: the verdict (status, counts, root cause), the ranked findings (each linking to the chart that is its
evidence), the charts of each check, the checks (status, seconds, step-equivalents) and what was configured.

Accessible basics: every chart has a `<title>`, a `<desc>` and an `aria-label`, and its numbers in a table under
`<details>`; bands are hatched and labelled and severities are words, so nothing is told by colour alone; charts
scale with their `viewBox` (no width beyond the page). The markup is well-formed XML (XHTML-compatible HTML5), and
everything that comes from the user (titles, paths, module names, exception text) is escaped.

Plot kinds read here (see `nndoctor.common.diagnostic.Diagnostic`): "curve" (values per step, an optional
`target`; an optional `x` = [first step, last step] lets a finding's step be marked on it), "bars" and "layers"
(one value per label; `log`, `bands`, `lines`, `codes` optional). A finding links to the charts of its own check
that name its code in `codes`, or to all charts of its check when none of them names codes.
"""
from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._version import __version__
from .model import SCHEMA_VERSION

if TYPE_CHECKING:
    from .model import Finding, Report

XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0, even escaped
KINDS = ("curve", "bars", "layers")
STATUS_MARK = {"healthy": "✓", "warnings": "!", "errors": "✗", "incomplete": "✗"}
SEVERITY_MARK = {"error": "✗", "warning": "!", "info": "i"}
# Curve analysers that judge the series another analyser draws: their findings link to that one's chart.
EVIDENCE_OF = {"curve-late-start": "curve-trend", "curve-oscillation": "curve-trend",
               "curve-periodicity": "curve-trend", "curve-finite": "curve-trend"}
# Evidence keys that hold the step where a finding begins, the most telling first.
BEGINS_AT = ("first_step", "gap_opens_step", "decay_starts_step", "near_zero_step", "plateau_ends_step",
             "best_step")
PATTERNS = ("hatch", "dots", "cross")  # the fills of a chart's bands, in turn: told apart without colour
LABEL_CHARS = 72  # a bar's label is shortened (from the left: the leaf name is kept) beyond this
EVIDENCE_CHARS = 400  # a list or dict in the evidence is shortened beyond this

CSS = """
:root{color-scheme:light dark;--fg:#1b1b1f;--bg:#fff;--muted:#5b5b66;--line:#c9c9d1;--card:#f6f6f8;
--error:#b3261e;--warning:#8a5a00;--info:#1d5fa8;--ok:#1e6b34;--bar:#4a5f8c;--band:#b3261e;--mark:#6b2fa0}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6ea;--bg:#141418;--muted:#a5a5b0;--line:#44444c;
--card:#1f1f25;--error:#ff8a80;--warning:#ffcc66;--info:#8ab4f8;--ok:#7fd69a;--bar:#9fb4e6;--band:#ff8a80;
--mark:#d0a0ff}}
*{box-sizing:border-box}
body{margin:0 auto;padding:1rem;max-width:62rem;font:15px/1.45 system-ui,sans-serif;color:var(--fg);
background:var(--bg);overflow-wrap:break-word}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:0 0 .3rem}h4{font-size:1rem;margin:0 0 .3rem}
code{font-family:ui-monospace,monospace;font-size:.92em;overflow-wrap:anywhere}
a{color:var(--info)}
.status{font-weight:700}.s-healthy{color:var(--ok)}.s-warnings{color:var(--warning)}
.s-errors,.s-incomplete{color:var(--error)}
.sev{display:inline-block;font-weight:700;border:1px solid currentColor;border-radius:.3rem;padding:0 .35rem}
.sev-error{color:var(--error)}.sev-warning{color:var(--warning)}.sev-info{color:var(--info)}
.finding{background:var(--card);border-left:.35rem solid var(--line);border-radius:.3rem;padding:.6rem .8rem;
margin:.6rem 0;list-style:none}
.finding.error{border-left-color:var(--error)}.finding.warning{border-left-color:var(--warning)}
.finding.info{border-left-color:var(--info)}
ol.findings{padding:0}
dl{margin:.3rem 0;display:grid;grid-template-columns:minmax(5rem,max-content) minmax(0,1fr);gap:.15rem .8rem}
dt{color:var(--muted)}dd{margin:0;min-width:0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.9rem}
th,td{border:1px solid var(--line);padding:.15rem .45rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
td.n{text-align:right;font-variant-numeric:tabular-nums}
table.evidence{width:100%}table.evidence th{width:35%;font-weight:600}
@media (max-width:36rem){dl{display:block}dd{margin:0 0 .4rem}}
figure{margin:1rem 0;padding:.5rem;border:1px solid var(--line);border-radius:.3rem}
figcaption{font-weight:600;margin-bottom:.3rem}
svg.chart{display:block;width:100%;max-width:44rem;height:auto}
svg text{fill:var(--fg);font:12px system-ui,sans-serif}svg .small{font-size:11px}svg .muted{fill:var(--muted)}
svg .axis{stroke:var(--muted);stroke-width:1}svg .grid{stroke:var(--line);stroke-width:1}
svg .bar{fill:var(--bar)}svg .curve{fill:none;stroke:var(--bar);stroke-width:2}
svg .dot{fill:var(--bar)}svg .target{stroke:var(--ok);stroke-width:1.5;stroke-dasharray:6 4}
svg .refline{stroke:var(--ok);stroke-width:1.5;stroke-dasharray:6 4}
svg .markline{stroke:var(--mark);stroke-width:1.5;stroke-dasharray:2 3}svg .marktext{fill:var(--mark)}
svg .band{stroke:var(--band);stroke-width:.8}svg .hatch{stroke:var(--band);stroke-width:1.2}
svg .bandfill{fill:var(--band)}svg .nan{fill:var(--error);font-weight:700}
ul.legend,ul.marks{margin:.3rem 0;padding-left:1.2rem;font-size:.9rem}
details{margin-top:.3rem}summary{cursor:pointer;color:var(--muted)}
.muted{color:var(--muted)}
"""


# -- text ------------------------------------------------------------------------------------------------------
def esc(text) -> str:
    """Text or an attribute value, escaped for HTML and XML alike; characters XML cannot hold become '?'."""
    return XML_INVALID.sub("?", html.escape("" if text is None else str(text), quote=True))


def num(v) -> str:
    """A number as people read it: 4 significant digits, NaN and Inf spelt out."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    return f"{v:.4g}"


def evidence_value(v) -> str:
    """One evidence value as text: numbers formatted, lists and dicts as short JSON."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return num(v)
    if isinstance(v, (list, dict)):
        text = json.dumps(v, ensure_ascii=False)
        return text if len(text) <= EVIDENCE_CHARS else text[:EVIDENCE_CHARS] + " …"
    return "" if v is None else str(v)


def short_label(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else "…" + label[-(LABEL_CHARS - 1):]


def finite(values) -> list[float]:
    return [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


# -- charts and what links to them ------------------------------------------------------------------------------
@dataclass
class Chart:
    """One plot of one check, with its anchor (`chart-N`) in the page."""

    anchor: str
    check: str
    plot: dict
    marks: list[tuple[float, str]] = field(default_factory=list)  # (step, code) of findings that begin there

    @property
    def kind(self) -> str:
        return self.plot.get("kind", "")

    @property
    def title(self) -> str:
        return str(self.plot.get("title") or self.kind)


def collect_charts(report: Report) -> list[Chart]:
    """The plots of every check that can be drawn: a known kind with at least one value."""
    charts = []
    for c in report.checks:
        for plot in c.plots:
            if isinstance(plot, dict) and plot.get("kind") in KINDS and plot.get("values"):
                charts.append(Chart(f"chart-{len(charts) + 1}", c.name, plot))
    return charts


def evidence_charts(f: Finding, charts: list[Chart]) -> list[Chart]:
    """The charts that are the evidence of finding `f` (see the module docstring for the rule)."""
    check = f.check if any(ch.check == f.check for ch in charts) else EVIDENCE_OF.get(f.check, f.check)
    own = [ch for ch in charts if ch.check == check]
    if any("codes" in ch.plot for ch in own):
        return [ch for ch in own if f.code in ch.plot.get("codes", ())]
    return own


def begins_at(f: Finding) -> tuple[str, float] | None:
    """(evidence key, step) where the finding begins, when its evidence says."""
    for key in BEGINS_AT:
        v = f.evidence.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return key, float(v)
    return None


# -- axes ------------------------------------------------------------------------------------------------------
@dataclass
class Axis:
    """Values to pixels between `start` and `end`: log10 when `log` (then `lo`, `hi` are decades)."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False

    def pos(self, v: float) -> float:
        t = math.log10(v) if self.log else v
        t = min(max(t, self.lo), self.hi)
        return self.start + (t - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            decades = list(range(math.ceil(self.lo), math.floor(self.hi) + 1))
            every = max(1, math.ceil(len(decades) / 8))
            return [10.0 ** d for d in decades[::every]]
        step = nice_step((self.hi - self.lo) / 5)
        first = math.ceil(self.lo / step) * step
        return [round(first + i * step, 12) for i in range(int((self.hi - first) / step + 1e-9) + 1)]


def nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least `raw`."""
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def value_axis(values: list[float], log: bool, start: float, end: float, from_zero: bool = True) -> Axis:
    """An axis holding `values` (and the band limits and lines given with them): decades on a log axis; on a
    linear one, zero included when `from_zero` (bars), else the values' range with a margin (curves)."""
    vals = finite(values)
    if log:
        positive = [v for v in vals if v > 0] or [1.0]
        lo, hi = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
        return Axis(lo, hi if hi > lo else lo + 1, start, end, log=True)
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if from_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    elif hi > lo:
        pad = (hi - lo) * 0.05
        lo, hi = lo - pad, hi + pad
    if hi <= lo:  # one value: a tenth of it either way
        pad = abs(lo) * 0.1 or 0.5
        lo, hi = lo - pad, hi + pad
    return Axis(lo, hi, start, end)


def fmt_xy(x: float, y: float) -> str:
    return f"{x:.1f},{y:.1f}"


# -- SVG pieces ------------------------------------------------------------------------------------------------
def svg_open(chart: Chart, width: int, height: int, summary: str) -> list[str]:
    """The <svg> element with its title, description and aria-label, and the band patterns of this chart."""
    a = chart.anchor
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{a}-t {a}-d" '
           f'aria-label="{esc(chart.title + ": " + summary)}">',
           f'<title id="{a}-t">{esc(chart.title)}</title>', f'<desc id="{a}-d">{esc(summary)}</desc>', "<defs>"]
    for i, kind in enumerate(PATTERNS):
        pid = f"{a}-p{i}"
        if kind == "hatch":
            body = '<path class="hatch" d="M0,8 L8,0 M-2,2 L2,-2 M6,10 L10,6"/>'
        elif kind == "dots":
            body = '<circle class="bandfill" cx="4" cy="4" r="1.3"/>'
        else:
            body = '<path class="hatch" d="M0,0 L8,8 M8,0 L0,8"/>'
        out.append(f'<pattern id="{pid}" width="8" height="8" patternUnits="userSpaceOnUse">{body}</pattern>')
    out.append("</defs>")
    return out


def band_name(label: str) -> str:
    """The short name of a band: its label up to the first colon."""
    return label.split(":", 1)[0].strip()


def in_band(v: float, band: dict) -> bool:
    low, high = band.get("low"), band.get("high")
    return math.isfinite(v) and (low is None or v >= low) and (high is None or v <= high)


def legend(chart: Chart) -> str:
    """Bands, reference lines and marks of a chart, in words (the patterns are named, not only drawn)."""
    items = []
    for i, b in enumerate(chart.plot.get("bands") or []):
        low, high = b.get("low"), b.get("high")
        span = (f"from {num(low)} to {num(high)}" if low is not None and high is not None
                else f"{num(low)} and above" if low is not None else f"{num(high)} and below")
        items.append(f"<li>{'▨▩▦'[i % 3]} band {i + 1} ({PATTERNS[i % len(PATTERNS)]}): {esc(b.get('label'))}: "
                     f"{esc(span)}</li>")
    for line in chart.plot.get("lines") or []:
        items.append(f"<li>dashed line: {esc(line.get('label'))} ({num(line.get('value'))})</li>")
    if chart.kind == "curve" and chart.plot.get("target") is not None:
        items.append(f"<li>dashed line: target {num(chart.plot['target'])}</li>")
    values = chart.plot.get("values") or []
    missing = len(values) - len(finite(values))
    if chart.kind == "curve" and missing:
        items.append(f"<li>× at the foot: NaN or Inf ({missing} of {len(values)} points)</li>")
    return f'<ul class="legend">{"".join(items)}</ul>' if items else ""


def numbers_table(headers: tuple[str, ...], rows: list[tuple]) -> str:
    """The chart's numbers, for screen readers and for copying."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="n">{esc(num(c))}</td>' if isinstance(c, (int, float))
                                    else f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f'<details><summary>the numbers ({len(rows)} rows)</summary><div class="scroll"><table>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></details>")


# -- per-layer values: horizontal bars ----------------------------------------------------------------------
BAR_W, BAR_LEFT, BAR_VALUE = 500, 22, 72  # width, left margin, room right of the bars for the value
ROW_H, AXIS_H = 30, 26


def draw_levels(chart: Chart) -> str:
    """Bars (a bars or layers plot): each label above its bar, the value after it; bands hatched across."""
    p = chart.plot
    labels, values = [str(x) for x in p.get("labels", [])], [float(v) for v in p.get("values", [])]
    rows = list(zip(labels, values))
    log = p.get("log", True)
    bands, lines = p.get("bands") or [], p.get("lines") or []
    limits = [x for b in bands for x in (b.get("low"), b.get("high")) if x is not None]
    limits += [x.get("value") for x in lines if x.get("value") is not None]
    if log:  # an open band reaches past its limit: the axis shows a little of it
        limits += [b["high"] / 2 for b in bands if b.get("low") is None and (b.get("high") or 0) > 0]
        limits += [b["low"] * 2 for b in bands if b.get("high") is None and (b.get("low") or 0) > 0]
        limits = [x for x in limits if x > 0]
    if p.get("unit") == "share" and not log:
        limits += [0.0, 1.0]  # a share is drawn on its whole range
    axis = value_axis(values + limits, log, BAR_LEFT, BAR_W - BAR_VALUE)
    height = AXIS_H + ROW_H * len(rows) + 8
    summary = levels_summary(chart, rows, log)
    out = svg_open(chart, BAR_W, height, summary)
    out += level_grid(chart, axis, bands, lines, height)
    zero = axis.pos(0.0) if not log else axis.start
    for i, (label, v) in enumerate(rows):
        y = AXIS_H + i * ROW_H
        inside = [f"band {j + 1}: {band_name(b['label'])}" for j, b in enumerate(bands) if in_band(v, b)]
        note = f'<tspan class="muted"> (in {esc(", ".join(inside))})</tspan>' if inside else ""
        out.append(f'<text class="small" x="{BAR_LEFT}" y="{y + 11}">{esc(short_label(label))}{note}'
                   f"<title>{esc(label)}</title></text>")
        out.append(level_bar(axis, v, y + 14, zero, log))
    out.append("</svg>")
    unit = f" ({p['unit']})" if p.get("unit") else ""
    table = numbers_table(("label", f"value{unit}", "band"),
                          [(lab, v, ", ".join(band_name(b["label"]) for b in bands if in_band(v, b)) or "")
                           for lab, v in rows])
    return "\n".join(out) + legend(chart) + table


def level_grid(chart: Chart, axis: Axis, bands: list[dict], lines: list[dict], height: int) -> list[str]:
    """The axis ticks along the top, the bands (hatched, numbered) and the reference lines."""
    bottom = height - 4
    out = []
    for i, b in enumerate(bands):
        low = axis.pos(b["low"]) if b.get("low") is not None and (not axis.log or b["low"] > 0) else axis.start
        high = axis.pos(b["high"]) if b.get("high") is not None and (not axis.log or b["high"] > 0) else axis.end
        if high - low < 0.5:
            continue
        out.append(f'<rect class="band" x="{low:.1f}" y="{AXIS_H - 6}" width="{high - low:.1f}" '
                   f'height="{bottom - AXIS_H + 6}" fill="url(#{chart.anchor}-p{i % len(PATTERNS)})" '
                   f'fill-opacity="0.35"><title>{esc(b.get("label"))}</title></rect>')
        out.append(f'<text class="small muted" x="{(low + high) / 2:.1f}" y="{bottom - 2}" '
                   f'text-anchor="middle">band {i + 1}</text>')
    for t in axis.ticks():
        x = axis.pos(t)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{AXIS_H - 8}" x2="{x:.1f}" y2="{bottom}"/>')
        out.append(f'<text class="small muted" x="{x:.1f}" y="{AXIS_H - 12}" text-anchor="middle">{num(t)}</text>')
    for line in lines:
        v = line.get("value")
        if v is None or (axis.log and v <= 0):
            continue
        x = axis.pos(v)
        out.append(f'<line class="refline" x1="{x:.1f}" y1="{AXIS_H - 8}" x2="{x:.1f}" y2="{bottom}">'
                   f"<title>{esc(line.get('label'))}</title></line>")
    return out


def level_bar(axis: Axis, v: float, y: float, zero: float, log: bool) -> str:
    """One bar with its value written after it."""
    if not math.isfinite(v):
        return f'<text class="nan" x="{axis.start}" y="{y + 10}">{num(v)}</text>'
    if log and v <= 0:
        return f'<text class="small muted" x="{axis.start}" y="{y + 10}">{num(v)} (not on the log axis)</text>'
    x = axis.pos(v)
    left, width = (zero, x - zero) if x >= zero else (x, zero - x)
    text = num(v)
    return (f'<rect class="bar" x="{left:.1f}" y="{y:.1f}" width="{max(width, 1.5):.1f}" height="11"/>'
            f'<text class="small" x="{max(x, zero) + 4:.1f}" y="{y + 10:.1f}">{esc(text)}</text>')


def levels_summary(chart: Chart, rows: list[tuple[str, float]], log: bool) -> str:
    vals = finite(v for _, v in rows)
    scale = "log scale" if log else "linear scale"
    if not vals:
        return f"{len(rows)} bars ({scale}), no finite value"
    lo = min(rows, key=lambda r: r[1] if math.isfinite(r[1]) else math.inf)
    hi = max(rows, key=lambda r: r[1] if math.isfinite(r[1]) else -math.inf)
    return (f"{len(rows)} bars ({scale}); lowest {num(lo[1])} at {lo[0]}, highest {num(hi[1])} at {hi[0]}"
            + (f"; {len(rows) - len(vals)} NaN/Inf" if len(vals) < len(rows) else ""))


# -- curves ----------------------------------------------------------------------------------------------------
CURVE_W, CURVE_H = 520, 230
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 18, 40


def draw_curve(chart: Chart) -> str:
    """A line over the values (gaps at NaN/Inf, marked ×), the target dashed, the findings' steps marked."""
    p = chart.plot
    values = [float(v) for v in p.get("values", [])]
    target = p.get("target")
    vals = finite(values)
    log = bool(vals) and min(vals) > 0 and max(vals) / min(vals) > 100 and (target is None or target > 0)
    y = value_axis(values + ([target] if target is not None else []), log, CURVE_H - BOTTOM, TOP, from_zero=False)
    n = len(values)

    def px(i: float) -> float:
        return LEFT + (i / (n - 1) if n > 1 else 0.5) * (CURVE_W - LEFT - RIGHT)

    summary = curve_summary(p, values)
    out = svg_open(chart, CURVE_W, CURVE_H, summary)
    out += curve_axes(y, n, p.get("points", "steps"), px)
    if target is not None:
        ty = y.pos(target)
        out.append(f'<line class="target" x1="{LEFT}" y1="{ty:.1f}" x2="{CURVE_W - RIGHT}" y2="{ty:.1f}"/>')
        out.append(f'<text class="small" x="{CURVE_W - RIGHT - 4}" y="{ty - 4:.1f}" text-anchor="end">target '
                   f"{num(target)}</text>")
    out += curve_line(values, y, px)
    out += curve_marks(chart, px)
    out.append("</svg>")
    marks = "".join(f"<li>{esc(text)}</li>" for text in mark_notes(chart))
    table = numbers_table(("point", "value"), list(enumerate(values)))
    return "\n".join(out) + legend(chart) + (f'<ul class="marks">{marks}</ul>' if marks else "") + table


def curve_axes(y: Axis, n: int, points: str, px) -> list[str]:
    out = [f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{CURVE_H - BOTTOM}"/>',
           f'<line class="axis" x1="{LEFT}" y1="{CURVE_H - BOTTOM}" x2="{CURVE_W - RIGHT}" y2="{CURVE_H - BOTTOM}"/>']
    for t in y.ticks():
        ty = y.pos(t)
        out.append(f'<line class="grid" x1="{LEFT}" y1="{ty:.1f}" x2="{CURVE_W - RIGHT}" y2="{ty:.1f}"/>')
        out.append(f'<text class="small muted" x="{LEFT - 4}" y="{ty + 4:.1f}" text-anchor="end">{num(t)}</text>')
    for i in sorted({0, n - 1}):
        out.append(f'<text class="small muted" x="{px(i):.1f}" y="{CURVE_H - BOTTOM + 14}" '
                   f'text-anchor="middle">{i}</text>')
    scale = ", log scale" if y.log else ""
    out.append(f'<text class="small muted" x="{(LEFT + CURVE_W - RIGHT) / 2:.1f}" y="{CURVE_H - 8}" '
               f'text-anchor="middle">{n} {esc(points)}{scale}</text>')
    return out


def curve_line(values: list[float], y: Axis, px) -> list[str]:
    """Polylines between NaN/Inf (drawn as × at the foot of the chart); a lone point as a dot."""
    out, segment = [], []
    segments = []
    for i, v in enumerate(values):
        if math.isfinite(v) and (not y.log or v > 0):
            segment.append((px(i), y.pos(v)))
        else:
            segments.append(segment)
            segment = []
            out.append(f'<text class="nan" x="{px(i):.1f}" y="{CURVE_H - BOTTOM - 3}" text-anchor="middle">×'
                       f"<title>point {i}: {num(v)}</title></text>")
    segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            out.append(f'<circle class="dot" cx="{seg[0][0]:.1f}" cy="{seg[0][1]:.1f}" r="3"/>')
        elif seg:
            out.append(f'<polyline class="curve" points="{" ".join(fmt_xy(a, b) for a, b in seg)}"/>')
    return out


def step_point(plot: dict, step: float) -> float | None:
    """Where `step` falls on the curve's points, when the plot says which steps it spans (`x`)."""
    span = plot.get("x")
    n = len(plot.get("values", []))
    if not (isinstance(span, (list, tuple)) and len(span) == 2) or n < 2:
        return None
    first, last = float(span[0]), float(span[1])
    if last <= first or not first <= step <= last:
        return None
    return (step - first) / (last - first) * (n - 1)


def curve_marks(chart: Chart, px) -> list[str]:
    out = []
    for step, code in chart.marks:
        at = step_point(chart.plot, step)
        if at is None:
            continue
        x = px(at)
        out.append(f'<line class="markline" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{CURVE_H - BOTTOM}"/>')
        out.append(f'<text class="small marktext" x="{x + 3:.1f}" y="{TOP + 10}">{esc(code)} at step '
                   f"{num(step)}</text>")
    return out


def mark_notes(chart: Chart) -> list[str]:
    """The marks in words; those the chart cannot place (its plot holds no steps) say so."""
    notes = []
    for step, code in chart.marks:
        placed = step_point(chart.plot, step) is not None
        notes.append(f"{code} begins at step {num(step)}" + ("" if placed else " (not marked: the chart's points "
                                                                       "are not tied to steps)"))
    return notes


def curve_summary(p: dict, values: list[float]) -> str:
    vals = finite(values)
    n = len(values)
    if not vals:
        return f"{n} {p.get('points', 'steps')}, no finite value"
    lo, hi = min(vals), max(vals)
    text = (f"{n} {p.get('points', 'steps')}; first {num(values[0])}, last {num(values[-1])}, lowest {num(lo)} at "
            f"point {values.index(lo)}, highest {num(hi)} at point {values.index(hi)}")
    if len(vals) < n:
        text += f"; {n - len(vals)} NaN/Inf"
    if p.get("target") is not None:
        text += f"; target {num(p['target'])}"
    return text


# -- page sections ----------------------------------------------------------------------------------------------
def verdict_section(report: Report) -> str:
    counts = {s: sum(f.severity == s for f in report.findings) for s in ("error", "warning", "info")}
    ran = sum(c.status in ("passed", "failed") for c in report.checks)
    status = report.status
    out = [f'<section aria-labelledby="verdict"><h1 id="verdict">{esc(report.title)}: '
           f'<span class="status s-{status}">{STATUS_MARK[status]} {status}</span></h1>',
           f"<p>{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s); "
           f"{ran} of {len(report.checks)} checks ran; {report.seconds:.1f} s</p>"]
    head = report.findings[0] if report.findings and report.findings[0].severity != "info" else None
    if head:
        out.append(f'<p><strong>Root cause:</strong> <a href="#finding-{head.rank}">{esc(head.code)} '
                   f"{esc(head.name)}</a>: {esc(head.title)}</p>")
    if report.unfinished:
        items = "".join(f"<li>{esc(c.name)}: {esc(c.status)}" + (f": {esc(c.detail)}" if c.detail else "") + "</li>"
                        for c in report.unfinished)
        out.append(f"<p><strong>{len(report.unfinished)} of {len(report.checks)} checks did not finish:</strong> "
                   f"the report is incomplete.</p><ul>{items}</ul>")
    if report.interrupted:
        out.append("<p><strong>Interrupted:</strong> a partial report.</p>")
    out.append("</section>")
    return "\n".join(out)


def finding_item(f: Finding, charts: list[Chart], first_of: dict[str, int]) -> str:
    """One ranked finding: what was measured (title, evidence), where, the fix, its cause and its charts."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(evidence_value(v))}</td></tr>" for k, v in f.evidence.items())
    parts = [f'<li class="finding {esc(f.severity)}" id="finding-{f.rank}">',
             f'<h3>#{f.rank} <span class="sev sev-{esc(f.severity)}">{SEVERITY_MARK.get(f.severity, "")} '
             f"{esc(f.severity)}</span> {esc(f.code)} {esc(f.name)}</h3>",
             f"<p>{esc(f.title)}</p><dl>"]
    if rows:
        parts.append(f'<dt>measured</dt><dd><div class="scroll"><table class="evidence"><tbody>{rows}</tbody></table>'
                     "</div></dd>")
    if f.where:
        parts.append(f"<dt>where</dt><dd><code>{esc(f.where)}</code></dd>")
    parts.append(f"<dt>fix</dt><dd>{esc(f.fix)}</dd>")
    if f.explained_by:
        cause = first_of.get(f.explained_by)
        link = (f'<a href="#finding-{cause}">{esc(f.explained_by)}</a>' if cause is not None
                else esc(f.explained_by))
        parts.append(f"<dt>explained by</dt><dd>{link}</dd>")
    if charts:
        links = ", ".join(f'<a href="#{ch.anchor}">{esc(ch.title)}</a>' for ch in charts)
        parts.append(f"<dt>evidence chart</dt><dd>{links}</dd>")
    parts.append(f"<dt>check</dt><dd>{esc(f.check)}</dd></dl></li>")
    return "".join(parts)


def findings_section(report: Report, charts: list[Chart]) -> str:
    if not report.findings:
        return '<section aria-labelledby="findings"><h2 id="findings">Findings</h2><p>No finding.</p></section>'
    first_of: dict[str, int] = {}
    for f in report.findings:
        first_of.setdefault(f.code, f.rank)
    items = [finding_item(f, evidence_charts(f, charts), first_of) for f in report.findings]
    return (f'<section aria-labelledby="findings"><h2 id="findings">Findings, root cause first '
            f'({len(report.findings)})</h2><ol class="findings">{"".join(items)}</ol></section>')


def charts_section(charts: list[Chart]) -> str:
    if not charts:
        return ""
    out = ['<section aria-labelledby="charts"><h2 id="charts">Charts</h2>']
    for check in dict.fromkeys(ch.check for ch in charts):
        out.append(f"<h3>{esc(check)}</h3>")
        for ch in (c for c in charts if c.check == check):
            body = draw_curve(ch) if ch.kind == "curve" else draw_levels(ch)
            unit = f" ({ch.plot['unit']})" if ch.plot.get("unit") and ch.kind != "curve" else ""
            scale = ", log scale" if ch.kind != "curve" and ch.plot.get("log", True) else ""
            out.append(f'<figure id="{ch.anchor}"><figcaption>{esc(ch.title)}{esc(unit)}{scale}</figcaption>'
                       f"{body}</figure>")
    out.append("</section>")
    return "\n".join(out)


def checks_section(report: Report, charts: list[Chart]) -> str:
    rows = []
    for c in report.checks:
        links = " ".join(f'<a href="#{ch.anchor}">{ch.anchor.split("-")[1]}</a>' for ch in charts
                         if ch.check == c.name)
        rows.append(f"<tr><td>{esc(c.name)}</td><td>{esc(c.status)}</td><td class=\"n\">{c.seconds:.2f}</td>"
                    f'<td class="n">{c.step_equivalents:.1f}</td><td>{links}</td><td>{esc(c.detail or "")}</td></tr>')
    return ('<section aria-labelledby="checks"><h2 id="checks">Checks</h2><div class="scroll"><table><thead><tr>'
            "<th>check</th><th>status</th><th>seconds</th><th>step-equivalents</th><th>charts</th><th>detail</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>")


def config_section(report: Report, fail_on: str) -> str:
    config = f"<code>{esc(report.config)}</code>" if report.config else "none (run from Python)"
    return ('<section aria-labelledby="configured"><h2 id="configured">What was configured</h2><dl>'
            f"<dt>report</dt><dd>{esc(report.title)}</dd><dt>config</dt><dd>{config}</dd>"
            f"<dt>fails on</dt><dd>{esc(fail_on)} and above</dd>"
            f"<dt>nndoctor</dt><dd>{esc(__version__)} (report schema {SCHEMA_VERSION})</dd></dl></section>")


def mark_findings(report: Report, charts: list[Chart]) -> None:
    """Give each curve chart the steps where its findings begin."""
    for f in report.findings:
        begins = begins_at(f)
        if begins is None:
            continue
        for ch in evidence_charts(f, charts):
            if ch.kind == "curve":
                ch.marks.append((begins[1], f.code))


def render_html(report: Report, fail_on: str = "error") -> str:
    """The whole page as one string."""
    charts = collect_charts(report)
    mark_findings(report, charts)
    body = [verdict_section(report), findings_section(report, charts), charts_section(charts),
            checks_section(report, charts), config_section(report, fail_on)]
    footer = (f'<footer><p class="muted">nndoctor {esc(__version__)}: a self-contained report (no script, nothing '
              "loaded from elsewhere).</p></footer>")
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8"/>'
            '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
            f"<title>{esc(report.title)}: {esc(report.status)}</title><style>{CSS}</style></head>\n"
            "<body>\n<main>\n" + "\n".join(b for b in body if b) + f"\n</main>\n{footer}\n</body></html>\n")
