"""An image classifier trained with per-part learning rates, whose hand-built param groups forget the neck.

The injected mistake: `make_optimizer` lists the backbone and the head in two param groups (a lower lr for the
backbone) but not the `neck` added later between them. The neck gets gradients, yet no optimizer step ever
updates it: it stays at its random initialisation while the loss still falls (ND403).
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

CLASSES = 6


class SmallCNN(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, 8, 8)
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 2w)
        self.neck = nn.Sequential(nn.Linear(2 * width, 64), nn.ReLU())  # added later: a projection block
        self.head = nn.Linear(64, CLASSES)

    def forward(self, x):
        return self.head(self.neck(self.backbone(x)))


def make_optimizer(model, lr=1e-3):
    return torch.optim.AdamW([
        {"params": model.backbone.parameters(), "lr": lr * 0.3},
        {"params": model.head.parameters(), "lr": lr},
    ], weight_decay=1e-4)  # BUG: model.neck is in no param group


def train_loader(batch_size=32, n=384, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    protos = torch.randn(CLASSES, 1, 16, 16, generator=g)  # one pattern per class
    x = protos[y] + 0.5 * torch.randn(n, 1, 16, 16, generator=g)  # (N, 1, 16, 16) noisy class patterns
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))
