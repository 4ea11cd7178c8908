"""The process group, with a short timeout of nndoctor's own, and the bounded exchanges between ranks.

gloo does not report a collective that ranks call differently: it waits until the process group's timeout (30
minutes by default). nndoctor initialises the group with a timeout of seconds, so that a stalled rank ends the
collective that waits for it, and exchanges its own measurements through torch.distributed's store (key/value,
each read bounded), never through a collective that a diverged rank could leave waiting. The keys are under
`nndoctor/`; the launcher (`--nproc`) writes `nndoctor/exit/RANK` when a rank's process ends with an error.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import torch.distributed as dist

from .environment import LAUNCHER_PID, RankEnv

DEFAULT_TIMEOUT = 20.0  # seconds one collective (and one exchange) may wait for the other ranks
TIMEOUT_VARIABLE = "NNDOCTOR_COLLECTIVE_TIMEOUT"  # overrides it (seconds): a slow first NCCL step, or tests


def collective_timeout() -> float:
    """DEFAULT_TIMEOUT, or the positive number of seconds in $NNDOCTOR_COLLECTIVE_TIMEOUT."""
    try:
        value = float(os.environ.get(TIMEOUT_VARIABLE, DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT
POLL = 0.02  # seconds between two looks at the store
PREFIX = "nndoctor"


class RankMissing(RuntimeError):
    """An exchange ended without some ranks' contribution: each is named with what is known of it."""

    def __init__(self, tag: str, missing: dict[int, str], got: dict[int, object]) -> None:
        self.tag, self.missing, self.got = tag, missing, got
        super().__init__(f"exchange {tag!r}: " + "; ".join(f"rank {r}: {why}" for r, why in sorted(missing.items())))


@dataclass
class Group:
    """This rank's process group and its store."""

    env: RankEnv
    backend: str
    timeout: float
    store: object = None
    started: float = field(default_factory=time.monotonic)

    def post(self, key: str, value) -> None:
        self.store.set(f"{PREFIX}/{key}", json.dumps(value))

    def read(self, key: str):
        """The value posted under `key`, or None when none is there yet."""
        full = f"{PREFIX}/{key}"
        return json.loads(self.store.get(full)) if self.store.check([full]) else None

    def post_error(self, text: str) -> None:
        """This rank ends with an error: the others read it instead of waiting for what it will not post."""
        try:
            self.post(f"error/{self.env.rank}", text)
        except Exception:  # the store itself is gone: the launcher's exit code still tells
            pass

    def why_absent(self, rank: int) -> str | None:
        """What ended `rank` early, if it said (its error) or the launcher saw it end (its exit code)."""
        error = self.read(f"error/{rank}")
        if error is not None:
            return str(error)
        code = self.read(f"exit/{rank}")
        return f"its process ended with exit code {code}" if code is not None else None

    def exchange(self, tag: str, value, timeout: float | None = None) -> list:
        """Every rank's `value` for `tag`, in rank order; RankMissing when a rank ends or stays silent for
        `timeout` seconds (default: the group's)."""
        self.post(f"{tag}/{self.env.rank}", value)
        got: dict[int, object] = {}
        ended: dict[int, str] = {}
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for r in range(self.env.world_size):
                if r in got or r in ended:
                    continue
                found = self.read(f"{tag}/{r}")
                if found is not None:
                    got[r] = found
                elif (why := self.why_absent(r)) is not None:
                    ended[r] = why
            if len(got) + len(ended) == self.env.world_size:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(POLL)
        missing = {r: ended.get(r, f"sent nothing within {self.timeout:g} s") for r in range(self.env.world_size)
                   if r not in got}
        if missing:
            raise RankMissing(tag, missing, got)
        return [got[r] for r in range(self.env.world_size)]

    def monitored_barrier(self, timeout: float | None = None) -> str | None:
        """gloo's monitored barrier: None when every rank arrives, else its message (it names the ranks that did
        not). Other backends have none: the store's exchanges bound them instead."""
        if self.backend != "gloo":
            return None
        try:
            dist.monitored_barrier(timeout=timedelta(seconds=self.timeout if timeout is None else timeout),
                                   wait_all_ranks=True)
        except RuntimeError as exc:
            return str(exc).splitlines()[0]
        return None

    def close(self) -> None:
        if dist.is_initialized():
            try:
                dist.destroy_process_group()
            except Exception:  # a group broken by a timeout: the process ends anyway
                pass


def open_group(env: RankEnv, device_type: str, timeout: float = DEFAULT_TIMEOUT) -> Group:
    """Initialise torch.distributed from the environment (gloo on CPU, NCCL on CUDA) with `timeout` seconds per
    collective, and open the store the ranks exchange through."""
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method="env://", rank=env.rank, world_size=env.world_size,
                            timeout=timedelta(seconds=timeout))
    store = dist.TCPStore(env.master_addr, env.master_port, is_master=False, timeout=timedelta(seconds=timeout))
    watch_launcher()
    return Group(env=env, backend=backend, timeout=timeout, store=store)


def watch_launcher() -> None:
    """A rank started by `--nproc` ends itself once its launcher is gone (no rank outlives the run)."""
    launcher = os.environ.get(LAUNCHER_PID)
    if not launcher or not launcher.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(launcher):
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, name="nndoctor-launcher-watch", daemon=True).start()
