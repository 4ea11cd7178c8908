"""Loss wiring mistakes whose one fault shows as a chain of findings: the wiring (ND202-ND205) ranked above the
symptoms it causes downstream (a step too small, a NaN, a dead output, a loss that raises).

Each case plants one mistake as people make it; `shows` names the causal pairs (nndoctor/catalogue/causes.py)
that its report exhibits, cause above effect.
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import case
from ._common import SqueezeLast, binary, blobs, loader, mlp


def _binary_net(final: nn.Module | None = None) -> nn.Sequential:
    """8 features -> one logit per sample, (N,), optionally through `final` first."""
    layers = [nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1)]
    return nn.Sequential(*layers, *([final] if final is not None else []), SqueezeLast())  # (N,)


@case("mlp-softmax-1000-classes-sgd", "mlp", "a 1000-way head ends in nn.Softmax before CrossEntropyLoss, trained "
      "with plain SGD(lr=0.01): the second softmax divides every gradient by the number of classes",
      expect=("ND202",), shows=(("ND202", "ND407"), ("ND202", "ND501")))
def _():
    # At initialisation the probabilities are close to 1/C, and the Jacobian of the loss's own softmax taken at
    # them, diag(p) - p p^T, maps the usual gradient (q - onehot) to (q - onehot) / C: the same network without the
    # softmax steps about 1e-3 of its weights under this SGD, with it 1000 times less (below 1e-6 on every layer).
    # Adam would hide it (it normalises the gradient); SGD applies it as it is. A small sample (160) keeps it fast.
    x, y = blobs(n=160, classes=1000, seed=702)
    torch.manual_seed(0)
    net = nn.Sequential(mlp(classes=1000), nn.Softmax(dim=1))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.01))


@case("mlp-nll-on-logits-sgd", "mlp", "NLLLoss on raw logits (log_softmax forgotten), trained with SGD(lr=0.1, "
      "momentum=0.9): the loss, -mean(logit of the label), has no lower bound and the logits run off to infinity",
      expect=("ND203",), shows=(("ND203", "ND503"), ("ND203", "ND306"), ("ND203", "ND201")))
def _():
    # -z_y rewards ever larger logits, and through a stack of Linear layers the growth feeds itself (each layer's
    # gradient scales with the others' weights), so under SGD the logits overflow to Inf within tens of steps.
    # This initialisation starts the one-batch loss below its floor 0 (the mean of -z_y at init has either sign):
    # there is no target to pass, so overfit-one-batch trains on until the loss is -inf (ND503), where a positive
    # start would pass the target first and be told as a loss falling without bound (ND502, mlp-nll-on-logits).
    x, y = blobs(seed=701)
    torch.manual_seed(1)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=nn.NLLLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9))


@case("bin-relu-on-single-logit", "binary", "nn.ReLU after the one output logit, then BCEWithLogitsLoss: at this "
      "initialisation the logit is negative on every sample, so the output is 0 everywhere and nothing trains "
      "(the 'loss stuck at 0.693' of the forums)",
      expect=("ND205",), shows=(("ND205", "ND303"), ("ND205", "ND301"), ("ND205", "ND401"), ("ND205", "ND501")))
def _():
    # A single ReLU'd logit dies with the sign of its pre-activation, which the hidden ReLU features (all >= 0,
    # with a common mean) make the same on most samples: 22 of the first 200 seeds of this net start with it
    # negative on all 512 samples (seed 10 among them, at most -0.04), more die in the first steps. Dead, it passes no
    # gradient to any layer: the output is constant, every parameter's gradient is exactly zero.
    x, y = binary(seed=703)
    torch.manual_seed(10)
    net = _binary_net(nn.ReLU())
    return dict(model=net, data=loader(x, y), loss=nn.BCEWithLogitsLoss(),
                optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))


@case("bin-output-n1-bcewithlogits", "binary", "the binary head returns (N, 1) logits (no squeeze) against (N,) float "
      "labels: BCEWithLogitsLoss refuses the shapes and raises", expect=("ND204",), shows=(("ND204", "ND308"),))
def _():
    x, y = binary(seed=704)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))  # (N, 1)
    return dict(model=net, data=loader(x, y), loss=nn.BCEWithLogitsLoss(),
                optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))


@case("mlp-softmax-into-nll-sgd", "mlp", "nn.Softmax (not LogSoftmax) before NLLLoss, SGD(lr=0.01)",
      expect=("ND203",), shows=(("ND203", "ND501"),))
def _():
    # NLLLoss on probabilities is -mean(p_y): its gradient is p_y (about 1/C at the start) times cross-entropy's,
    # so plain SGD crawls on one batch while the reference (Adam) fits it.
    x, y = blobs(classes=10, seed=705)
    torch.manual_seed(0)
    net = nn.Sequential(mlp(classes=10), nn.Softmax(dim=1))
    return dict(model=net, data=loader(x, y), loss=nn.NLLLoss(), optimizer=torch.optim.SGD(net.parameters(), lr=0.01))
