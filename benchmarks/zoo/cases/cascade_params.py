"""Parameters the optimizer never updates, one mistake each, whose report also shows what it causes: the batch that
cannot be fitted (ND501) ranked below the parameters left out of the optimizer (ND403) or held outside the model's
registry (ND410)."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import case
from ._common import blobs, loader, mlp


def _pretrained(x, y, steps: int = 15):
    """An MLP trained for a while on the data: its encoder's features separate the classes, so a linear probe on
    them (a new head alone) fits a small batch quickly."""
    net = mlp()
    opt = torch.optim.Adam(net.parameters(), lr=2e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net


@case("mlp-head-swapped-after-optimizer", "mlp", "a 'pretrained' MLP frozen for a linear probe, the optimizer built, "
      "and only then the new task's head swapped in: the one trainable layer is in no param group",
      expect=("ND403",), shows=(("ND403", "ND501"), ("ND403", "ND408"), ("ND408", "ND501")))
def _():
    x, y = blobs(n=160, seed=41)  # a small fine-tuning set
    torch.manual_seed(0)
    net = _pretrained(x, y)  # a pretrained encoder with its old head
    for p in net.parameters():
        p.requires_grad_(False)  # a linear probe: only the new head should train
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)  # built too early: it holds the old head
    net[4] = nn.Linear(32, 4)  # the new task's head, trainable, but no optimizer holds it
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=optimizer)


class _Expert(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp(hidden=16)

    def forward(self, x):
        return self.net(x)  # (N, C)


class _MixtureOfExperts(nn.Module):
    """A gated mixture whose experts are kept in a plain Python list: only the gate is a registered module."""

    def __init__(self, experts: int = 4):
        super().__init__()
        self.gate = nn.Linear(10, experts)
        self.experts = [_Expert() for _ in range(experts)]  # should be nn.ModuleList

    def forward(self, x):
        weights = torch.softmax(self.gate(x), dim=-1)  # (N, E)
        outs = torch.stack([e(x) for e in self.experts], dim=1)  # (N, E, C)
        return (weights.unsqueeze(-1) * outs).sum(dim=1)  # (N, E, 1) * (N, E, C) -> (N, C)


@case("mlp-experts-in-list", "mlp", "a mixture of experts whose experts are kept in a Python list instead of "
      "nn.ModuleList: only the gate trains, mixing four fixed random experts",
      expect=("ND410",), shows=(("ND410", "ND501"),))
def _():
    x, y = blobs(seed=42)
    torch.manual_seed(0)
    net = _MixtureOfExperts()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.Adam(net.parameters(), lr=3e-3))
