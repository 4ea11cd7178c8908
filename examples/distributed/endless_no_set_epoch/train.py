"""ND702: a step-based loop reads an endless stream that restarts the DistributedSampler-sharded loader at every
epoch without calling `sampler.set_epoch(epoch)`: every epoch comes in the same order on every rank (the
DistributedSampler documentation: "calling set_epoch() at the beginning of each epoch ... is necessary to make
shuffling work properly across multiple epochs. Otherwise, the same ordering will be always used")."""
from common import mlp, sharded_loader  # noqa: F401

model = mlp


def train_loader(batch_size=16, n=128):
    loader = sharded_loader(batch_size, n)  # 64 samples per rank: 4 batches an epoch

    def endless():
        while True:
            yield from loader  # bug: no loader.sampler.set_epoch(epoch) before each pass

    return endless()
