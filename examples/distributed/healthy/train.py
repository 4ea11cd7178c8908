"""A healthy DDP set-up: a small MLP with dropout, a DistributedSampler-sharded loader, the plain loss; nndoctor
wraps the model in DistributedDataParallel."""
from common import mlp, sharded_loader  # noqa: F401  (the config names these)

model = mlp
train_loader = sharded_loader
