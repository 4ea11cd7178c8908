"""ND706: an auxiliary head computed on rank 0 only (to save the other ranks the work): on the other ranks its
parameters get no gradient, and DDP, without find_unused_parameters, raises "Expected to have finished reduction
in the prior iteration" on the next step or hangs."""
from torch import nn

from common import FEATURES, NUM_CLASSES, rank_and_world, sharded_loader  # noqa: F401

train_loader = sharded_loader


class WithAuxHead(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, NUM_CLASSES)
        self.aux = nn.Linear(hidden, NUM_CLASSES)
        self.use_aux = rank_and_world()[0] == 0  # bug: the branch a rank takes decides which parameters train

    def forward(self, x):
        h = self.body(x)
        out = self.head(h)
        return out + 0.1 * self.aux(h) if self.use_aux else out


model = WithAuxHead
