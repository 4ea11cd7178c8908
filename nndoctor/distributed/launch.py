"""`nndoctor run CONFIG --nproc N`: N ranks on this machine, started as torchrun starts its workers.

The launcher hosts the ranks' store on a free port of 127.0.0.1 (the system's pick, bound while the ranks start:
they import torch meanwhile, and their store clients retry until it is up), starts N child processes of
`python -m nndoctor run ...` with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set as torchrun sets
them (TORCHELASTIC_USE_AGENT_STORE too: the ranks use the launcher's store, as they use torchrun's agent store), and
waits. Rank 0 prints the report; the other ranks' output goes to stderr. When a rank's process ends with an error
the launcher posts its exit code for the others to read; when rank 0 is done, the others get a few seconds to end
and are then stopped. Every child is ended before the launcher returns, whatever happens (Ctrl-C included).
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import timedelta

from .environment import worker_environ
from .group import PREFIX, collective_timeout

GRACE = 5.0  # seconds the other ranks get to end once rank 0 is done
POLL = 0.05
STOP_WAIT = 3.0  # seconds between SIGTERM and SIGKILL
# The whole run: start-up, a few exchanges of a collective timeout each, and the single-process checks.
RUN_LIMIT = 600.0


def launch(argv: list[str], nproc: int, limit: float = RUN_LIMIT) -> int:
    """Run `nndoctor ARGV` on `nproc` ranks; returns rank 0's exit code (3 when rank 0 ended without a report)."""
    port = free_port()
    procs: list[subprocess.Popen] = []
    try:
        for rank in range(nproc):
            out = None if rank == 0 else sys.stderr  # one report, on rank 0's stdout
            procs.append(subprocess.Popen([sys.executable, "-m", "nndoctor", *argv], stdout=out,
                                          env=worker_environ(rank, nproc, port)))
        # Imported and bound while the ranks import theirs (seconds each); their clients retry until it is up.
        import torch.distributed as dist

        store = dist.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False,
                              timeout=timedelta(seconds=collective_timeout()))
        return wait_for(procs, store, limit)
    finally:
        stop(procs)


def free_port() -> int:
    """A port free on 127.0.0.1 now (the system's pick for port 0); the store binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(procs: list[subprocess.Popen], store, limit: float) -> int:
    """Wait for the ranks: post each one's error exit, stop the others once rank 0 is done or past `limit`."""
    posted: set[int] = set()
    end = time.monotonic() + limit
    main_done_at: float | None = None
    while any(p.poll() is None for p in procs):
        for rank, p in enumerate(procs):
            code = p.poll()
            if code not in (None, 0) and rank not in posted:
                posted.add(rank)
                store.set(f"{PREFIX}/exit/{rank}", str(code))
        now = time.monotonic()
        if main_done_at is None and procs[0].poll() is not None:
            main_done_at = now
        if (main_done_at is not None and now - main_done_at > GRACE) or now > end:
            if now > end:
                print(f"nndoctor: error: the ranks did not finish within {limit:g} s; stopped", file=sys.stderr)
            break
        time.sleep(POLL)
    code = procs[0].poll()
    if code is None or code < 0:  # killed by a signal, or stopped here: no report was printed
        print(f"nndoctor: internal error: rank 0 ended without a report (exit {code})", file=sys.stderr)
        return 3
    return code


def stop(procs: list[subprocess.Popen]) -> None:
    """End every child still running: SIGTERM, then SIGKILL after a few seconds."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + STOP_WAIT
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def child_argv(argv: list[str]) -> list[str]:
    """The command line each rank runs: the user's own, without `--nproc N` (the ranks come from the env)."""
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--":
            out += argv[i:]
            break
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        out.append(arg)
    return out
