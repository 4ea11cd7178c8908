"""Linear regression with Adam, as the PyTorch tutorials and countless notebooks write it: `nn.Linear(5, 1)`,
MSELoss with `reduction='mean'` or `'sum'`, `torch.optim.Adam(lr=0.1)`, standardised features and true weights
of about 5 (far from the init near 0.3, so every step is large against the initial weights and yet healthy).

Adam divides the gradient by its own running scale, so a sum-reduced loss (a gradient 32 times the mean's) makes
the same steps: neither the large gradient-to-weight ratio nor the large update ratio is a finding here.
"""
from __future__ import annotations

import torch
from torch import nn

from ..cases._common import gen, loader
from ..registry import case

FEATURES = 5
TRUE_WEIGHTS = (5.0, -4.0, 3.0, 6.0, -5.0)
TRUE_BIAS = 2.0


def data(n: int = 256, seed: int = 0, scales=None):
    """y = x w + b + noise with w of about 5; `scales` multiplies the raw features (unscaled units)."""
    g = gen(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F) standardised
    y = x @ torch.tensor(TRUE_WEIGHTS).unsqueeze(1) + TRUE_BIAS + 0.1 * torch.randn(n, 1, generator=g)  # (N, 1)
    if scales is not None:
        x = x * torch.tensor(scales) + torch.tensor(scales)  # raw units: house size in ft^2, year built...
    return x, y


def _adam(net, lr=0.1):
    return torch.optim.Adam(net.parameters(), lr=lr)


def _linear():
    torch.manual_seed(0)
    return nn.Linear(FEATURES, 1)


@case("regression-adam-mean", "regression-adam", "nn.Linear(5, 1), MSELoss (mean), Adam(lr=0.1); the weights must "
      "travel to about 5 from an init near 0.3", healthy=True)
def _():
    x, y = data(seed=911)
    net = _linear()
    return dict(model=net, data=loader(x, y), loss=nn.MSELoss(), optimizer=_adam(net))


@case("regression-adam-sum", "regression-adam", "the same with MSELoss(reduction='sum'): a gradient 32x the "
      "mean's, the same Adam steps", healthy=True)
def _():
    x, y = data(seed=912)
    net = _linear()
    return dict(model=net, data=loader(x, y), loss=nn.MSELoss(reduction="sum"), optimizer=_adam(net))


@case("regression-adam-unscaled-features", "regression-adam", "raw features in their own units (thousands, "
      "hundreds, ones) fed unstandardised", expect=("ND103",))
def _():
    # Features left in raw units make the loss climb and the weights blow up; the answer is "normalize your data":
    # https://stackoverflow.com/questions/66143829/pytorch-linear-regression-with-squared-features
    x, y = data(seed=913, scales=(2000.0, 1.0, 300.0, 40.0, 1.0))
    net = _linear()
    return dict(model=net, data=loader(x, y), loss=nn.MSELoss(), optimizer=_adam(net))


@case("regression-adam-target-broadcast", "regression-adam", "targets of shape (N,) against the (N, 1) output: "
      "MSELoss broadcasts to (N, N) and the model learns the mean", expect=("ND204",))
def _():
    # A linear regression whose loss never reaches the optimum, targets (N,) against outputs (N, 1):
    # https://github.com/pytorch/pytorch/issues/16045
    x, y = data(seed=914)
    net = _linear()
    return dict(model=net, data=loader(x, y.squeeze(1)), loss=nn.MSELoss(), optimizer=_adam(net))
