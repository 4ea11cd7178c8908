"""Set-ups for the launcher's tests: a rank whose own code raises, and one that hangs."""
import os
import time

from torch import nn

from common import mlp, sharded_loader  # noqa: F401  (examples/distributed/common.py, on the configs' pythonpath)

train_loader = sharded_loader


def raises_on_rank1(hidden=64):
    if os.environ.get("RANK") == "1":
        raise KeyError("vocab_rank1")  # a rank-1-only failure: rank 0 only waits for it
    return mlp(hidden)


def hangs_on_rank1(hidden=64):
    if os.environ.get("RANK") == "1":
        time.sleep(600)  # a rank that never comes: the others must not wait for it past the timeout
    return mlp(hidden)


def step_raises_on_rank1(model, batch, loss_fn, optimizer):
    x, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    if os.environ.get("RANK") == "1" and os.environ.get("WORLD_SIZE") == "2":
        raise IndexError("rank 1's step fails")
    loss.backward()
    optimizer.step()
    return loss


def plain(hidden=64):
    return nn.Sequential(nn.Linear(16, hidden), nn.ReLU(), nn.Linear(hidden, 4))
