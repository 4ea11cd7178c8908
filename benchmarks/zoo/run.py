"""Run the bug zoo: every case through nndoctor.diagnose, one line per case and a summary.

    python benchmarks/zoo/run.py                  # the whole zoo, default profile
    python benchmarks/zoo/run.py --quick          # the same cases under nndoctor's --quick profile
    python benchmarks/zoo/run.py --only lm-no-causal-mask --only mlp-raw-features
    python benchmarks/zoo/run.py --family rnn --json zoo.json
    python benchmarks/zoo/run.py --fast           # only the cases marked fast (the test suite's subset)
    python benchmarks/zoo/run.py --strict         # exit 1 when a target is missed

Scoring. A broken case is a top-1 hit when the first finding of the ranked report has one of the case's expected
codes and is a warning or an error (a note at info level is not a diagnosis of a broken setup); a top-3 hit
when one of the first three findings at warning or error has. A healthy case counts its errors (target: none)
and its warnings (target: at most one per two healthy setups, over the whole zoo).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

import nndoctor  # noqa: E402
from benchmarks.zoo.registry import FAMILIES, Case, load_cases  # noqa: E402

TARGETS = {"top1": 0.90, "top3": 0.97, "healthy_errors": 0, "healthy_warnings_per_case": 0.5}
SEVERITY_LETTER = {"error": "E", "warning": "W", "info": "I"}


def run_case(case: Case, quick: bool = False, seed: int = 0) -> dict:
    """Build one case with a fixed seed, diagnose it on the CPU and score the ranked findings."""
    torch.manual_seed(seed)
    started = time.perf_counter()
    record = {"id": case.id, "family": case.family, "description": case.description, "healthy": case.healthy,
              "expect": list(case.expect)}
    try:
        with warnings.catch_warnings():  # torch's own UserWarnings (e.g. MSELoss broadcasting) are part of a case
            warnings.simplefilter("ignore", UserWarning)
            kwargs = case.build()
            report = nndoctor.diagnose(**kwargs, device="cpu", seed=seed, quick=quick)
    except Exception as exc:  # a broken case or an nndoctor failure: the zoo reports it and goes on
        record.update(seconds=time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc(limit=6), findings=[], top1=False, top3=False,
                      errors=0, warnings=0, unfinished=[])
        return record
    seconds = time.perf_counter() - started
    findings = [{"code": f.code, "severity": f.severity, "check": f.check, "title": f.title,
                 "explained_by": f.explained_by} for f in report.findings]
    flagged = [f for f in findings if f["severity"] in ("error", "warning")]
    record.update(
        seconds=seconds,
        findings=findings,
        top1=bool(not case.healthy and findings and findings[0]["severity"] != "info"
                  and findings[0]["code"] in case.expect),
        top3=bool(not case.healthy and any(f["code"] in case.expect for f in flagged[:3])),
        errors=sum(f["severity"] == "error" for f in findings),
        warnings=sum(f["severity"] == "warning" for f in findings),
        unfinished=[f"{c.name}:{c.status}" for c in report.checks if c.status in ("crashed", "timeout")],
        step_equivalents=round(sum(c.step_equivalents for c in report.checks), 1),
        checks={c.name: {"status": c.status, "seconds": round(c.seconds, 3), "step_eq": round(c.step_equivalents, 1),
                         **({"detail": c.detail} if c.detail and c.status != "skipped" else {})}
                for c in report.checks},
    )
    return record


def verdict(r: dict) -> str:
    if "error" in r:
        return "CRASH"
    if r["healthy"]:
        return "ok" if r["errors"] == 0 and r["warnings"] == 0 else ("ERROR" if r["errors"] else "warn")
    return "pass" if r["top1"] else ("top3" if r["top3"] else "MISS")


def line(r: dict) -> str:
    got = " ".join(f"{f['code']}:{SEVERITY_LETTER[f['severity']]}" for f in r["findings"][:3]) or "-"
    expected = "healthy" if r["healthy"] else ",".join(r["expect"])
    extra = f"  [{', '.join(r['unfinished'])}]" if r.get("unfinished") else ""
    if "error" in r:
        extra = f"  [{r['error'][:100]}]"
    return (f"{r['id']:<34} {r['family']:<15} {expected:<12} {got:<32} {verdict(r):<6} {r['seconds']:6.2f}s"
            f"{extra}")


def summarize(records: list[dict]) -> dict:
    broken = [r for r in records if not r["healthy"]]
    healthy = [r for r in records if r["healthy"]]
    seconds = [r["seconds"] for r in records] or [0.0]
    summary = {
        "cases": len(records),
        "broken": len(broken),
        "healthy": len(healthy),
        "top1": sum(r["top1"] for r in broken) / len(broken) if broken else None,
        "top3": sum(r["top3"] for r in broken) / len(broken) if broken else None,
        "healthy_errors": sum(r["errors"] for r in healthy),
        "healthy_cases_with_error": sum(r["errors"] > 0 for r in healthy),
        "healthy_warnings": sum(r["warnings"] for r in healthy),
        "healthy_cases_with_warning": sum(r["warnings"] > 0 for r in healthy),
        "crashed_cases": sum("error" in r for r in records),
        "unfinished_checks": sum(len(r.get("unfinished", [])) for r in records),
        "mean_seconds": sum(seconds) / len(seconds),
        "max_seconds": max(seconds),
        "total_seconds": sum(seconds),
        "families": sorted({r["family"] for r in records}),
    }
    summary["targets_met"] = targets_met(summary)
    return summary


def targets_met(s: dict) -> dict:
    met = {}
    if s["top1"] is not None:
        met["top1"] = s["top1"] >= TARGETS["top1"]
        met["top3"] = s["top3"] >= TARGETS["top3"]
    if s["healthy"]:
        met["healthy_errors"] = s["healthy_errors"] <= TARGETS["healthy_errors"]
        met["healthy_warnings"] = s["healthy_warnings"] <= TARGETS["healthy_warnings_per_case"] * s["healthy"]
    return met


def print_summary(s: dict) -> None:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    met = s["targets_met"]

    def mark(key):
        return "" if key not in met else ("  (target met)" if met[key] else "  (TARGET MISSED)")

    print()
    print(f"cases: {s['cases']} ({s['broken']} broken, {s['healthy']} healthy) in {len(s['families'])} families: "
          f"{', '.join(s['families'])}")
    print(f"top-1 accuracy:          {pct(s['top1'])}   target >= {100 * TARGETS['top1']:.0f}%{mark('top1')}")
    print(f"top-3 recall:            {pct(s['top3'])}   target >= {100 * TARGETS['top3']:.0f}%{mark('top3')}")
    print(f"errors on healthy:       {s['healthy_errors']} (in {s['healthy_cases_with_error']} cases)   target 0"
          f"{mark('healthy_errors')}")
    print(f"warnings on healthy:     {s['healthy_warnings']} (in {s['healthy_cases_with_warning']} cases)   target "
          f"<= {TARGETS['healthy_warnings_per_case'] * s['healthy']:.0f}{mark('healthy_warnings')}")
    print(f"crashed cases: {s['crashed_cases']}; crashed or timed-out checks: {s['unfinished_checks']}")
    print(f"seconds per case:        mean {s['mean_seconds']:.2f}, max {s['max_seconds']:.2f}, "
          f"total {s['total_seconds']:.1f}")


def select(cases: dict[str, Case], only: list[str], families: list[str], fast: bool) -> list[Case]:
    chosen = list(cases.values())
    if only:
        ids = [i for item in only for i in item.split(",") if i]
        unknown = [i for i in ids if i not in cases]
        if unknown:
            raise SystemExit(f"unknown case id(s): {', '.join(unknown)}")
        chosen = [cases[i] for i in ids]
    if families:
        bad = [f for f in families if f not in FAMILIES]
        if bad:
            raise SystemExit(f"unknown family: {', '.join(bad)} (one of {', '.join(FAMILIES)})")
        chosen = [c for c in chosen if c.family in families]
    if fast:
        chosen = [c for c in chosen if c.fast]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="diagnose under nndoctor's --quick profile")
    parser.add_argument("--only", action="append", default=[], help="case id (repeat, or comma-separated)")
    parser.add_argument("--family", action="append", default=[], help=f"one of {', '.join(FAMILIES)}")
    parser.add_argument("--fast", action="store_true", help="only the cases marked fast (the test subset)")
    parser.add_argument("--json", metavar="OUT", help="write every case's findings and the summary here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)

    cases = select(load_cases(), args.only, args.family, args.fast)
    if args.list:
        for c in cases:
            print(f"{c.id:<34} {c.family:<15} {'healthy' if c.healthy else ','.join(c.expect):<12} {c.description}")
        return 0
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    print(f"nndoctor {nndoctor.__version__} bug zoo: {len(cases)} cases, torch {torch.__version__}, "
          f"{os.cpu_count()} CPU cores, profile {'quick' if args.quick else 'default'}")
    print(f"{'case':<34} {'family':<15} {'expected':<12} {'got (first 3)':<32} {'result':<6} {'time':>7}")
    records = []
    for c in cases:
        r = run_case(c, quick=args.quick, seed=args.seed)
        records.append(r)
        print(line(r), flush=True)
    summary = summarize(records)
    print_summary(summary)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"nndoctor_version": nndoctor.__version__, "torch": torch.__version__,
                       "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                                  f"{'cuda' if torch.cuda.is_available() else 'no GPU'}",
                       "profile": "quick" if args.quick else "default", "summary": summary, "cases": records},
                      fh, indent=2)
    if args.strict and not all(summary["targets_met"].values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
