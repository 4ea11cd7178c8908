"""gradient-flow, ND405 through time: a recurrent layer whose input gradient grows geometrically from the last time
step back to the first explodes (nndoctor/probes/recurrence.py); one that decays (an LSTM), stays level (an
identity-initialised ReLU RNN) or grows only linearly (a loss at every step summed back) does not."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

CHECK = "gradient-flow"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sequences(n=256, steps=40, features=4, classes=3, seed=206):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, steps, features, generator=g)  # (N, T, F)
    y = (x.mean(dim=1) @ torch.randn(features, classes, generator=g)).argmax(dim=1)  # (N,)
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))


class LastStep(nn.Module):
    def __init__(self, cell="relu", hidden=64):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.LSTM(4, hidden, batch_first=True) if cell == "lstm" else \
            nn.RNN(4, hidden, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(hidden, 3)

    def forward(self, x):  # (B, T, F) -> (B, 3)
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1])


def diagnose(model, data, loss=None, optimizer=None):
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    return nndoctor.diagnose(model, data, loss or nn.CrossEntropyLoss(), optimizer, select=[CHECK], device="cpu")


def through_time(report):
    return [f for f in report.findings if f.code == "ND405" and "growth_through_time" in f.evidence]


def test_fires_on_a_relu_recurrence_scaled_up():
    """Default recurrent weights scaled 2.8x: the state grows only ~9x forward (under ND305's 100x), no layer's
    gradient reaches 100x its weight, but the gradient grows ~1.09x per step back in time, ~28x over 40 steps,
    geometrically (the earlier half alone ~4.8x, where a linear sum gives at most 2x)."""
    net = LastStep()
    with torch.no_grad():
        net.rnn.weight_hh_l0.mul_(2.8)
    (f,) = through_time(diagnose(net, sequences()))
    ev = f.evidence
    assert f.severity == "warning" and f.where == "rnn" and ev["time_steps"] == 40
    assert ev["growth_through_time"] >= 10 and ev["earlier_half_growth"] > math.sqrt(10)
    assert ev["gain_per_step"] == pytest.approx(ev["growth_through_time"] ** (1 / 39), rel=1e-4)


def test_silent_on_an_identity_relu_rnn_and_an_lstm():
    """The other side: an IRNN (identity recurrence, zero biases) keeps the gradient level back in time, an LSTM's
    forget gate makes it decay."""
    irnn = LastStep()
    with torch.no_grad():
        irnn.rnn.weight_hh_l0.copy_(torch.eye(64))
        irnn.rnn.bias_hh_l0.zero_()
        irnn.rnn.bias_ih_l0.zero_()
    for net in (irnn, LastStep("lstm")):
        report = diagnose(net, sequences(), optimizer=torch.optim.SGD(net.parameters(), lr=0.01))
        assert [f.code for f in report.findings if f.code == "ND405"] == [], [f.title for f in report.findings]


class EveryStep(nn.Module):
    """An identity-initialised ReLU RNN scored at every step: the gradient at step t sums the T - t losses after
    it, so it grows back in time (16x over 64 steps, past `time_growth`) without exploding: the earlier half of
    the sequence does not grow (0.8x), where a geometric growth of 16x gives 4x."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.RNN(4, 32, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(32, 1)
        with torch.no_grad():
            self.rnn.weight_hh_l0.copy_(torch.eye(32))
            self.rnn.bias_hh_l0.zero_()
            self.rnn.bias_ih_l0.fill_(0.1)  # every unit alive: the recurrence is the identity

    def forward(self, x):  # (B, T, F) -> (B, T)
        out, _ = self.rnn(x)
        return self.head(out).squeeze(-1)


def test_silent_on_linear_growth_from_a_loss_at_every_step():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(128, 64, 4, generator=g)  # (N, T, F)
    y = torch.randn(128, 64, generator=g)  # (N, T)
    data = DataLoader(TensorDataset(x, y), batch_size=32)
    net = EveryStep()
    report = diagnose(net, data, loss=F.mse_loss, optimizer=torch.optim.SGD(net.parameters(), lr=1e-4))
    assert through_time(report) == [], [f.title for f in report.findings]


def test_the_probe_reads_time_major_layers_too():
    """batch_first=False: the time axis is the first; the probe moves it and measures per step."""
    from nndoctor.probes.recurrence import gradient_through_time

    class Ctx:
        @staticmethod
        def forward_loss(model, batch):
            out = model(batch[0])
            return out, F.mse_loss(out, batch[1])

    torch.manual_seed(0)
    rnn = nn.RNN(4, 8, nonlinearity="relu")
    model = nn.Sequential()
    model.add_module("rnn", rnn)

    class TimeMajor(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):  # (T, B, F) -> (B, H) at the last step
            return self.rnn(x)[0][-1]

    (tg,) = gradient_through_time(Ctx, TimeMajor(), (torch.randn(12, 5, 4), torch.zeros(5, 8)))
    assert tg.name == "rnn" and tg.steps == 12 and all(v >= 0 for v in tg.norms)
