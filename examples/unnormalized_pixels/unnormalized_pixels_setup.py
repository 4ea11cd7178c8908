"""Raw 0-255 pixels fed straight to the network: the ToTensor/255 step was dropped.

The injected mistake is marked BUG below; everything else is a healthy setup."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

def make_data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)  # (N,)
    templates = torch.rand(4, 1, 8, 8, generator=g)  # one bright pattern per class
    x = templates[y] * 200 + torch.rand(n, 1, 8, 8, generator=g) * 55  # (N, 1, 8, 8) in [0, 255]
    return x.round(), y  # BUG: meant (x / 255 - mean) / std


def model(channels=8):
    return nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(channels * 4, 4))  # (B, C*2*2) -> (B, 4)


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
