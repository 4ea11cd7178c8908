"""ND708: the model factory calls set_seed(42) on every rank (for reproducible initialisation), and training
goes on from there: dropout draws the same masks on every rank (transformers#37932)."""
import random

import numpy as np
import torch

from common import mlp, sharded_loader  # noqa: F401

train_loader = sharded_loader


def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def model(hidden=64):
    set_seed(42)  # bug: the same seed on every rank, never reseeded with the rank
    return mlp(hidden, dropout=0.3)
