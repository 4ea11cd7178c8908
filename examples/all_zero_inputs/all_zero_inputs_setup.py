"""A normalisation by a std computed on the wrong axis blanks every input.

The injected mistake is marked BUG below; everything else is a healthy setup."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

def make_data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(n, 8, generator=g)  # (N, F)
    y = (raw[:, :4].sum(1) > 0).long()  # (N,)
    x = raw * 0.0  # BUG: a masking step meant for padded rows zeroes the whole table
    return x, y


def model(hidden=64):
    return nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 4))


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
