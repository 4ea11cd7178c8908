"""A healthy setup: a small MLP classifier on a learnable synthetic problem, with BatchNorm and dropout."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

NUM_CLASSES = 4
FEATURES = 16


def make_data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F), unit scale
    w = torch.randn(FEATURES, NUM_CLASSES, generator=g)
    y = (x @ w).argmax(dim=1)  # (N,) labels depend on the inputs
    return x, y


def model(hidden=64):
    return nn.Sequential(
        nn.Linear(FEATURES, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, NUM_CLASSES),
    )


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
