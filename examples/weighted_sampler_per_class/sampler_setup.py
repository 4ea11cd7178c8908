"""An imbalanced four-class problem, rebalanced with a WeightedRandomSampler. The injected mistake: the sampler
is given one weight per class (1 / class count) instead of one per sample, so it only ever draws the
samples at indices 0..3."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

NUM_CLASSES = 4
FEATURES = 12


def make_data(n=3000, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.multinomial(torch.tensor([0.7, 0.15, 0.1, 0.05]), n, replacement=True, generator=g)  # (N,)
    centres = 2 * torch.randn(NUM_CLASSES, FEATURES, generator=g)
    x = centres[y] + torch.randn(n, FEATURES, generator=g)  # (N, F)
    return x, y


def train_loader(batch_size=64):
    x, y = make_data()
    class_weights = 1.0 / torch.bincount(y, minlength=NUM_CLASSES).double()  # (C,)
    sampler = WeightedRandomSampler(class_weights, num_samples=len(y), replacement=True)  # BUG: needs (N,)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, sampler=sampler)


def model(hidden=64):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, NUM_CLASSES))
