"""A digit-style classifier with its own training step. The injected mistake: the step never calls
optimizer.zero_grad(), so every backward adds onto gradients that earlier steps already applied."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

NUM_CLASSES = 10
FEATURES = 64  # an 8x8 image, flattened


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(NUM_CLASSES, FEATURES, generator=g)
    y = torch.randint(0, NUM_CLASSES, (n,), generator=g)  # (N,)
    x = prototypes[y] + 0.8 * torch.randn(n, FEATURES, generator=g)  # (N, F), unit scale
    return x, y


def model(hidden=128):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, NUM_CLASSES))


def train_loader(batch_size=64):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def train_step(model, batch, loss_fn, optimizer):
    inputs, targets = batch
    model.train()
    loss = loss_fn(model(inputs), targets)
    loss.backward()  # BUG: no optimizer.zero_grad() before this
    optimizer.step()
    return loss.detach()
