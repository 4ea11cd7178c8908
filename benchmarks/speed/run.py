"""Speed and cost of nndoctor: wall time, per-check cost, scaling with data and model size, peak memory.

    python benchmarks/speed/run.py                      # everything (a few minutes on 2 cores)
    python benchmarks/speed/run.py --examples healthy,double_softmax --json speed.json
    python benchmarks/speed/run.py --skip examples      # only the in-process measurements

What it measures:
  (a) `nndoctor run` on each bundled example in a subprocess, interpreter and torch start-up included, default and
      --quick; the start-up alone (`import torch, nndoctor.cli`) is measured apart;
  (b) per check: seconds and step-equivalents (forward plus backward passes over the user's batch), from
      --format json;
  (c) cost against dataset size: one synthetic loader over 1e3 and over 1e6 samples: the cost must stay flat;
  (d) cost against model size: an MLP at three widths, with the time of one plain training step of each;
  (e) peak memory of a run against one plain training step of the same model (resident set in a subprocess;
      torch.cuda.max_memory_allocated on cuda).
Targets: a default run at most 10 s wall and 300 step-equivalents per bundled example; --quick at most 3 s wall
and 60 step-equivalents. The wall figure includes the interpreter and torch start-up, which nndoctor does not
control (import torch, and the import of torch._dynamo that building the first optimizer triggers): the checks'
own time is reported beside it.
"""
from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from functools import partial

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TARGETS = {"default_wall_s": 10.0, "default_step_eq": 300.0, "quick_wall_s": 3.0, "quick_checks_s": 3.0,
           "quick_step_eq": 60.0}
FEATURES, CLASSES, BATCH = 16, 4, 32


# -- helpers -----------------------------------------------------------------------------------------------------
def nndoctor_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "nndoctor")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "nndoctor"]


def timed(cmd: list[str], timeout: float = 300.0) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    return time.perf_counter() - t0, proc


def mlp(width: int, features: int = FEATURES, classes: int = CLASSES):
    from torch import nn

    return nn.Sequential(nn.Linear(features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, classes))


def synthetic_loader(n: int, features: int = FEATURES, batch_size: int = BATCH, seed: int = 0, shuffle: bool = True,
                     prefix: int = 1_000):
    """A learnable classification set of n samples in memory. Its first `prefix` samples are the same whatever n,
    so an unshuffled loader yields the same first batches over 1e3 and over 1e6 samples."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(features, CLASSES, generator=g)  # (F, C)
    head = torch.randn(min(n, prefix), features, generator=g)  # (prefix, F)
    tail = torch.randn(max(0, n - prefix), features, generator=g)  # (N - prefix, F)
    x = torch.cat([head, tail])  # (N, F)
    y = (x @ w).argmax(dim=1)  # (N,)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed + 1) if shuffle else None)


def diagnose(model, data, quick: bool = False):
    import torch
    from torch import nn

    import nndoctor

    torch.manual_seed(0)
    t0 = time.perf_counter()
    report = nndoctor.diagnose(model, data, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-3),
                               device="cpu", seed=0, quick=quick)
    return time.perf_counter() - t0, report


def plain_step_seconds(model, data, repeats: int = 20) -> float:
    """Median wall time of one plain training step (zero_grad, forward, loss, backward, Adam step) on one batch."""
    import torch
    from torch import nn

    x, y = next(iter(data))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(repeats + 3):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return min(times[3:])  # the least disturbed step (the machine may be shared)


# -- (a) and (b): the bundled examples through the CLI ----------------------------------------------------------
def startup_seconds(repeats: int = 3) -> float:
    times = [timed([sys.executable, "-c", "import torch, nndoctor.cli"])[0] for _ in range(repeats)]
    return statistics.median(times)


def examples_list(names: list[str] | None) -> list[str]:
    found = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(ROOT, "examples", "*",
                                                                                       "config.yaml")))
    if names:
        missing = [n for n in names if n not in found]
        if missing:
            raise SystemExit(f"no such example: {', '.join(missing)} (have: {', '.join(found)})")
        return names
    return found


def run_example(name: str, quick: bool) -> dict:
    cfg = os.path.join("examples", name, "config.yaml")
    cmd = nndoctor_command() + ["run", cfg, "--format", "json"] + (["--quick"] if quick else [])
    wall, proc = timed(cmd)
    rec = {"example": name, "profile": "quick" if quick else "default", "wall_s": wall, "exit": proc.returncode}
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        rec.update(error=(proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"])
        return rec
    rec.update(
        checks_s=report["seconds"],
        step_eq=sum(c["step_equivalents"] for c in report["checks"]),
        first=report["findings"][0]["code"] if report["findings"] else "-",
        checks={c["name"]: {"status": c["status"], "seconds": c["seconds"], "step_eq": c["step_equivalents"]}
                for c in report["checks"]},
    )
    return rec


def per_check(records: list[dict]) -> dict:
    """Seconds and step-equivalents of each check over the examples it ran on (skipped runs left out)."""
    table: dict[str, dict] = {}
    for r in records:
        for name, c in r.get("checks", {}).items():
            if c["status"] == "skipped":
                continue
            t = table.setdefault(name, {"seconds": [], "step_eq": [], "unfinished": 0})
            t["seconds"].append(c["seconds"])
            t["step_eq"].append(c["step_eq"])
            t["unfinished"] += c["status"] in ("crashed", "timeout")
    return {name: {"runs": len(t["seconds"]), "mean_s": statistics.mean(t["seconds"]), "max_s": max(t["seconds"]),
                   "mean_step_eq": statistics.mean(t["step_eq"]), "max_step_eq": max(t["step_eq"]),
                   "crashed_or_timeout": t["unfinished"]}
            for name, t in sorted(table.items())}


# -- (c) dataset size, (d) model size ----------------------------------------------------------------------------
def best_of(fn, repeats: int = 3):
    """The fastest of a few runs: the machine is shared, so the minimum is the least disturbed measurement."""
    runs = [fn() for _ in range(repeats)]
    return min(runs, key=lambda r: r[0])


def dataset_scaling(sizes=(1_000, 1_000_000)) -> list[dict]:
    import torch

    out = []
    torch.manual_seed(0)
    model = mlp(64)
    diagnose(model, synthetic_loader(1_000))  # warm-up: first calls of each kernel
    for shuffle in (False, True):
        for n in sizes:
            t_build = time.perf_counter()
            data = synthetic_loader(n, shuffle=shuffle)
            build = time.perf_counter() - t_build
            seconds, report = best_of(partial(diagnose, model, data))
            out.append({"samples": n, "shuffle": shuffle, "seconds": seconds, "build_s": build,
                        "step_eq": sum(c.step_equivalents for c in report.checks),
                        "per_check_step_eq": {c.name: round(c.step_equivalents, 1) for c in report.checks},
                        "findings": [f.code for f in report.findings]})
            del data
            gc.collect()
    return out


def model_scaling(widths=(32, 256, 1024)) -> list[dict]:
    import torch

    out = []
    data = synthetic_loader(2_000)
    diagnose(mlp(32), data)  # warm-up
    for w in widths:
        torch.manual_seed(0)
        model = mlp(w)
        params = sum(p.numel() for p in model.parameters())
        step = plain_step_seconds(mlp(w), data)
        seconds, report = best_of(partial(diagnose, model, data))
        q_seconds, q_report = best_of(partial(diagnose, model, data, quick=True))
        out.append({"width": w, "params": params, "plain_step_ms": 1000 * step, "seconds": seconds,
                    "step_eq": sum(c.step_equivalents for c in report.checks), "quick_seconds": q_seconds,
                    "quick_step_eq": sum(c.step_equivalents for c in q_report.checks),
                    "seconds_in_plain_steps": seconds / step})
    return out


# -- (e) peak memory ---------------------------------------------------------------------------------------------
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def memory_probe(kind: str, width: int) -> dict:
    """Run in a fresh subprocess: the peak resident memory that one plain training step, or one default
    nndoctor run, adds on top of the process after set-up (model and data built, torch imported)."""
    import torch
    from torch import nn

    import nndoctor

    torch.manual_seed(0)
    model, data = mlp(width), synthetic_loader(4_096)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device)
    gc.collect()
    can_reset = True
    try:  # reset the peak (VmHWM) to the current resident set (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        can_reset = False
    before = _rss_kib("VmRSS")
    max_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    if kind == "plain":
        x, y = next(iter(data))
        x, y = x.to(device), y.to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        opt.zero_grad(set_to_none=True)
        nn.CrossEntropyLoss()(model(x), y).backward()
        opt.step()
    else:
        nndoctor.diagnose(model, data, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=1e-3),
                          device=device, seed=0)
    peak = _rss_kib("VmHWM") if can_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rec = {"kind": kind, "width": width, "params": sum(p.numel() for p in model.parameters()),
           "peak_added_mib": max(0, peak - (before if can_reset else max_before)) / 1024.0,
           "method": "VmHWM after clear_refs" if can_reset else "ru_maxrss"}
    if device == "cuda":
        rec["cuda_peak_added_mib"] = (torch.cuda.max_memory_allocated() - base_cuda) / 2 ** 20
    return rec


def memory(widths=(256, 2048)) -> list[dict]:
    out = []
    for w in widths:
        row = {"width": w}
        for kind in ("plain", "diagnose"):
            _, proc = timed([sys.executable, os.path.abspath(__file__), "--_memory", kind, "--width", str(w)])
            if proc.returncode != 0:
                row[kind] = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
                continue
            row[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
        if "peak_added_mib" in row.get("plain", {}) and "peak_added_mib" in row.get("diagnose", {}):
            row["ratio"] = row["diagnose"]["peak_added_mib"] / max(row["plain"]["peak_added_mib"], 1e-3)
        out.append(row)
    return out


def sizes_max(rows: list[dict]) -> int:
    return max(r["samples"] for r in rows)


# -- printing ----------------------------------------------------------------------------------------------------
def print_examples(startup: float, records: list[dict]) -> None:
    print(f"\n(a) `nndoctor run` per bundled example (subprocess; start-up alone: {startup:.2f} s)")
    print(f"{'example':<28} {'default wall':>12} {'checks':>7} {'step-eq':>8} {'exit':>4}   "
          f"{'quick wall':>10} {'checks':>7} {'step-eq':>8}  first")
    by = {}
    for r in records:
        by.setdefault(r["example"], {})[r["profile"]] = r
    for name, p in by.items():
        d, q = p.get("default", {}), p.get("quick", {})

        def cell(r, key, fmt):
            return format(r[key], fmt) if key in r else "-"

        print(f"{name:<28} {cell(d, 'wall_s', '12.2f')} {cell(d, 'checks_s', '7.2f')} {cell(d, 'step_eq', '8.1f')} "
              f"{cell(d, 'exit', '4d')}   {cell(q, 'wall_s', '10.2f')} {cell(q, 'checks_s', '7.2f')} "
              f"{cell(q, 'step_eq', '8.1f')}  {d.get('first', q.get('first', '-'))}"
              + (f"  [{d.get('error') or q.get('error')}]" if d.get("error") or q.get("error") else ""))


def example_targets(records: list[dict]) -> dict:
    d = [r for r in records if r["profile"] == "default" and "step_eq" in r]
    q = [r for r in records if r["profile"] == "quick" and "step_eq" in r]
    s = {}
    if d:
        s["default_max_wall_s"] = max(r["wall_s"] for r in d)
        s["default_max_step_eq"] = max(r["step_eq"] for r in d)
        s["default_met"] = (s["default_max_wall_s"] <= TARGETS["default_wall_s"]
                            and s["default_max_step_eq"] <= TARGETS["default_step_eq"])
    if q:
        s["quick_max_wall_s"] = max(r["wall_s"] for r in q)
        s["quick_max_checks_s"] = max(r["checks_s"] for r in q)
        s["quick_max_step_eq"] = max(r["step_eq"] for r in q)
        s["quick_wall_met"] = s["quick_max_wall_s"] <= TARGETS["quick_wall_s"]
        s["quick_met"] = (s["quick_max_checks_s"] <= TARGETS["quick_checks_s"]
                          and s["quick_max_step_eq"] <= TARGETS["quick_step_eq"])
    return s


def measure_examples(out: dict, only: str | None) -> None:
    """(a) and (b): every bundled example in a fresh process, default and --quick; the figures go into `out`."""
    names = examples_list(only.split(",") if only else None)
    out["startup_s"] = startup_seconds()
    records = [run_example(n, quick) for n in names for quick in (False, True)]
    out["examples"] = records
    print_examples(out["startup_s"], records)
    out["example_targets"] = t = example_targets(records)
    if "default_met" in t:
        print(f"default: max wall {t['default_max_wall_s']:.2f} s (target <= {TARGETS['default_wall_s']:g}), max "
              f"{t['default_max_step_eq']:.1f} step-eq (target <= {TARGETS['default_step_eq']:g}): "
              f"{'met' if t['default_met'] else 'MISSED'}")
    if "quick_met" in t:
        print(f"--quick: max checks {t['quick_max_checks_s']:.2f} s (target <= {TARGETS['quick_checks_s']:g}), max "
              f"{t['quick_max_step_eq']:.1f} step-eq (target <= {TARGETS['quick_step_eq']:g}): "
              f"{'met' if t['quick_met'] else 'MISSED'}; max wall with start-up {t['quick_max_wall_s']:.2f} s "
              f"(target <= {TARGETS['quick_wall_s']:g}): {'met' if t['quick_wall_met'] else 'MISSED'} "
              f"(start-up alone {out['startup_s']:.2f} s)")
    for profile in ("default", "quick"):
        table = per_check([r for r in records if r["profile"] == profile])
        out[f"per_check_{profile}"] = table
        print(f"\n(b) per check, {profile} profile, over the examples it ran on")
        print(f"{'check':<24} {'runs':>4} {'mean s':>7} {'max s':>7} {'mean step-eq':>12} {'max step-eq':>11}")
        for name, c in table.items():
            print(f"{name:<24} {c['runs']:4d} {c['mean_s']:7.3f} {c['max_s']:7.3f} {c['mean_step_eq']:12.1f} "
                  f"{c['max_step_eq']:11.1f}" + (f"  ({c['crashed_or_timeout']} crashed/timeout)"
                                                 if c["crashed_or_timeout"] else ""))


def measure_dataset(out: dict) -> None:
    """(c): the cost against dataset size; the figures go into `out`."""
    rows = dataset_scaling()
    out["dataset_scaling"] = rows
    print("\n(c) cost against dataset size (same MLP, width 64; in-process, best of 3)")
    print(f"{'samples':>10} {'loader':>9} {'seconds':>8} {'step-eq':>8}  findings")
    for r in rows:
        print(f"{r['samples']:>10,} {'shuffled' if r['shuffle'] else 'in order':>9} {r['seconds']:8.2f} "
              f"{r['step_eq']:8.1f}  {' '.join(r['findings']) or '-'}")
    ordered = [r for r in rows if not r["shuffle"]]
    shuffled = [r for r in rows if r["shuffle"]]
    flat = ordered[0]["per_check_step_eq"] == ordered[-1]["per_check_step_eq"]
    ratio = max(r["seconds"] for r in rows if r["samples"] == sizes_max(rows)) / max(
        min(r["seconds"] for r in rows if r["samples"] != sizes_max(rows)), 1e-9)
    out["dataset_flat"] = {"same_step_eq_same_batches": flat, "time_ratio_max": ratio,
                           "step_eq_shuffled": [r["step_eq"] for r in shuffled]}
    print(f"same first batches (in order): step-equivalents identical per check: {flat}; "
          f"slowest 1e6 run / fastest 1e3 run: {ratio:.2f}x")


def measure_models(out: dict) -> None:
    """(d): the cost against model size; the figures go into `out`."""
    rows = model_scaling()
    out["model_scaling"] = rows
    print("\n(d) cost against model size (MLP 16 -> w -> w -> 4, batch 32; in-process)")
    print(f"{'width':>6} {'params':>10} {'plain step':>10} {'seconds':>8} {'step-eq':>8} {'= plain steps':>13} "
          f"{'quick s':>8} {'quick step-eq':>13}")
    for r in rows:
        print(f"{r['width']:>6} {r['params']:>10,} {r['plain_step_ms']:8.2f}ms {r['seconds']:8.2f} "
              f"{r['step_eq']:8.1f} {r['seconds_in_plain_steps']:13.0f} {r['quick_seconds']:8.2f} "
              f"{r['quick_step_eq']:13.1f}")


def measure_memory(out: dict) -> None:
    """(e): peak memory against one plain training step; the figures go into `out`."""
    rows = memory()
    out["memory"] = rows
    print("\n(e) peak memory added: one default run against one plain training step (fresh subprocess each)")
    print(f"{'width':>6} {'params':>10} {'plain step MiB':>14} {'nndoctor MiB':>12} {'ratio':>6}")
    for r in rows:
        p, d = r.get("plain", {}), r.get("diagnose", {})
        if "error" in p or "error" in d:
            print(f"{r['width']:>6} error: {p.get('error') or d.get('error')}")
            continue
        print(f"{r['width']:>6} {p['params']:>10,} {p['peak_added_mib']:14.1f} {d['peak_added_mib']:12.1f} "
              f"{r['ratio']:6.1f}")
    if rows and "method" in rows[0].get("plain", {}):
        print(f"(resident set, {rows[0]['plain']['method']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", help="comma-separated example names (default: all bundled examples)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: examples,dataset,model,memory")
    parser.add_argument("--json", metavar="OUT", help="write every figure here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--_memory", choices=("plain", "diagnose"), help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, default=256, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._memory:
        print(json.dumps(memory_probe(args._memory, args.width)))
        return 0

    import torch

    import nndoctor

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    out: dict = {"nndoctor_version": nndoctor.__version__, "torch": torch.__version__,
                 "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                            f"{'cuda' if torch.cuda.is_available() else 'no GPU'}", "targets": TARGETS}
    print(f"nndoctor {nndoctor.__version__} speed benchmark: torch {torch.__version__}, {out['machine']}")

    if "examples" not in skip:
        measure_examples(out, args.examples)
    if "dataset" not in skip:
        measure_dataset(out)
    if "model" not in skip:
        measure_models(out)
    if "memory" not in skip:
        measure_memory(out)

    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    if args.strict and not all(out.get("example_targets", {}).get(k, True) for k in ("default_met", "quick_met",
                                                                                 "quick_wall_met")):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
