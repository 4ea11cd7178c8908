"""Helpers of the distributed tests: evidence made by hand for the checks, and `nndoctor run --nproc 2` itself."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from nndoctor.distributed.context import RanksContext
from nndoctor.distributed.evidence import RankEvidence, RankOutcome

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples", "distributed")
SETUPS = os.path.join(ROOT, "tests", "distributed", "setups")
TIMEOUT = "4"  # seconds per collective in these tests: a stalled rank ends the run within a few of them


def healthy_rank(rank: int) -> RankEvidence:
    """What a healthy DDP rank of two sends: its own shard, the same parameters and gradients as the other rank."""
    params = {"0.weight": [1.5, 3.0, 0.2], "0.bias": [0.1, 0.4, 0.05]}
    grads = {"0.weight": [0.01, 0.002, 0.001], "0.bias": [0.003, 0.0001, 0.0002]}
    return RankEvidence(rank=rank, rng={"torch": f"t{rank}", "numpy": f"n{rank}", "random": f"r{rank}"},
                        samples=[f"s{rank}-{i}" for i in range(64)], batch_sizes=[32, 32],
                        batches_per_epoch=8, indices=list(range(rank, 512, 2)), dataset_key="512:abc",
                        params_start=copy.deepcopy(params), wrapper="DistributedDataParallel", find_unused=False,
                        steps=[{"grads": copy.deepcopy(grads), "grad_dot_reference": 2.0 + rank, "grad_sq": 2.5}],
                        params_after=copy.deepcopy(params))


def ranks_ctx(*evidence: RankEvidence, outcomes=None) -> RanksContext:
    outcomes = outcomes or [RankOutcome(e.rank, "reported") for e in evidence]
    return RanksContext(len(outcomes), "gloo", list(evidence), outcomes)


@dataclass
class Ran:
    code: int
    report: dict | None
    stderr: str
    seconds: float
    launcher_pid: int

    @property
    def codes(self) -> list[str]:
        return [f["code"] for f in (self.report or {}).get("findings", [])]


def nndoctor(*args: str, env: dict | None = None, limit: float = 150) -> Ran:
    """`nndoctor ARGS --format json` in a subprocess (the launcher and its ranks), with short collectives."""
    full_env = {**os.environ, "NNDOCTOR_COLLECTIVE_TIMEOUT": TIMEOUT, **(env or {})}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "nndoctor", *args, "--format", "json"], cwd=ROOT, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=limit)
    report = json.loads(out) if out.strip().startswith("{") else None
    return Ran(proc.returncode, report, err, time.monotonic() - start, proc.pid)


def processes_of(launcher_pid: int) -> list[int]:
    """The processes still alive that a launcher started (they carry its pid in their environment)."""
    marker = f"NNDOCTOR_LAUNCHER_PID={launcher_pid}".encode()
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    alive.append(int(entry))
        except OSError:
            continue
    return alive
