"""ND701: every rank builds the same shuffled DataLoader and no DistributedSampler, so every rank reads the whole
data set (each in its own order): N ranks compute the same gradients N times (pytorch#57776, "DDP without
DistributedSampler: each process trains on the whole dataset")."""
from torch.utils.data import DataLoader

from common import dataset, mlp  # noqa: F401

model = mlp


def train_loader(batch_size=32):
    return DataLoader(dataset(), batch_size=batch_size, shuffle=True, num_workers=0)  # no sampler: not sharded
