"""What each rank's model and random streams look like: BatchNorm with small per-rank batches (ND707), and the
same random stream on every rank (ND708).

What it catches: BatchNorm layers that are not SyncBatchNorm, when the per-rank batch is small: each rank
normalises with the statistics of a few samples (ND707; judged from the module types and the per-rank batch
size, since SyncBatchNorm itself needs GPUs). And the random generators (torch, numpy, random) in the same state
on every rank once the user's factories have run, although nndoctor seeded each rank with `seed + rank`: a
factory reseeds every rank alike (`set_seed(42)`), so dropout and random augmentation draw the same numbers on
every rank (ND708).

Why it matters: BatchNorm statistics of a few samples are noise; identical random streams make the ranks'
dropout masks and augmentations move in lockstep.

How to fix it: `nn.SyncBatchNorm.convert_sync_batchnorm(model)` before DDP (or a larger per-rank batch, or
GroupNorm); seed each rank with `seed + rank` after building the model.

Healthy and silent: BatchNorm with per-rank batches of `warn_below` samples or more; factories that do not
reseed, or reseed with the rank.
"""
from __future__ import annotations

import statistics

from nndoctor import Option
from nndoctor.distributed.context import RanksCheck, names_text, ranks_text


class DdpModel(RanksCheck):
    """Across ranks: BatchNorm over small per-rank batches, and random streams alike on every rank."""

    name = "ddp-model"
    codes = ("ND707", "ND708")
    cost = "low"
    options = {
        "error_below": Option(8, "per-rank batch below which unsynchronised BatchNorm is an error (ND707)",
                              unit="samples", low=1),
        "warn_below": Option(16, "per-rank batch below which unsynchronised BatchNorm is a warning (ND707)",
                             unit="samples", low=1),
    }

    def run(self, ctx):
        ranks = ctx.reported
        if len(ranks) < 2:
            return
        yield from self.batch_norm(ranks)
        yield from self.same_rng(ranks)

    def batch_norm(self, ranks):
        layers = ranks[0].batch_norms
        sizes = [statistics.median(e.batch_sizes) for e in ranks if e.batch_sizes]
        if not layers or not sizes:
            return
        per_rank = min(sizes)
        if per_rank >= self.opts["warn_below"]:
            return
        severity = "error" if per_rank < self.opts["error_below"] else "warning"
        yield self.finding("ND707", f"{len(layers)} BatchNorm layer(s) normalise over {per_rank:g} samples per "
                           "rank, unsynchronised", {"per_rank_batch": per_rank, "layers": layers,
                                                    "world_size": len(ranks)},
                           severity=severity, where=names_text(layers))

    def same_rng(self, ranks):
        same = [name for name in ("torch", "numpy", "random")
                if all(e.rng.get(name) for e in ranks) and len({e.rng[name] for e in ranks}) == 1]
        if not same:
            return
        yield self.finding("ND708", f"the {', '.join(same)} random generator(s) are in the same state on every "
                           "rank after your factories ran: dropout and augmentation draw alike on "
                           f"{ranks_text([e.rank for e in ranks])}",
                           {"generators": same, "seeded_by_nndoctor": "seed + rank, before the factories"},
                           where=", ".join(same))
