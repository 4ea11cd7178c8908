"""A point-set classifier that pools learned point features with a distance kernel; the distance is a sqrt.

The injected mistake: `DistanceKernel` computes Euclidean distances as `((a - b) ** 2).sum(-1).sqrt()`. The
distance of each point to itself is exactly 0, and the derivative of sqrt at 0 is infinite: the forward pass and
the loss are finite, but backward writes NaN into every gradient of the point encoder (ND406), and the first step
writes NaN into the weights. The fix is sqrt(x + 1e-12) or leaving the diagonal out. Everything else is healthy.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

POINTS, CLASSES = 16, 4


class DistanceKernel(nn.Module):
    """Each point's feature becomes a distance-weighted average of the set's features (an RBF graph)."""

    def __init__(self, width=1.0):
        super().__init__()
        self.width = width

    def forward(self, h):  # h: (B, N, D)
        d = ((h[:, :, None, :] - h[:, None, :, :]) ** 2).sum(-1).sqrt()  # (B, N, N) BUG: sqrt(0) on the diagonal
        w = torch.softmax(-d / self.width, dim=-1)  # (B, N, N) weights over the set
        return w @ h  # (B, N, D)


class PointSetNet(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.kernel = DistanceKernel()
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))

    def forward(self, points):  # points: (B, N, 3)
        h = self.kernel(self.encoder(points))  # (B, N, D)
        return self.head(h.max(dim=1).values)  # (B, C) pooled over the set


def train_loader(batch_size=32, n=384, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    scale = torch.tensor([[0.5, 1.0, 1.5], [1.5, 0.5, 1.0], [1.0, 1.5, 0.5], [1.0, 1.0, 1.0]])  # (C, 3)
    x = torch.randn(n, POINTS, 3, generator=g) * scale[y][:, None, :]  # (N, POINTS, 3) ellipsoid clouds
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))
