"""Churn prediction from a customer table whose labels come from a second file (a CRM export).

The injected mistake: the feature table is shuffled on its own before batching (`features.sample(frac=1)` in
pandas terms) while the label column, read from the other file, keeps its original order. Each row now carries
the label of some other customer: the model can memorise its training rows, but nothing it learns carries over
to customers it has not seen.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = 14  # tenure, monthly charges, support calls, ... (standardised)


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F)
    w = torch.randn(FEATURES, generator=g)
    y = (x @ w + 0.5 * torch.randn(n, generator=g) > 0).long()  # (N,) churned or not, from the features
    perm = torch.randperm(n, generator=g)
    x = x[perm]  # BUG: the features are shuffled on their own; meant x, y = x[perm], y[perm]
    return x, y


def model(hidden=128):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 2))


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
