"""A land-cover classifier from 12 spectral bands. Every prediction comes out the same, whatever the input.

The injected mistake: the model copies a "zero-init for stable training" tip (Fixup/ReZero zero the *last* layer
of each residual branch) but applies nn.init.zeros_ to the weights and biases of every encoder layer. The encoder
then outputs 0 for every input, the head sees nothing but zeros, and no gradient ever reaches the encoder again
(a zero layer passes no gradient to the layers before it): the network is constant, forever.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BANDS = 12
CLASSES = 6  # water, forest, crop, grass, urban, bare soil


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(CLASSES, BANDS, generator=g)  # (C, F) one spectral signature per class
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    x = centres[y] + 0.7 * torch.randn(n, BANDS, generator=g)  # (N, F) standardised reflectances
    return x, y


class LandCoverNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(BANDS, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.head = nn.Linear(hidden, CLASSES)
        for layer in self.encoder:
            if isinstance(layer, nn.Linear):
                nn.init.zeros_(layer.weight)  # BUG: meant for the last layer of a residual branch only
                nn.init.zeros_(layer.bias)

    def forward(self, x):
        return self.head(self.encoder(x))


def model(hidden=64):
    return LandCoverNet(hidden)


def train_loader(batch_size=64):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
