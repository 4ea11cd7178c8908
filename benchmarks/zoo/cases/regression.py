"""MLP regressors (8 features, one target), each with one injected mistake."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import case
from ._common import SqueezeLast, adam, gen, linear_regression, loader


def regressor(features: int = 8, hidden: int = 32, squeeze: bool = True) -> nn.Sequential:
    tail = [SqueezeLast()] if squeeze else []
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1), *tail)  # (N,) or (N, 1)


@case("reg-output-n1-target-n", "regression", "the model returns (N, 1) and the targets are (N,): MSELoss "
      "broadcasts to (N, N)", expect=("ND204",), fast=True)
def _():
    x, y = linear_regression(seed=401)
    torch.manual_seed(0)
    net = regressor(squeeze=False)
    return dict(model=net, data=loader(x, y), loss=nn.MSELoss(), optimizer=adam(net))


@case("reg-price-targets-unscaled", "regression", "house prices in dollars (mean 3e5) as raw targets, output bias "
      "left at zero", expect=("ND105",))
def _():
    x, y = linear_regression(seed=402)
    torch.manual_seed(0)
    net = regressor()
    return dict(model=net, data=loader(x, 300_000.0 + 80_000.0 * y), loss=nn.MSELoss(), optimizer=adam(net))


@case("reg-raw-features", "regression", "features in raw units (square metres, years, dollars)",
      expect=("ND103",))
def _():
    x, y = linear_regression(seed=403)
    scale = torch.tensor([120.0, 30.0, 2000.0, 5.0, 15000.0, 80.0, 3.0, 400.0])  # (F,)
    torch.manual_seed(0)
    net = regressor()
    return dict(model=net, data=loader(x * scale + 2 * scale, y), loss=nn.MSELoss(), optimizer=adam(net))


@case("reg-nan-targets", "regression", "missing target values stored as NaN", expect=("ND104",))
def _():
    x, y = linear_regression(seed=404)
    y = y.clone()
    y[torch.randperm(len(y), generator=gen(5))[:25]] = float("nan")
    torch.manual_seed(0)
    net = regressor()
    return dict(model=net, data=loader(x, y), loss=nn.MSELoss(), optimizer=adam(net))


@case("reg-relu-output", "regression", "a ReLU after the output layer while a third of the targets are negative",
      expect=("ND205",))
def _():
    x, y = linear_regression(seed=405)
    torch.manual_seed(0)
    net = nn.Sequential(regressor(squeeze=False), nn.ReLU(), SqueezeLast())
    return dict(model=net, data=loader(x, y - 0.4), loss=nn.MSELoss(), optimizer=adam(net))


@case("reg-target-in-features", "regression", "the target column left among the features",
      expect=("ND111",))
def _():
    x, y = linear_regression(seed=406)
    x_leak = torch.cat([x[:, :5], y[:, None], x[:, 5:]], dim=1)  # (N, F+1): column 5 is the target
    torch.manual_seed(0)
    net = regressor(features=9)
    return dict(model=net, data=loader(x_leak, y), loss=nn.MSELoss(), optimizer=adam(net))


@case("reg-sgd-lr-too-low", "regression", "SGD with lr=1e-6", expect=("ND407",))
def _():
    x, y = linear_regression(seed=407)
    torch.manual_seed(0)
    net = regressor()
    return dict(model=net, data=loader(x, y), loss=nn.MSELoss(), optimizer=torch.optim.SGD(net.parameters(),
                                                                                             lr=1e-6))


@case("reg-val-other-scaler", "regression", "the km-to-m unit change of one feature applied to the validation "
      "split only", expect=("ND110",))
def _():
    x, y = linear_regression(n=768, seed=408)
    xt, yt, xv, yv = x[:512], y[:512], x[512:], y[512:]
    xv = xv * torch.tensor([1000.0, 1, 1, 1, 1, 1, 1, 1])  # the first feature in metres on this split only
    torch.manual_seed(0)
    net = regressor()
    return dict(model=net, data=loader(xt, yt), val_data=loader(xv, yv, shuffle=False), loss=nn.MSELoss(),
                optimizer=adam(net))
