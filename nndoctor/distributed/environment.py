"""Where this process stands among the ranks: the variables torchrun sets, read once."""
from __future__ import annotations

import os
from dataclasses import dataclass

# What torchrun sets for each worker (torch.distributed.run); nndoctor's launcher sets the same.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                  "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE")
LAUNCHER_PID = "NNDOCTOR_LAUNCHER_PID"  # set by `--nproc`: a rank whose launcher is gone ends itself


@dataclass(frozen=True)
class RankEnv:
    rank: int
    local_rank: int
    world_size: int
    master_addr: str
    master_port: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def rank_env(environ=None) -> RankEnv | None:
    """This process's rank from the environment, or None when it is not one of several ranks (WORLD_SIZE < 2)."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        if world < 2 or "RANK" not in env:
            return None
        return RankEnv(rank=int(env["RANK"]), local_rank=int(env.get("LOCAL_RANK", env["RANK"])), world_size=world,
                       master_addr=env.get("MASTER_ADDR", "127.0.0.1"), master_port=int(env.get("MASTER_PORT", "0")))
    except ValueError:
        return None


def worker_environ(rank: int, world_size: int, port: int, base=None) -> dict[str, str]:
    """The environment of local rank `rank` of `world_size` on this machine, as torchrun writes it (one node; the
    store is the launcher's, as torchrun's agent store is)."""
    env = dict(os.environ if base is None else base)
    env.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
                "LOCAL_WORLD_SIZE": str(world_size), "GROUP_RANK": "0", "ROLE_RANK": str(rank),
                "ROLE_WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                "TORCHELASTIC_USE_AGENT_STORE": "True", LAUNCHER_PID: str(os.getpid())})
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's default too: N ranks share the cores
    return env
