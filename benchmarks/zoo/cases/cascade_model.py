"""Model mistakes whose findings come in a causal cascade: one bad initialisation, several codes, the cause first.

Each case plants one mistake as people write it (a loop that initialises every layer the same wrong way) and
declares the pairs of the causal table (nndoctor/catalogue/causes.py) that its report shows, the cause ranked
above the effect: a scale that collapses over depth saturates the sigmoids (ND305 -> ND304), saturated units cut
the signal and the gradients (ND304 -> ND301, ND404, ND501), dead ReLUs leave a constant, off-chance output
(ND303 -> ND301, ND201), an exploding scale makes the real inputs worse than none held out (ND305 -> ND109).
"""
from __future__ import annotations

import torch
from torch import nn

from ..registry import case
from ._common import SqueezeLast, adam, binary, blobs, loader


def _stack(widths: list[int], act, features: int = 10, outputs: int = 4) -> nn.Sequential:
    """Linear + activation per hidden width, then a Linear head."""
    layers, prev = [], features
    for w in widths:
        layers += [nn.Linear(prev, w), act()]
        prev = w
    return nn.Sequential(*layers, nn.Linear(prev, outputs))


@case("mlp-sigmoid-uniform-init", "mlp", "a 4-layer sigmoid MLP initialised with p.data.uniform_() on every "
      "parameter (meant uniform_(-0.1, 0.1); the defaults draw from [0, 1), all positive): each layer sums "
      "positive inputs with positive weights, the sigmoids sit at 1 and the output no longer depends on the input",
      expect=("ND305", "ND304"),
      shows=(("ND305", "ND304"), ("ND304", "ND301"), ("ND304", "ND404"), ("ND304", "ND501"),
             ("ND301", "ND201")))
def _():
    x, y = blobs(seed=905)
    torch.manual_seed(0)
    net = _stack([32, 32, 32, 48], nn.Sigmoid)
    for p in net.parameters():
        p.data.uniform_()  # BUG: [0, 1) by default
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-relu-init-std-001", "mlp", "a 6-layer ReLU MLP with every weight drawn from N(0, 0.01) (an old fixed-std "
      "recipe) and PyTorch's default biases: the signal shrinks 25x per layer, the biases take over and the units "
      "whose bias is negative never fire", expect=("ND305",),
      shows=(("ND305", "ND303"), ("ND303", "ND404")))
def _():
    x, y = blobs(seed=902)
    torch.manual_seed(0)
    net = _stack([32] * 6, nn.ReLU)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)  # BUG: std 0.01 whatever the fan-in (Kaiming: sqrt(2 / 32) = 0.25)
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("bin-bias-minus-five-everywhere", "binary", "the 'sparse ReLU' bias of -5 set by a loop over every Linear, the "
      "output layer's included: every hidden unit is dead, and the constant logit left is -5 (p = 0.007 on "
      "balanced labels)", expect=("ND303",),
      shows=(("ND301", "ND201"),))
def _():
    x, y = binary(seed=903)
    torch.manual_seed(0)
    net = nn.Sequential(_stack([32, 32], nn.ReLU, features=8, outputs=1), SqueezeLast())  # (N,) logits
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.bias, -5.0)  # BUG: meant for the hidden layers, and even there it kills them
    return dict(model=net, data=loader(x, y), loss=nn.BCEWithLogitsLoss(), optimizer=adam(net))


@case("mlp-relu-randn-init", "mlp", "a 6-layer ReLU MLP whose weights are raw torch.randn (std 1, no 1/sqrt(fan_in)): "
      "the activations grow 4x per layer, the logits start in the thousands, and what the model fits on its "
      "training samples does far worse than no input at all on new ones", expect=("ND305",),
      shows=(("ND305", "ND109"),))
def _():
    x, y = blobs(seed=904)
    torch.manual_seed(0)
    net = _stack([32] * 6, nn.ReLU)
    for m in net:
        if isinstance(m, nn.Linear):
            m.weight.data = torch.randn_like(m.weight)  # BUG: std 1 whatever the fan-in
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))
