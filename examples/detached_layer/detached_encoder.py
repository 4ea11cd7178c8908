"""A tabular classifier whose encoder never trains: forward() detaches the encoder's features.

The injected mistake: `feats = self.encoder(x).detach()`, left over from an experiment with a frozen encoder.
The head still learns on the encoder's random features, so the loss falls and nothing raises, but the encoder's
weights never receive a gradient (ND401). Everything else is healthy: unit-scale inputs, shuffled data, Adam.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 20, 5


class Classifier(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(FEATURES, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                     nn.Linear(hidden, hidden), nn.GELU())
        self.head = nn.Linear(hidden, CLASSES)

    def forward(self, x):
        feats = self.encoder(x).detach()  # BUG: left from a frozen-encoder run; the encoder gets no gradient
        return self.head(feats)


def train_loader(batch_size=32, n=640, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F) unit scale
    w = torch.randn(FEATURES, CLASSES, generator=g)
    y = (torch.tanh(x) @ w).argmax(dim=1)  # (N,) labels depend on the inputs
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))
