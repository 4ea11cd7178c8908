"""A tabular classifier with BatchNorm and dropout and its own training step. The injected mistake: the step
switches the model to eval mode to log the batch accuracy and then computes the training loss from that same
eval-mode forward, so dropout is off and BatchNorm never updates its statistics."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

NUM_CLASSES = 5
FEATURES = 20


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F)
    y = (x @ torch.randn(FEATURES, NUM_CLASSES, generator=g)).argmax(dim=1)  # (N,)
    return x, y


def model(hidden=64):
    return nn.Sequential(
        nn.Linear(FEATURES, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(hidden, NUM_CLASSES),
    )


def train_loader(batch_size=64):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def train_step(model, batch, loss_fn, optimizer):
    inputs, targets = batch
    optimizer.zero_grad(set_to_none=True)
    model.eval()  # BUG: meant for the accuracy below, but the training loss is computed from this forward
    logits = model(inputs)
    accuracy = (logits.argmax(dim=1) == targets).float().mean()
    loss = loss_fn(logits, targets)
    loss.backward()
    optimizer.step()
    return loss.detach(), accuracy
