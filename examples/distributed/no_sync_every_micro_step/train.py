"""ND704: gradient accumulation with every micro-step's backward under `no_sync()`, the last one included, so the
gradients are never averaged and each rank steps with its own (pytorch forums, "no_sync() gradient accumulation:
gradients differ across ranks")."""
import contextlib

from common import mlp, sharded_loader  # noqa: F401

model = mlp
train_loader = sharded_loader
MICRO_STEPS = 2


def train_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    optimizer.zero_grad()
    total = 0.0
    for xs, ys in zip(x.chunk(MICRO_STEPS), y.chunk(MICRO_STEPS)):
        sync_off = model.no_sync() if hasattr(model, "no_sync") else contextlib.nullcontext()
        with sync_off:  # bug: the last micro-step should run outside no_sync() to average the gradients
            loss = loss_fn(model(xs), ys) / MICRO_STEPS
            loss.backward()
        total += float(loss)
    optimizer.step()
    return total
