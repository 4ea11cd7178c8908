"""ND707: a model with BatchNorm trained with 4 samples per rank and plain (unsynchronised) BatchNorm: each rank
normalises over its 4 samples (pytorch forums, "BatchNorm with DDP and a small batch per GPU: use
SyncBatchNorm")."""
from torch import nn

from common import FEATURES, NUM_CLASSES, sharded_loader  # noqa: F401

train_loader = sharded_loader


def model(hidden=64):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, NUM_CLASSES))
