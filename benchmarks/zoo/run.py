"""Run the bug zoo: every case through nndoctor.diagnose, one line per case and a summary.

    python benchmarks/zoo/run.py                  # the whole zoo, default profile
    python benchmarks/zoo/run.py --quick          # the same cases under nndoctor's --quick profile
    python benchmarks/zoo/run.py --only lm-no-causal-mask --only mlp-raw-features
    python benchmarks/zoo/run.py --family rnn --json zoo.json
    python benchmarks/zoo/run.py --fast           # only the cases marked fast (the test suite's subset)
    python benchmarks/zoo/run.py --strict         # exit 1 when a target is missed
    python benchmarks/zoo/run.py --seeds 5        # every healthy case under 5 seeds, a table per zoo (U: unfinished)
    python benchmarks/zoo/run.py --zoo real       # the second zoo (benchmarks/zoo/real/), modelled on public code
    python benchmarks/zoo/run.py --zoo all        # both zoos, each summarised

Scoring. A broken case is a top-1 hit when the first finding of the ranked report has one of the case's expected
codes and is a warning or an error (a note at info level is not a diagnosis of a broken setup); a top-3 hit
when one of the first three findings at warning or error has. A healthy case counts its errors (target: none)
and its warnings (target: at most one per two healthy setups, over the whole zoo).

Seed stability (--seeds N). Seed s (0 to N-1) changes everything a case draws at random: its data and loader order
(every `gen(k)` of the cases becomes `gen(k + 1000 s)`), its model's initialisation (each `torch.manual_seed(k)`
while the case is built becomes `k + 1000 s`) and nndoctor's own seed. Seed 0 is the plain run. A healthy setup
must get no error under any seed: a finding that comes and goes with the seed rests on evidence thresholds below
the noise they are meant to see through.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import traceback
import warnings
from dataclasses import asdict, dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

import nndoctor  # noqa: E402
from benchmarks.zoo.registry import FAMILIES, REAL_FAMILIES, Case, load_cases  # noqa: E402

TARGETS = {"top1": 0.90, "top3": 0.97, "healthy_errors": 0, "healthy_warnings_per_case": 0.5}
SEVERITY_LETTER = {"error": "E", "warning": "W", "info": "I"}


SEED_STRIDE = 1000  # seed s shifts every seed a case uses by s * SEED_STRIDE (the cases' own seeds stay below it)


@contextlib.contextmanager
def case_seed(seed: int):
    """While a case is built: its data generators and its torch.manual_seed calls shifted by seed * SEED_STRIDE."""
    from benchmarks.zoo.cases import _common

    offset = seed * SEED_STRIDE
    manual_seed = torch.manual_seed
    _common.SEED_OFFSET = offset
    torch.manual_seed = lambda s: manual_seed(s + offset)
    try:
        yield
    finally:
        torch.manual_seed = manual_seed
        _common.SEED_OFFSET = 0


def run_case(case: Case, quick: bool = False, seed: int = 0, reseed_case: bool = False) -> dict:
    """Build one case (with `reseed_case`, its own data and initialisation drawn for `seed`; see the module
    docstring), diagnose it on the CPU with `seed` and score the ranked findings."""
    torch.manual_seed(seed)
    started = time.perf_counter()
    record = {"id": case.id, "zoo": case.zoo, "family": case.family, "description": case.description,
              "healthy": case.healthy, "expect": list(case.expect), "seed": seed}
    try:
        with warnings.catch_warnings():  # torch's own UserWarnings (e.g. MSELoss broadcasting) are part of a case
            warnings.simplefilter("ignore", UserWarning)
            with case_seed(seed if reseed_case else 0):
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
        known = FAMILIES + REAL_FAMILIES
        bad = [f for f in families if f not in known]
        if bad:
            raise SystemExit(f"unknown family: {', '.join(bad)} (one of {', '.join(known)})")
        chosen = [c for c in chosen if c.family in families]
    if fast:
        chosen = [c for c in chosen if c.fast]
    return chosen


@dataclass
class SeedSummary:
    """Healthy runs under several seeds, counted: what must be 0 (errors, crashes, unfinished checks) and the rest."""

    cases: int
    seeds: int
    runs: int
    runs_with_error: int
    errors: int
    runs_with_warning: int
    warnings: int
    crashed_runs: int  # the case itself raised (nothing diagnosed)
    unfinished_checks: int  # checks that crashed or timed out, summed over the runs
    flaky: list[str]  # "case: CODE in k of N seeds" for each warning or error that comes and goes with the seed

    @classmethod
    def of(cls, records: list[dict], seeds: int) -> "SeedSummary":
        by_case: dict[str, list[dict]] = {}
        for r in records:
            by_case.setdefault(r["id"], []).append(r)
        flaky = []
        for case_id, runs in by_case.items():
            seen = [{f["code"] for f in r["findings"] if f["severity"] != "info"} for r in runs]
            for code in sorted(set().union(*seen)):
                k = sum(code in codes for codes in seen)
                if k < len(runs):
                    flaky.append(f"{case_id}: {code} in {k} of {len(runs)} seeds")
        return cls(len(by_case), seeds, len(records), sum(r["errors"] > 0 for r in records),
                   sum(r["errors"] for r in records), sum(r["warnings"] > 0 for r in records),
                   sum(r["warnings"] for r in records), sum("error" in r for r in records),
                   sum(len(r.get("unfinished", [])) for r in records), flaky)

    def line(self) -> str:
        return (f"{self.cases} healthy cases x {self.seeds} seeds: errors in {self.runs_with_error} of {self.runs} "
                f"runs ({self.errors} errors, target 0), warnings in {self.runs_with_warning} runs "
                f"({self.warnings} warnings); crashed runs: {self.crashed_runs}, crashed or timed-out checks: "
                f"{self.unfinished_checks} (target 0 for both); findings that come and go with the seed: "
                f"{len(self.flaky)}")


def seed_cell(r: dict) -> str:
    """One run in the seed table: errors, warnings, the loud codes, and the checks that did not finish."""
    if "error" in r:
        return "CRASH"
    loud = [f"{f['code']}:{SEVERITY_LETTER[f['severity']]}" for f in r["findings"] if f["severity"] != "info"]
    unfinished = f" {len(r['unfinished'])}U" if r.get("unfinished") else ""
    return f"{r['errors']}E {r['warnings']}W{unfinished} " + ",".join(loud)


def seed_table(cases: list[Case], seeds: int, quick: bool) -> tuple[list[dict], dict[str, SeedSummary]]:
    """Every healthy case among `cases` under seeds 0..seeds-1, one table per zoo: one line per case, errors and
    warnings per seed (U: checks that crashed or timed out), then each zoo's counts and, for two zoos, both."""
    healthy = [c for c in cases if c.healthy]
    zoos = sorted({c.zoo for c in healthy})
    records: list[dict] = []
    summaries: dict[str, SeedSummary] = {}
    for zoo in zoos:
        print(f"\n-- {zoo} zoo --")
        print(f"{'case':<34} " + " ".join(f"{'seed ' + str(s):<22}" for s in range(seeds)))
        ran = []
        for c in (c for c in healthy if c.zoo == zoo):
            runs = [run_case(c, quick=quick, seed=s, reseed_case=True) for s in range(seeds)]
            ran.extend(runs)
            print(f"{c.id:<34} " + " ".join(f"{seed_cell(r):<22}" for r in runs), flush=True)
        summaries[zoo] = SeedSummary.of(ran, seeds)
        print(f"\n{zoo}: {summaries[zoo].line()}")
        for item in summaries[zoo].flaky:
            print(f"  comes and goes: {item}")
        records.extend(ran)
    if len(zoos) > 1:
        summaries["all"] = SeedSummary.of(records, seeds)
        print(f"\nboth zoos: {summaries['all'].line()}")
    return records, summaries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="diagnose under nndoctor's --quick profile")
    parser.add_argument("--only", action="append", default=[], help="case id (repeat, or comma-separated)")
    parser.add_argument("--family", action="append", default=[],
                        help=f"one of {', '.join(FAMILIES + REAL_FAMILIES)}")
    parser.add_argument("--zoo", choices=("bundled", "real", "all"), default="bundled",
                        help="bundled: benchmarks/zoo/cases (default); real: benchmarks/zoo/real; all: both")
    parser.add_argument("--fast", action="store_true", help="only the cases marked fast (the test subset)")
    parser.add_argument("--json", metavar="OUT", help="write every case's findings and the summary here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--seeds", type=int, default=0, metavar="N",
                        help="seed stability: every healthy case under seeds 0..N-1 (data, init and nndoctor's seed)")
    args = parser.parse_args(argv)

    cases = select(load_cases(args.zoo), args.only, args.family, args.fast)
    if args.list:
        for c in cases:
            print(f"{c.id:<34} {c.family:<15} {'healthy' if c.healthy else ','.join(c.expect):<12} {c.description}")
        return 0
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    if args.seeds:
        records, summaries = seed_table(cases, args.seeds, args.quick)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"nndoctor_version": nndoctor.__version__, "seeds": args.seeds,
                           "summary": {zoo: asdict(s) for zoo, s in summaries.items()}, "cases": records}, fh,
                          indent=2)
        return 1 if args.strict and any(r["errors"] or "error" in r or r.get("unfinished") for r in records) else 0
    print(f"nndoctor {nndoctor.__version__} bug zoo: {len(cases)} cases, torch {torch.__version__}, "
          f"{os.cpu_count()} CPU cores, profile {'quick' if args.quick else 'default'}")
    print(f"{'case':<34} {'family':<15} {'expected':<12} {'got (first 3)':<32} {'result':<6} {'time':>7}")
    records = []
    for c in cases:
        r = run_case(c, quick=args.quick, seed=args.seed)
        records.append(r)
        print(line(r), flush=True)
    zoos = sorted({r["zoo"] for r in records})
    for zoo in zoos if len(zoos) > 1 else []:  # --zoo all: each zoo on its own, then both together
        print(f"\n-- {zoo} zoo --")
        print_summary(summarize([r for r in records if r["zoo"] == zoo]))
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
