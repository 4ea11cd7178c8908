"""A 10-class image classifier whose head was copied from a contrastive model and still ends in Tanh.

The injected mistake: `ProjectionHead` bounds its output with nn.Tanh() (right for the embeddings it was written
for), and here that output is used as class logits. Logits stuck in (-1, 1) cannot separate 10 classes: the
cross-entropy cannot go below log(1 + 9 / e^2) = 0.80 whatever the weights, so even one batch cannot be fit
(ND501). Nothing raises and the loss does fall at first. Everything else is healthy.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

CLASSES = 10


class ProjectionHead(nn.Module):
    def __init__(self, width, out):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, out),
                                 nn.Tanh())  # BUG: bounds the logits to (-1, 1)

    def forward(self, x):
        return self.net(x)


class ConvClassifier(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, 8, 8)
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, w)
        self.head = ProjectionHead(width, CLASSES)

    def forward(self, x):
        return self.head(self.features(x))


def train_loader(batch_size=32, n=640, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    protos = torch.randn(CLASSES, 1, 16, 16, generator=g)  # one pattern per class
    x = protos[y] + 0.5 * torch.randn(n, 1, 16, 16, generator=g)  # (N, 1, 16, 16)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))
