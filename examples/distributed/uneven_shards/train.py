"""ND710: the data comes in files of different sizes, and each rank reads every N-th file: the ranks get
different numbers of batches, and the last steps of the epoch wait in an all-reduce that the rank without a
batch never joins."""
import torch
from torch.utils.data import ConcatDataset, DataLoader, TensorDataset

from common import dataset, mlp, rank_and_world  # noqa: F401

model = mlp
FILE_SIZES = (192, 96, 160)  # samples per file


def train_loader(batch_size=32):
    rank, world = rank_and_world()
    files = [TensorDataset(*dataset(n, seed=i).tensors) for i, n in enumerate(FILE_SIZES)]
    mine = ConcatDataset(files[rank::world])  # bug: uneven shards (rank 0: 352 samples, rank 1: 96)
    g = torch.Generator().manual_seed(rank)
    return DataLoader(mine, batch_size=batch_size, shuffle=True, generator=g, num_workers=0)
