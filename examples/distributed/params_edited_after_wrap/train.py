"""ND703: the wrap function builds DDP, then loads "pretrained" weights on rank 0 only: DDP broadcast rank 0's
state when it was built, not after, so the ranks hold different models from the first step on (pytorch forums,
"Loading a checkpoint after wrapping in DDP on rank 0 only")."""
import torch
from torch.nn.parallel import DistributedDataParallel

from common import mlp, rank_and_world, sharded_loader  # noqa: F401

model = mlp
train_loader = sharded_loader


def pretrained_state(module):
    g = torch.Generator().manual_seed(123)
    return {k: torch.randn(v.shape, generator=g) * 0.1 for k, v in module.state_dict().items()}


def wrap(model):
    ddp = DistributedDataParallel(model)
    if rank_and_world()[0] == 0:  # the checkpoint is read on rank 0 only, after wrapping
        ddp.module.load_state_dict(pretrained_state(ddp.module))
    return ddp
