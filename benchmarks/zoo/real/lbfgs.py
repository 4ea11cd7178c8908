"""LBFGS sequence regression, modelled on the PyTorch time_sequence_prediction example: two LSTMCells unrolled
over sine waves, a linear read-out, MSELoss, `torch.optim.LBFGS(lr=0.8)` stepped with a closure, everything in
double precision. The model predicts the next value of each wave from the values so far.

Tiny sizes (16 waves of 12 steps, 8 hidden units, max_iter 3 per step) keep a case near a second on CPU.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..cases._common import gen, loader
from ..registry import case

HIDDEN = 8
STEPS = 12
PERIOD = 20.0  # the example's sine period, in steps


class Sequence(nn.Module):
    """Two stacked LSTMCells unrolled over the time axis of a (B, T) batch of scalar values; the states start at
    zero on every call, as in the example."""

    def __init__(self, hidden: int = HIDDEN):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, x):  # (B, T) -> (B, T)
        b = x.size(0)
        h1 = x.new_zeros(b, self.hidden)
        c1 = x.new_zeros(b, self.hidden)
        h2 = x.new_zeros(b, self.hidden)
        c2 = x.new_zeros(b, self.hidden)
        outputs = []
        for value in x.split(1, dim=1):  # (B, 1) per step
            h1, c1 = self.lstm1(value, (h1, c1))
            h2, c2 = self.lstm2(h1, (h2, c2))
            outputs.append(self.linear(h2))
        return torch.cat(outputs, dim=1)  # (B, T)


def waves(n: int = 16, steps: int = STEPS, seed: int = 0, scale: float = 1.0):
    """Sine waves with random phase (the example's generate_sine_wave.py): inputs x[:, :-1], targets x[:, 1:]."""
    g = gen(seed)
    shift = torch.randint(-4 * int(PERIOD), 4 * int(PERIOD), (n, 1), generator=g).double()
    t = torch.arange(steps + 1, dtype=torch.float64).unsqueeze(0)  # (1, T+1)
    x = scale * torch.sin((t + shift) / PERIOD * 2 * math.pi / 6.28)  # (N, T+1) float64
    return x[:, :-1].contiguous(), x[:, 1:].contiguous()


def _model():
    torch.manual_seed(0)
    return Sequence().double()


def _lbfgs(net, lr=0.8):
    return torch.optim.LBFGS(net.parameters(), lr=lr, max_iter=3)


def _closure_step(model, batch, loss_fn, optimizer):
    """The example's step: a closure that zeroes the gradients, runs forward, loss and backward, and returns the
    loss; LBFGS evaluates it several times per step."""
    x, y = batch
    model.train()

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    return optimizer.step(closure)


def _closure_without_zero_grad(model, batch, loss_fn, optimizer):
    # Users report LBFGS "not working" when zero_grad is called once outside the closure instead of inside it:
    # the line search then sees gradients summed over its evaluations. Lightning had this bug in its own loop:
    # https://github.com/Lightning-AI/pytorch-lightning/pull/6147 (fixes issue #4083, "LBFGS doesn't work").
    x, y = batch
    model.train()
    optimizer.zero_grad()

    def closure():
        loss = loss_fn(model(x), y)
        loss.backward()  # BUG: adds to the gradients of the previous evaluation
        return loss

    return optimizer.step(closure)


def _forward_outside_closure(model, batch, loss_fn, optimizer):
    # The forward pass made once outside the closure, the closure reusing its output: the second evaluation
    # backwards through a freed graph ("Trying to backward through the graph a second time"), and the loss the
    # line search sees never changes. https://github.com/pytorch/pytorch/issues/111369
    x, y = batch
    model.train()
    pred = model(x)  # BUG: must be computed inside the closure

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(pred, y)
        loss.backward()
        return loss

    return optimizer.step(closure)


@case("lbfgs-sine-healthy", "lbfgs", "two LSTMCells on sine waves, MSELoss, LBFGS(lr=0.8) in double precision, "
      "no train_step: nndoctor builds the closure", healthy=True)
def _():
    x, y = waves(seed=901)
    net = _model()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=nn.MSELoss(), optimizer=_lbfgs(net))


@case("lbfgs-sine-closure-step", "lbfgs", "the same, trained by the example's own step: optimizer.step(closure)",
      healthy=True)
def _():
    x, y = waves(seed=902)
    net = _model()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=nn.MSELoss(), optimizer=_lbfgs(net),
                train_step=_closure_step)


@case("lbfgs-closure-without-zero-grad", "lbfgs", "zero_grad once before step(closure), not inside the closure: "
      "the line search's evaluations add their gradients up", expect=("ND409",))
def _():
    x, y = waves(seed=903)
    net = _model()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=nn.MSELoss(), optimizer=_lbfgs(net),
                train_step=_closure_without_zero_grad)


@case("lbfgs-forward-outside-closure", "lbfgs", "the forward pass made once outside the closure: the second "
      "evaluation backwards through a freed graph", expect=("ND308",))
def _():
    x, y = waves(seed=904)
    net = _model()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=nn.MSELoss(), optimizer=_lbfgs(net),
                train_step=_forward_outside_closure)
