"""Time `nndoctor curve` on a 1-million-row training log (the target: under 5 s, start-up included).

    .venv/bin/python benchmarks/curve_speed.py [--rows 1000000] [--repeat 3]

Writes a CSV (step, epoch, train_loss, val_loss every 1000 steps, lr) to a temporary folder, runs the real command
(`nndoctor curve LOG --format json`) as a process, and prints the best wall time of a few runs, next to the
interpreter start-up alone (`nndoctor --version`) and the in-process split between reading and analysing.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

BIN = os.path.join(os.path.dirname(sys.executable), "nndoctor")


def write_log(path: str, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    lr = 1e-3 * 0.5 * (1 + np.cos(np.pi * t / rows))
    loss = (0.1 + 2.2 * np.exp(-t / (rows / 10))) * np.exp(0.1 * rng.standard_normal(rows))
    val = np.where(t % 1000 == 999, loss * 1.1, np.nan)
    epoch = t // 5000
    with open(path, "w") as fh:
        fh.write("step,epoch,train_loss,val_loss,lr\n")
        fh.write("".join(f"{i},{e},{a:.6g},{'' if v != v else f'{v:.6g}'},{r:.6g}\n"
                         for i, e, a, v, r in zip(t.tolist(), epoch.tolist(), loss.tolist(), val.tolist(),
                                                  lr.tolist())))


def best_wall(cmd: list[str], repeat: int) -> tuple[float, float, subprocess.CompletedProcess]:
    """Best wall time and best CPU time (user + system) of the child over `repeat` runs. The work is
    single-threaded, so on an idle machine the wall time is about the CPU time; on a busy one it is more."""
    best, best_cpu, last = float("inf"), float("inf"), None
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        last = subprocess.run(cmd, capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best_cpu = min(best_cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best, best_cpu, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="nndoctor-curve-")
    try:
        path = os.path.join(folder, "train_log.csv")
        t0 = time.perf_counter()
        write_log(path, args.rows)
        print(f"wrote {args.rows} rows ({os.path.getsize(path) / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")

        startup, startup_cpu, _ = best_wall([BIN, "--version"], args.repeat)
        wall, cpu, proc = best_wall([BIN, "curve", path, "--format", "json"], args.repeat)
        if proc.returncode not in (0, 1):
            sys.exit(f"nndoctor curve failed ({proc.returncode}): {proc.stderr.strip()}")

        from nndoctor.curve import diagnose_log
        from nndoctor.curve.log import read_log

        t0 = time.perf_counter()
        log = read_log(path)
        t1 = time.perf_counter()
        report = diagnose_log(log)
        t2 = time.perf_counter()
        print(f"interpreter + imports alone (nndoctor --version): {startup:.2f} s wall, {startup_cpu:.2f} s CPU")
        print(f"in process: read {t1 - t0:.2f} s, analyse {t2 - t1:.2f} s; status {report.status}")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"nndoctor curve on {args.rows} rows: {wall:.2f} s wall, {cpu:.2f} s CPU (best of {args.repeat}); "
              f"target < 5 s: {'ok' if wall < 5 else 'SLOW'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
