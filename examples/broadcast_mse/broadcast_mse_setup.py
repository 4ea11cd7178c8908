"""A house-price regressor on 12 standardised features, with standardised prices. The injected mistake: the
model's output has shape (N, 1) while the dataset yields prices of shape (N,); MSELoss broadcasts them to (N, N),
so every prediction is compared with every price in the batch (torch only warns)."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = 12


def make_houses(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F) standardised features
    price = x @ torch.randn(FEATURES, generator=g) + 0.3 * torch.randn(n, generator=g)  # (N,)
    price = (price - price.mean()) / price.std()  # standardised target, shape (N,)
    return x, price


def model():
    return nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 1))  # (B, 1): BUG, the targets are (B,)


def train_loader(batch_size=32):
    x, y = make_houses()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
