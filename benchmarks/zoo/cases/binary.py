"""Binary classifiers (8 features, one logit per sample), each with one injected mistake."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import case
from ._common import SqueezeLast, adam, binary, gen, loader


def classifier(features: int = 8, hidden: int = 32) -> nn.Sequential:
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1), SqueezeLast())  # (N,) logits


@case("bin-sigmoid-before-bcewithlogits", "binary", "nn.Sigmoid at the end of the model, then BCEWithLogitsLoss",
      expect=("ND202",))
def _():
    x, y = binary(seed=501)
    torch.manual_seed(0)
    net = nn.Sequential(classifier(), nn.Sigmoid())
    return dict(model=net, data=loader(x, y), loss=nn.BCEWithLogitsLoss(), optimizer=adam(net))


@case("bin-labels-minus-one", "binary", "labels in {-1, +1} (an SVM convention) fed to BCEWithLogitsLoss",
      expect=("ND105",), fast=True)
def _():
    x, y = binary(seed=502)
    torch.manual_seed(0)
    net = classifier()
    return dict(model=net, data=loader(x, 2 * y - 1), loss=nn.BCEWithLogitsLoss(), optimizer=adam(net))


@case("bin-imbalance-unhandled", "binary", "3% positives, no pos_weight, no sampler, no prior bias",
      expect=("ND107",))
def _():
    x, y = binary(n=1024, positive=0.03, seed=503)
    torch.manual_seed(0)
    net = classifier()
    return dict(model=net, data=loader(x, y), loss=nn.BCEWithLogitsLoss(), optimizer=adam(net))


@case("bin-labels-shuffled", "binary", "labels shuffled on their own (a join on a wrong key)", expect=("ND109",))
def _():
    x, y = binary(seed=504)
    torch.manual_seed(0)
    net = classifier()
    return dict(model=net, data=loader(x, y[torch.randperm(len(y), generator=gen(11))]),
                loss=nn.BCEWithLogitsLoss(), optimizer=adam(net))


@case("bin-sorted-unshuffled", "binary", "negatives first, then positives, DataLoader with shuffle=False",
      expect=("ND106",))
def _():
    x, y = binary(n=1024, seed=505)
    order = torch.argsort(y, stable=True)
    torch.manual_seed(0)
    net = classifier()
    return dict(model=net, data=loader(x[order], y[order], shuffle=False), loss=nn.BCEWithLogitsLoss(),
                optimizer=adam(net))


@case("bin-bceloss-on-logits", "binary", "BCELoss on raw logits (the sigmoid was removed from the model for "
      "BCEWithLogitsLoss, the loss was not changed)", expect=("ND203", "ND308"))
def _():
    # BCELoss raises on values outside [0, 1] ("all elements of input should be between 0 and 1"), so the failing
    # loss call (ND308, with that message and the user's frame) is as right a first diagnosis as ND203.
    x, y = binary(seed=506)
    torch.manual_seed(0)
    net = classifier()
    return dict(model=net, data=loader(x, y), loss=nn.BCELoss(), optimizer=adam(net))


@case("bin-inf-feature", "binary", "a ratio feature divides by a zero denominator: +inf in some rows",
      expect=("ND101",))
def _():
    x, y = binary(seed=507)
    x = x.clone()
    x[:, 2] = x[:, 2] / (x[:, 7].abs() > 1.5).float()  # (N,) a ratio whose denominator is often 0: inf or nan
    torch.manual_seed(0)
    net = classifier()
    return dict(model=net, data=loader(x, y), loss=nn.BCEWithLogitsLoss(), optimizer=adam(net))


def _ascent_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p += 0.05 * p.grad  # BUG: a hand-written SGD update with the wrong sign
    return loss


@case("bin-manual-update-sign", "binary", "a hand-written SGD update p += lr * grad (gradient ascent) in the "
      "user's step", expect=("ND502",))
def _():
    x, y = binary(seed=508)
    torch.manual_seed(0)
    net = classifier()
    return dict(model=net, data=loader(x, y), loss=nn.BCEWithLogitsLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.05), train_step=_ascent_step)
