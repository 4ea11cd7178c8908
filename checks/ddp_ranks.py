"""The ranks themselves: one that crashes (ND308, the rank named) and ranks that diverge or stall (ND709).

What it catches: on a run on several ranks (`nndoctor run --nproc N`, or under torchrun), a rank whose own code
raised (its factory, its data, its forward or its training step), shown as the user's error with the rank named;
and ranks that do not do the same collectives: one rank waits in a collective that another never calls (a
`dist.barrier()` or `all_reduce` under `if rank == 0`), or stalls. nndoctor's process group has a timeout of
seconds, every exchange between the ranks is bounded, and a monitored barrier after the training steps names the
rank that did not arrive; so the run ends within the timeout and says which rank and which step.

Why it matters: a crash on one rank shows up on the others as a hang or a timeout inside NCCL or gloo, far from
the line that raised; mismatched collectives hang the whole job until the (30-minute) default timeout.

How to fix it: for ND308, the rank's own error is shown with its frame: fix it as in a single-process run. For
ND709, make every rank call the same collectives in the same order: move a collective out of the `if rank == 0`
branch (log on rank 0 after an all-reduce every rank makes), and give every rank the same number of steps.

Healthy and silent: every rank reports its evidence and passes the barrier.
"""
from __future__ import annotations

import re

from nndoctor.distributed.context import RanksCheck, ranks_text

WAITING = ("timed out", "timeout", "connection closed", "connection reset", "broken pipe", "failed to pass",
           "monitoredbarrier")


def waited(text: str | None) -> bool:
    """The error is a collective that waited for another rank (a timeout, a peer gone), not the user's own."""
    return bool(text) and any(w in text.lower() for w in WAITING)


class DdpRanks(RanksCheck):
    """Across ranks: a rank whose own code raised, and ranks that diverge or stall in collectives."""

    name = "ddp-ranks"
    codes = ("ND308", "ND709")
    cost = "low"
    order = 1  # the ranks' health decides what the other ND7xx checks can say

    def run(self, ctx):
        crashed = self.crashes(ctx)
        for rank, detail in crashed:
            yield self.finding("ND308", f"rank {rank} raised: {detail.split(' at ')[0]}",
                               {"rank": rank, "error": detail}, where=f"rank {rank}",
                               fix="This is your code's own error on that rank (its frame is shown): fix it as in a "
                                   "single-process run; the other ranks only waited for it.")
        if crashed:
            return  # the other ranks' timeouts are waits for the crashed one
        stalls = self.stalls(ctx)
        if stalls:
            behind = min(step for _, step, _ in stalls)
            ranks = sorted({r for r, step, _ in stalls if step == behind})
            first = next(what for r, step, what in stalls if step == behind)
            yield self.finding("ND709", f"{ranks_text(ranks)} diverged from the others: {first}",
                               {"ranks": ranks, "what": {str(r): what for r, _, what in stalls}},
                               where=ranks_text(ranks))

    @staticmethod
    def crashes(ctx) -> list[tuple[int, str]]:
        """(rank, error at frame) for each rank whose own code raised."""
        out = []
        for o in ctx.outcomes:
            if o.status == "crashed" and not waited(o.detail):
                out.append((o.rank, o.detail or "its process ended"))
        for e in ctx.reported:
            if e.step_error and not e.step_timed_out:
                out.append((e.rank, f"{e.step_error} (training step {e.step_error_at + 1})"))
        return out

    @staticmethod
    def stalls(ctx) -> list[tuple[int, float, str]]:
        """(rank, how far it got, what happened) for each rank that waited in a collective past the timeout, went
        silent, or did not arrive at the barrier. The rank that got least far is the one that diverged: the
        others waited for it (a rank in an extra collective at step 1 holds up the others' step 2)."""
        out = []
        for o in ctx.outcomes:
            if o.status == "missing":
                out.append((o.rank, -1, f"it sent nothing at the '{o.stage}' exchange ({o.detail})"))
        for e in ctx.reported:
            if e.step_error and e.step_timed_out:
                out.append((e.rank, e.step_error_at, f"at training step {e.step_error_at + 1} it waited in a "
                            f"collective that the other ranks did not call ({e.step_error})"))
            if e.barrier:
                named = [int(r) for r in re.findall(r"\d+", e.barrier.split("Rank", 1)[-1])[:1]]
                out.append((named[0] if named else e.rank, len(e.steps),
                            f"the monitored barrier after the steps: {e.barrier}"))
        return out
