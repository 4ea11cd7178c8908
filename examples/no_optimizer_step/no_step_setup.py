"""A sentiment-style classifier over bag-of-words features with its own training step. The injected mistake:
the step clips the gradients and returns, but optimizer.step() is never called, so the weights never move."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB = 200


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    polarity = torch.randn(VOCAB, generator=g)
    counts = torch.poisson(torch.full((n, VOCAB), 0.05), generator=g)  # (N, V) word counts
    y = (counts @ polarity > 0).long()  # (N,)
    x = torch.log1p(counts)  # (N, V)
    return x, y


def model(hidden=64):
    return nn.Sequential(nn.Linear(VOCAB, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def train_loader(batch_size=64):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def train_step(model, batch, loss_fn, optimizer):
    inputs, targets = batch
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    return loss.item()  # BUG: optimizer.step() is missing
