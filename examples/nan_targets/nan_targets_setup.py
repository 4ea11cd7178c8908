"""A building energy model: the yearly heating load of a building from 10 standardised features (floor area,
glazing ratio, insulation, orientation, ...).

The injected mistake: the export joins the buildings to their meter readings, and about 3% of them have no
reading for the year. Those rows are kept with a NaN target. The targets are then standardised with statistics
that skip NaN (as pandas' mean() and std() do), so the rest looks clean, but every batch with a missing reading
has a NaN loss, and backward writes NaN into every gradient. Everything else is healthy: unit-scale inputs and
targets, shuffled data, Adam.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = 10


def make_data(n=768, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F) standardised building features
    w = torch.randn(FEATURES, 1, generator=g) / FEATURES ** 0.5
    load = 60 + 25 * torch.tanh(x @ w) + 3 * torch.randn(n, 1, generator=g)  # (N, 1) kWh per m2 and year
    missing = torch.rand(n, generator=g) < 0.03
    load[missing] = float("nan")  # BUG: buildings without a meter reading are kept, their target NaN
    finite = load[~load.isnan()]
    y = (load - finite.mean()) / finite.std()  # standardised, NaN skipped as pandas does: the NaN stay
    return x, y


def model(hidden=64):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
