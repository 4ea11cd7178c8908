"""A spectrum classifier: 128 standardised spectrometer bins into 8 materials, a one-hidden-layer tanh MLP
whose first layer is written by hand. The injected mistake: its weights are torch.randn(fan_in, fan_out), without
the 1/sqrt(fan_in) scale, so the pre-activations have a std near sqrt(128) = 11 and most tanh outputs sit at
+-1, where the derivative is ~0: the first layer barely learns."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BINS, MATERIALS = 128, 8


class Dense(nn.Module):
    """x @ W + b, written by hand."""

    def __init__(self, fan_in, fan_out):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_in, fan_out))  # BUG: should be scaled by fan_in ** -0.5
        self.bias = nn.Parameter(torch.zeros(fan_out))

    def forward(self, x):  # (B, fan_in) -> (B, fan_out)
        return x @ self.weight + self.bias


def make_spectra(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, MATERIALS, (n,), generator=g)  # (N,)
    signatures = torch.randn(MATERIALS, BINS, generator=g)  # (M, BINS) one spectrum per material
    x = signatures[y] + torch.randn(n, BINS, generator=g)  # (N, BINS)
    return (x - x.mean(0)) / x.std(0), y  # standardised per bin


def model(hidden=64):
    return nn.Sequential(Dense(BINS, hidden), nn.Tanh(), nn.Linear(hidden, MATERIALS))


def train_loader(batch_size=32):
    x, y = make_spectra()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
