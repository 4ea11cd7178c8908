"""What the distributed examples share: a learnable synthetic classification problem, a small MLP, and a loader
sharded the way DDP code shards it (DistributedSampler over the rank's place, read from the process group)."""
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

NUM_CLASSES = 4
FEATURES = 16


def dataset(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F), unit scale
    w = torch.randn(FEATURES, NUM_CLASSES, generator=g)
    return TensorDataset(x, (x @ w).argmax(dim=1))  # labels depend on the inputs


def mlp(hidden=64, dropout=0.1):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, NUM_CLASSES))


def rank_and_world():
    """This process's rank and the world size (0 and 1 outside torch.distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sharded_loader(batch_size=32, n=512):
    """The production pattern: DistributedSampler shards and shuffles; the loader itself does not shuffle.
    num_workers=0: spawned ranks that spawn workers of their own pay seconds per rank for it."""
    data = dataset(n)
    if rank_and_world()[1] > 1:
        return DataLoader(data, batch_size=batch_size, sampler=DistributedSampler(data, shuffle=True),
                          num_workers=0)
    return DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=0)
