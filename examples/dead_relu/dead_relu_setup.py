"""A 6-class classifier on 24 standardised sensor features, a two-hidden-layer ReLU MLP. The injected mistake:
the hidden biases are initialised to a large negative constant to "encourage sparse features"; with default
weights the pre-activations have a std near 0.6, so a bias of -3 keeps every unit below zero for every input:
the ReLUs never fire, pass no gradient, and the network's output is its last bias."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 24, 6


def make_readings(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F) standardised
    y = (x @ torch.randn(FEATURES, CLASSES, generator=g)).argmax(dim=1)  # (N,)
    return x, y


def model(hidden=128, bias_init=-3.0):
    net = nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                        nn.Linear(hidden, CLASSES))
    for layer in (net[0], net[2]):
        nn.init.constant_(layer.bias, bias_init)  # BUG: far below the pre-activation spread
    return net


def train_loader(batch_size=32):
    x, y = make_readings()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
