"""A spam filter on 20 standardised message features (binary target, shape (N, 1)). The injected mistake: the
model returns raw logits and the loss is BCELoss, which expects probabilities; BCELoss raises on values outside
[0, 1], so the first training step crashes deep inside torch."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = 20


def make_messages(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F) standardised features
    w = torch.randn(FEATURES, 1, generator=g)
    y = ((x @ w + 0.5 * torch.randn(n, 1, generator=g)) > 0).float()  # (N, 1) spam or not
    return x, y


def model():
    return nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, 1))  # BUG: no nn.Sigmoid for BCELoss


def train_loader(batch_size=32):
    x, y = make_messages()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
