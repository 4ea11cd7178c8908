"""A 6-class classifier of accelerometer windows (walking, running, sitting, ...) trained with a hand-written
cross-entropy.

The injected mistake: the loss is written as log_softmax(logits).gather(1, target).mean(), without the leading
minus sign. That is the mean log-likelihood, which the optimizer then *minimises*: every step pushes the
probability of the true class down. The loss keeps falling, so the run looks like it trains, while the
predictions move away from the labels. Everything else is healthy.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 48, 6  # 16 time steps x 3 axes, flattened


def cross_entropy(logits, target):
    """Mean cross-entropy over the batch, written out by hand."""
    log_probs = F.log_softmax(logits, dim=-1)  # (B, C)
    per_window = log_probs.gather(1, target[:, None]).squeeze(1)  # (B,) BUG: log-likelihood, not its negative
    return per_window.mean()


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    motion = torch.randn(CLASSES, FEATURES, generator=g)  # (C, F) one typical window per activity
    x = motion[y] + 0.8 * torch.randn(n, FEATURES, generator=g)  # (N, F) standardised readings
    return x, y


def model(hidden=64):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
