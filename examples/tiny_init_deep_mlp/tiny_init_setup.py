"""A 10-class classifier on 32 standardised features, an 8-hidden-layer ReLU MLP. The injected mistake: every
Linear is initialised with N(0, 0.01^2) weights and zero biases ("small random numbers"); with 128 inputs a layer
multiplies the std by about 0.01 * sqrt(128 / 2) = 0.08, so after eight layers the signal is ~1e-9 of the input's
and the output no longer depends on it. Kaiming initialisation (std sqrt(2 / fan_in)) keeps it constant."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 32, 10


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F)
    y = (x @ torch.randn(FEATURES, CLASSES, generator=g)).argmax(dim=1)  # (N,)
    return x, y


def model(hidden=128, depth=8):
    layers, fan_in = [], FEATURES
    for _ in range(depth):
        layers += [nn.Linear(fan_in, hidden), nn.ReLU()]
        fan_in = hidden
    net = nn.Sequential(*layers, nn.Linear(hidden, CLASSES))
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)  # BUG: too small for fan_in = 128 (Kaiming: 0.125)
            nn.init.zeros_(m.bias)
    return net


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
