"""ND705: the step divides the loss by the world size, as if DDP summed the gradients; DDP averages them, so every
step is N times too small."""
from common import mlp, rank_and_world, sharded_loader  # noqa: F401

model = mlp
train_loader = sharded_loader


def train_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y) / rank_and_world()[1]  # bug: DDP already averages the gradients
    loss.backward()
    optimizer.step()
    return loss
