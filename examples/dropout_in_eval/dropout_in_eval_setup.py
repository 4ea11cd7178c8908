"""A sensor-fault classifier (vibration spectra of a pump, 4 fault types) with dropout written in forward.

The injected mistake: the forward applies `F.dropout(h, p=0.3)` without `training=self.training`. F.dropout's
`training` argument defaults to True, so dropout keeps dropping units in eval mode: model.eval() changes nothing,
validation predictions are random and two evaluations of the same batch disagree.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BINS = 32  # spectrum bins, log-scaled and standardised
FAULTS = 4  # healthy, imbalance, misalignment, bearing wear


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    signatures = torch.randn(FAULTS, BINS, generator=g)  # (C, F)
    y = torch.randint(0, FAULTS, (n,), generator=g)  # (N,)
    x = signatures[y] + 0.8 * torch.randn(n, BINS, generator=g)  # (N, F)
    return x / x.std(), y


class FaultNet(nn.Module):
    def __init__(self, hidden=128, p=0.3):
        super().__init__()
        self.p = p
        self.fc1 = nn.Linear(BINS, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, FAULTS)

    def forward(self, x):
        h = F.dropout(F.relu(self.fc1(x)), p=self.p)  # BUG: meant F.dropout(..., p=self.p, training=self.training)
        h = F.dropout(F.relu(self.fc2(h)), p=self.p)  # BUG: the same
        return self.out(h)


def model(hidden=128):
    return FaultNet(hidden)


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
