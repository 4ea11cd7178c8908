"""A 5-class classifier on 16 standardised features, an MLP built from a list of sizes. The injected mistake:
the loop appends a ReLU after every Linear, the output layer included, so every logit is clipped at zero: about
half of them are exactly 0 and get no gradient, and no class can be pushed below the others."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 16, 5


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F)
    y = (x @ torch.randn(FEATURES, CLASSES, generator=g)).argmax(dim=1)  # (N,)
    return x, y


def model(sizes=(FEATURES, 64, 64, CLASSES)):
    layers = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]  # BUG: the last Linear gets a ReLU too
    return nn.Sequential(*layers)


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
