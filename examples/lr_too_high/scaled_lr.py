"""A tabular regression model whose learning rate was "scaled" the wrong way round.

The injected mistake: the recipe's SGD learning rate, 0.1 for a batch of 1024, was rescaled for a batch of 32 by
the linear scaling rule inverted (0.1 * 1024 / 32 = 3.2 instead of 0.1 * 32 / 1024 = 0.003). Each step rewrites
the weights several times their own size: the loss blows up within a few steps and turns NaN. Everything else is
healthy: standardised inputs and targets, shuffled data, a plain MLP.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = 12
BASE_LR, BASE_BATCH = 0.1, 1024


def model(hidden=64):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


def make_optimizer(model, batch_size=32, momentum=0.9):
    lr = BASE_LR * BASE_BATCH / batch_size  # BUG: the linear scaling rule inverted (should be * batch / BASE)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)


def train_loader(batch_size=32, n=640, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F) standardised features
    w = torch.randn(FEATURES, 1, generator=g) / FEATURES ** 0.5
    y = torch.sin(x @ w) + 0.1 * torch.randn(n, 1, generator=g)  # (N, 1) target near unit scale
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))
