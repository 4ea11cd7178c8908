"""A spectrum classifier with a learned filterbank whose log-compression has no epsilon.

The injected mistake: `LogCompress.forward` returns `torch.log(x)` of ReLU-rectified filterbank energies. A ReLU
outputs exact zeros, and log(0) = -inf, so the compressed features, the logits and the loss are NaN/Inf from the
first batch (ND306 names `compress (LogCompress)`). The usual front end is log(x + 1e-6). Everything else is
healthy: non-negative spectra at unit scale, shuffled data, Adam.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BINS, BANDS, CLASSES = 64, 24, 5


class LogCompress(nn.Module):
    """Log-compress non-negative energies, as a log-mel front end does."""

    def forward(self, x):
        return torch.log(x)  # BUG: no epsilon; log(0) = -inf where the ReLU output is 0


class SpectrumNet(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.filterbank = nn.Linear(BINS, BANDS)  # a learned filterbank over the spectrum bins
        self.rectify = nn.ReLU()  # energies are non-negative
        self.compress = LogCompress()
        self.classifier = nn.Sequential(nn.Linear(BANDS, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))

    def forward(self, spectrum):
        return self.classifier(self.compress(self.rectify(self.filterbank(spectrum))))


def train_loader(batch_size=32, n=480, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    peaks = torch.rand(CLASSES, BINS, generator=g) ** 4 * 3  # one spectral shape per class
    x = (peaks[y] + torch.randn(n, BINS, generator=g) * 0.5).abs()  # (N, BINS) magnitudes, non-negative
    x = x / x.mean()  # unit mean
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))
