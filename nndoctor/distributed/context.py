"""What the ND7xx checks judge: the evidence every rank sent and how each rank's run went, on rank 0."""
from __future__ import annotations

import time

from typing import ClassVar

from ..common.isolation import TimeBoxExceeded
from ..engine.check import Check
from .evidence import RankEvidence, RankOutcome


class RanksContext:
    """The checks' `ctx` in a run on several ranks (the runner's turn bookkeeping included)."""

    def __init__(self, world_size: int, backend: str, evidence: list[RankEvidence | None],
                 outcomes: list[RankOutcome], steps_blocked: str | None = None) -> None:
        self.world_size = world_size
        self.backend = backend
        self.evidence = evidence  # by rank; None where the rank sent nothing
        self.outcomes = outcomes
        self.steps_blocked = steps_blocked  # why no training step was taken on the ranks, if none was
        self.cost = {"grad_samples": 0, "nograd_samples": 0}
        self.deadline: float | None = None

    @property
    def reported(self) -> list[RankEvidence]:
        """The evidence of the ranks that sent theirs, in rank order."""
        return [e for e in self.evidence if e is not None]

    @property
    def complete(self) -> bool:
        return len(self.reported) == self.world_size

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeBoxExceeded("time box exceeded")

    def step_equivalents(self) -> float:
        return 0.0


class RanksCheck(Check):
    """The base of the ND7xx checks: they judge `RanksContext` on rank 0 of a run on several ranks, and the
    single-process runner leaves them out."""

    distributed: ClassVar[bool] = True
    needs_model: ClassVar[bool] = False
    order: ClassVar[int] = 90


def ranks_text(ranks: list[int]) -> str:
    """'rank 1', 'ranks 0 and 1', 'ranks 0, 1 and 3'."""
    ranks = sorted(ranks)
    if len(ranks) == 1:
        return f"rank {ranks[0]}"
    return "ranks " + ", ".join(str(r) for r in ranks[:-1]) + f" and {ranks[-1]}"


def names_text(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
