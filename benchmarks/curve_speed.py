"""Time `nndoctor curve` on training logs of a million and ten million rows: wall time, CPU time and peak memory.

    .venv/bin/python benchmarks/curve_speed.py [--rows 1000000 10000000] [--repeat 3] [--source DIR]

For each size it writes a CSV (step, epoch, train_loss, val_loss every 1000 steps, lr) to a temporary folder, runs
the real command (`python -m nndoctor curve LOG --format json`) as a process, and prints the rows, the best wall
and CPU time of a few runs and the command's peak resident memory, next to the interpreter start-up alone
(`--version`) and the split between reading and analysing (in a process of its own). `--source DIR` runs the
nndoctor found in DIR instead (a `git archive` of another commit), to compare. Targets: under 5 s for a million
rows (start-up included); under 10 s and 500 MB for ten million. Not part of the test suite (a minute or two).

Peak memory is the child's own: a forked child counts its parent's pages until it execs, so this script keeps its
own process small (numpy is imported, and logs are written, only in children).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

WRITE_CHUNK = 1_000_000  # rows formatted at a time (the text of ten million rows at once would be 400 MB)


def write_log(path: str, rows: int, seed: int = 0) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        fh.write("step,epoch,train_loss,val_loss,lr\n")
        for lo in range(0, rows, WRITE_CHUNK):
            t = np.arange(lo, min(rows, lo + WRITE_CHUNK))
            lr = 1e-3 * 0.5 * (1 + np.cos(np.pi * t / rows))
            loss = (0.1 + 2.2 * np.exp(-t / (rows / 10))) * np.exp(0.1 * rng.standard_normal(len(t)))
            val = np.where(t % 1000 == 999, loss * 1.1, np.nan)
            epoch = t // 5000
            fh.write("".join(f"{i},{e},{a:.6g},{'' if v != v else f'{v:.6g}'},{r:.6g}\n"
                             for i, e, a, v, r in zip(t.tolist(), epoch.tolist(), loss.tolist(), val.tolist(),
                                                      lr.tolist())))


def split_times(path: str) -> None:
    """Print the seconds of reading and of analysing `path`, in this process."""
    from nndoctor.curve import diagnose_log, read_log

    t0 = time.perf_counter()
    log = read_log(path)
    t1 = time.perf_counter()
    report = diagnose_log(log)
    print(f"in process: read {t1 - t0:.2f} s, analyse {time.perf_counter() - t1:.2f} s; status {report.status}")


def timed(cmd: list[str], out_path: str, env: dict) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MB, exit code) of one run of `cmd` in the folder of `out_path` (its stdout), away
    from a source tree that would shadow --source. os.wait4 gives the resource use of this child alone
    (RUSAGE_CHILDREN would be the largest of every child so far)."""
    with open(out_path, "w") as out, open(os.devnull, "w") as devnull:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=devnull, env=env, cwd=os.path.dirname(out_path))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss is in KB


def best_of(cmd: list[str], repeat: int, out_path: str, env: dict) -> tuple[float, float, float, int]:
    """Best wall and CPU time over `repeat` runs, and the largest peak RSS. The work is single-threaded, so on an
    idle machine the wall time is about the CPU time; on a busy one it is more."""
    runs = [timed(cmd, out_path, env) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs), runs[-1][3]


def bench(folder: str, rows: int, repeat: int, env: dict) -> None:
    path = os.path.join(folder, f"train_log_{rows}.csv")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, os.path.abspath(__file__), "--write", path, str(rows)], check=True, env=env)
    print(f"\nwrote {rows} rows ({os.path.getsize(path) / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    wall, cpu, rss, rc = best_of([sys.executable, "-m", "nndoctor", "curve", path, "--format", "json"], repeat,
                                 os.path.join(folder, "report.json"), env)
    if rc not in (0, 1):
        sys.exit(f"nndoctor curve failed ({rc}) on {path}")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--split", path], check=True, env=env, cwd=folder)
    print(f"nndoctor curve on {rows} rows: {wall:.2f} s wall, {cpu:.2f} s CPU (best of {repeat}), "
          f"peak RSS {rss:.0f} MB")
    os.remove(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--source", help="a folder holding the nndoctor package to time instead of the installed one")
    ap.add_argument("--write", nargs=2, metavar=("PATH", "ROWS"), help=argparse.SUPPRESS)  # in a child
    ap.add_argument("--split", metavar="PATH", help=argparse.SUPPRESS)  # in a child
    args = ap.parse_args()
    if args.write:
        return write_log(args.write[0], int(args.write[1]))
    if args.split:
        return split_times(args.split)
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = os.path.abspath(args.source) + os.pathsep + env.get("PYTHONPATH", "")
    folder = tempfile.mkdtemp(prefix="nndoctor-curve-")
    try:
        wall, cpu, rss, _ = best_of([sys.executable, "-m", "nndoctor", "--version"], args.repeat,
                                    os.path.join(folder, "version.txt"), env)
        print(f"interpreter + imports alone (--version): {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss:.0f} MB")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for rows in args.rows:
            bench(folder, rows, args.repeat, env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
