"""ND709: the step waits at a barrier on rank 0 only (meant to let rank 0 "save a checkpoint while the others
wait"), so rank 0 waits in a collective the other ranks never call: the job hangs until the process group's
timeout."""
import torch.distributed as dist

from common import mlp, rank_and_world, sharded_loader  # noqa: F401

model = mlp
train_loader = sharded_loader


def train_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    if rank_and_world()[0] == 0:
        dist.barrier()  # bug: a collective on one rank only
    return loss
