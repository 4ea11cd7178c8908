"""What each rank reads: the same samples on every rank (ND701), an epoch order that repeats (ND702), and
different numbers of batches per rank (ND710).

What it catches: on a run on several ranks, every rank's sampler indices over one epoch (read from the loader's
sampler; no sample is loaded) or, for a loader without a sampler, hashes of the samples in the batches read, are
compared across ranks: when most of one rank's samples are also another's, the data is not sharded (ND701). The
number of batches per epoch (`len(loader)`) is compared too: different counts mean the ranks take different
numbers of steps, and the last steps wait for ranks that have none (ND710). An endless, step-based loader whose
stream repeats its first epoch in the same order on a rank shows a sampler whose `set_epoch` is never called
(ND702); a loader that a config run does not take across an epoch cannot show it, and nothing is said then.

Why it matters: without sharding N ranks compute the same gradients N times; uneven batches hang the last step of
the epoch; a fixed order every epoch is as if the data were not shuffled.

How to fix it: a `DistributedSampler(dataset)` on the DataLoader (which pads every rank to the same number of
samples), `sampler.set_epoch(epoch)` at the start of each epoch, or `drop_last=True` / `model.join()` for uneven
shards.

Healthy and silent: `DistributedSampler`, shuffled or not; an IterableDataset sharded by rank.
"""
from __future__ import annotations

from nndoctor import Option
from nndoctor.distributed.context import RanksCheck, ranks_text
from nndoctor.distributed.evidence import overlap


def repeat_period(samples: list, min_period: int) -> int | None:
    """The shortest period p >= `min_period` after which the stream repeats itself exactly (at least p more
    samples seen), or None."""
    for p in range(min_period, len(samples) // 2 + 1):
        if samples[p:2 * p] == samples[:p]:
            return p
    return None


class DdpData(RanksCheck):
    """Across ranks: the same samples on every rank, a repeating epoch order, different numbers of batches."""

    name = "ddp-data"
    codes = ("ND701", "ND702", "ND710")
    cost = "low"
    options = {
        "max_overlap": Option(0.5, "share of one rank's samples that another rank also reads above which the "
                              "data is not sharded (ND701)", low=0.0, high=1.0),
    }

    def run(self, ctx):
        ranks = ctx.reported
        if len(ranks) < 2:
            return
        yield from self.same_data(ranks)
        yield from self.uneven(ranks)
        yield from self.repeating_epochs(ranks)

    def same_data(self, ranks):
        by_index = all(e.indices for e in ranks) and len({e.dataset_key for e in ranks}) == 1 and \
            ranks[0].dataset_key is not None
        base = ranks[0]
        shared = {}
        for e in ranks[1:]:
            share = overlap(base.indices, e.indices) if by_index else overlap(base.samples, e.samples)
            if share > self.opts["max_overlap"]:
                shared[e.rank] = share
        if not shared:
            return
        what = "sampler indices over one epoch" if by_index else "samples in the batches read"
        worst = max(shared.values())
        yield self.finding("ND701", f"{ranks_text([0, *shared])} read the same data: {worst:.0%} of the {what} "
                           "are shared", {"overlap": shared, "compared": what,
                                          "samples_per_rank": len(base.indices if by_index else base.samples)},
                           where=ranks_text([0, *shared]))

    def uneven(self, ranks):
        counts = {e.rank: e.batches_per_epoch for e in ranks if e.batches_per_epoch is not None}
        if len(counts) < 2 or len(set(counts.values())) == 1:
            return
        low, high = min(counts.values()), max(counts.values())
        yield self.finding("ND710", f"the ranks get different numbers of batches per epoch ({low} to {high}): the "
                           "last steps wait for ranks that have no batch left", {"batches_per_epoch": counts},
                           where=ranks_text([r for r, n in counts.items() if n != low] or list(counts)))

    def repeating_epochs(self, ranks):
        """Only an endless loader (no len) can show it: a sized one is not taken across an epoch by a config run."""
        repeats = {}
        for e in ranks:
            if e.batches_per_epoch is not None or not e.batch_sizes:
                continue
            period = repeat_period(e.samples, max(e.batch_sizes))
            if period is not None:
                repeats[e.rank] = period
        if repeats and len(repeats) == len(ranks) and overlap(ranks[0].samples, ranks[1].samples) < 1.0:
            yield self.finding("ND702", f"the loader repeats the same order after every {min(repeats.values())} "
                               "samples on each rank: the distributed sampler's set_epoch is not called",
                               {"period_samples": repeats}, where=ranks_text(list(repeats)),
                               severity="error")  # seen repeating exactly: conclusive
