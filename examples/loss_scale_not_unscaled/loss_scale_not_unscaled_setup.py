"""A delivery-time regression (minutes, standardised) from 14 standardised order features, with its own
training step that applies a static loss scale, copied from a float16 recipe.

The injected mistake: the step multiplies the loss by 2**16 before backward, so that small float16 gradients do
not underflow, but never divides the gradients by the scale again before optimizer.step() (torch.amp's
GradScaler does both). Every SGD step is therefore 65536 times too large: the weights blow up within a few steps
and the loss overflows to Inf, then NaN, although the forward pass at initialisation is perfectly finite.
Everything else is healthy: unit-scale inputs and targets, shuffled data, a plain MLP and a sensible lr.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = 14
LOSS_SCALE = 2.0 ** 16  # static loss scale, as for float16 training


def model(hidden=64):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


def train_loader(batch_size=32, n=640, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F) standardised features
    w = torch.randn(FEATURES, 1, generator=g) / FEATURES ** 0.5
    y = torch.tanh(x @ w) + 0.3 * torch.randn(n, 1, generator=g)  # (N, 1) standardised delivery time
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))


def train_step(model, batch, loss_fn, optimizer):
    inputs, targets = batch
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(inputs), targets)
    (loss * LOSS_SCALE).backward()  # scaled so that small float16 gradients do not underflow
    # BUG: the gradients still carry the scale: they must be divided by LOSS_SCALE before the step
    optimizer.step()
    return loss.detach()
