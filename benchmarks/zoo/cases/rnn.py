"""LSTM and GRU sequence classifiers on (B, T=12, F=4) sequences (3 classes), each with one injected mistake."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import case
from ._common import gen, loader, sequences


class SeqClassifier(nn.Module):
    """An LSTM (or GRU) over (B, T, F) and a linear head on the last time step."""

    def __init__(self, features=4, hidden=24, classes=3, cell=nn.LSTM, batch_first=True, layers=1):
        super().__init__()
        self.rnn = cell(features, hidden, num_layers=layers, batch_first=batch_first)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):  # x: (B, T, F)
        out, _ = self.rnn(x)  # (B, T, H) when batch_first
        return self.head(out[:, -1])  # (B, C)


def _adam(model, lr=3e-3):
    return torch.optim.Adam(model.parameters(), lr=lr)


@case("rnn-lstm-not-batch-first", "rnn", "nn.LSTM built without batch_first=True, fed (B, T, F) batches",
      expect=("ND302",), fast=True)
def _():
    x, y = sequences(seed=201)
    torch.manual_seed(0)
    net = SeqClassifier(batch_first=False)  # the LSTM reads dim 0 (the batch) as time: samples mix
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=_adam(net))


class _ViewToTimeMajor(nn.Module):
    """A time-major GRU fed with x.view(T, B, F) instead of x.transpose(0, 1)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 24)  # time-major: (T, B, F)
        self.head = nn.Linear(24, 3)

    def forward(self, x):  # x: (B, T, F)
        b, t, f = x.shape
        out, _ = self.rnn(x.view(t, b, f))  # BUG: meant x.transpose(0, 1); (T, B, F) with samples mixed
        return self.head(out[-1])  # (B, C)


@case("rnn-view-not-transpose", "rnn", "x.view(T, B, F) instead of x.transpose(0, 1) before a time-major GRU",
      expect=("ND302",))
def _():
    x, y = sequences(seed=202)
    torch.manual_seed(0)
    net = _ViewToTimeMajor()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=_adam(net))


@case("rnn-raw-sensor-units", "rnn", "sensor sequences in raw units (hundreds to thousands), not standardised",
      expect=("ND103",))
def _():
    x, y = sequences(seed=203)
    scale = torch.tensor([900.0, 40.0, 1500.0, 250.0])  # (F,) each channel in its own unit
    torch.manual_seed(0)
    net = SeqClassifier()
    return dict(model=net, data=loader(x * scale + 2 * scale, y), loss=nn.CrossEntropyLoss(), optimizer=_adam(net))


class _DetachedRNN(SeqClassifier):
    def forward(self, x):  # x: (B, T, F)
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1].detach())  # BUG: a .detach() left from truncated BPTT: the LSTM never learns


@case("rnn-detached-state", "rnn", "the LSTM output is .detach()ed before the head (misplaced truncated BPTT)",
      expect=("ND401",))
def _():
    x, y = sequences(seed=204)
    torch.manual_seed(0)
    net = _DetachedRNN()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=_adam(net))


@case("rnn-sorted-unshuffled", "rnn", "sequences sorted by class, DataLoader with shuffle=False",
      expect=("ND106",))
def _():
    x, y = sequences(n=768, seed=205)
    order = torch.argsort(y, stable=True)
    torch.manual_seed(0)
    net = SeqClassifier()
    return dict(model=net, data=loader(x[order], y[order], shuffle=False), loss=nn.CrossEntropyLoss(),
                optimizer=_adam(net))


class ReluRNN(SeqClassifier):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(4, 24, nonlinearity="relu", batch_first=True)


@case("rnn-exploding-recurrence", "rnn", "a ReLU RNN over 40 steps with recurrent weights initialised at "
      "2 x orthogonal (meant: identity, IRNN): activations and gradients explode", expect=("ND405", "ND305"))
def _():
    x, y = sequences(n=512, steps=40, seed=206)
    torch.manual_seed(0)
    net = ReluRNN()
    with torch.no_grad():
        nn.init.orthogonal_(net.rnn.weight_hh_l0, gain=2.0)  # the hidden norm grows ~1e5x over 40 steps
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.01))


class WideReluRNN(nn.Module):
    """nn.RNN(nonlinearity="relu") with 64 units and a linear head on the last time step."""

    def __init__(self, features=4, hidden=64, classes=3):
        super().__init__()
        self.rnn = nn.RNN(features, hidden, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):  # x: (B, T, F)
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1])  # (B, C)


def _scaled_recurrence(seed):
    """A 64-unit ReLU RNN over 40 steps whose default recurrent weights were scaled up 2.9x (to carry memory
    further): the forward state grows only ~9x, inside ND305's band, but the gradient grows ~1.1x per step back in
    time, ~50x over the sequence (ND405 through time)."""
    x, y = sequences(n=512, steps=40, seed=seed)
    torch.manual_seed(0)
    net = WideReluRNN()
    with torch.no_grad():
        net.rnn.weight_hh_l0.mul_(2.9)
    return net, x, y


@case("rnn-relu-recurrence-scaled-adam", "rnn", "a ReLU RNN whose recurrent weights were scaled up 2.9x, trained "
      "with Adam: the gradient explodes back through time (was reported as ND109 only)", expect=("ND405",))
def _():
    net, x, y = _scaled_recurrence(209)
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=_adam(net, lr=1e-3))


@case("rnn-relu-recurrence-scaled-sgd", "rnn", "the same recurrence with SGD at 0.1: the update ratio is far too "
      "high, and that is the exploding gradient's doing (was reported as ND407 first)", expect=("ND405",))
def _():
    net, x, y = _scaled_recurrence(210)
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.1))


@case("rnn-labels-shuffled", "rnn", "labels re-shuffled on their own when the dataset was split",
      expect=("ND109",))
def _():
    x, y = sequences(seed=207)
    torch.manual_seed(0)
    net = SeqClassifier()
    return dict(model=net, data=loader(x, y[torch.randperm(len(y), generator=gen(3))]),
                loss=nn.CrossEntropyLoss(), optimizer=_adam(net))


def _no_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.zero_grad()  # BUG: zero_grad between backward and step: the step applies nothing
    optimizer.step()
    return loss


@case("rnn-zero-grad-before-step", "rnn", "zero_grad() called after clipping, between backward() and step()",
      expect=("ND408",))
def _():
    x, y = sequences(seed=208)
    torch.manual_seed(0)
    net = SeqClassifier(cell=nn.GRU)
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.1), train_step=_no_step)
