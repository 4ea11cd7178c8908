"""Sensor readings with missing values left as NaN after a merge.

The injected mistake is marked BUG below; everything else is a healthy setup."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

def make_data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)  # (N, F)
    y = (x[:, :4].sum(1) > 0).long()  # (N,)
    x[torch.rand(n, generator=g) < 0.02, 3] = float("nan")  # BUG: missing readings never imputed
    return x, y


def model(hidden=64):
    return nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 4))


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
