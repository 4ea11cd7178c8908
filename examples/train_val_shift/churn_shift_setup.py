"""Customer churn from four raw account features. The injected mistake: the training loader standardises the
features with training-set statistics, the validation loader forgets to (it returns the raw columns)."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = ("age", "monthly_charges", "tenure_months", "support_calls")


def make_accounts(n=1200, seed=0):
    g = torch.Generator().manual_seed(seed)
    age = 18 + 50 * torch.rand(n, generator=g)
    charges = 20 + 100 * torch.rand(n, generator=g)
    tenure = 72 * torch.rand(n, generator=g)
    calls = torch.poisson(torch.full((n,), 2.0), generator=g)
    x = torch.stack([age, charges, tenure, calls], dim=1)  # (N, 4) raw units
    risk = 0.03 * charges - 0.05 * tenure + 0.6 * calls - 1.5
    y = (risk + 0.5 * torch.randn(n, generator=g) > 0).long()  # (N,) 1 = churned
    return x, y


def _splits():
    x, y = make_accounts()
    x_train, y_train, x_val, y_val = x[:1000], y[:1000], x[1000:], y[1000:]
    mean, std = x_train.mean(dim=0), x_train.std(dim=0)  # training-set statistics
    return (x_train - mean) / std, y_train, x_val, y_val, mean, std


def train_loader(batch_size=64):
    x, y, *_ = _splits()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def val_loader(batch_size=64):
    _, _, x_val, y_val, mean, std = _splits()
    return DataLoader(TensorDataset(x_val, y_val), batch_size=batch_size)  # BUG: (x_val - mean) / std forgotten


def model(hidden=32):
    return nn.Sequential(nn.Linear(len(FEATURES), hidden), nn.ReLU(), nn.Linear(hidden, 2))
