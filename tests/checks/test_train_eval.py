"""train-eval: eval mode deterministic and close to train mode (ND307)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

from conftest import assert_silent, codes, make_classification, run_example


CHECK = "train-eval"


def diagnose(model, data, loss=None, **kw):
    return nndoctor.diagnose(model, data, loss or nn.CrossEntropyLoss(), select=[CHECK], device="cpu", **kw)


def shifted_data(n=256, features=8):
    """Raw features with mean 3 and std 4: a BatchNorm in front is what brings them to unit scale."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(n, features, generator=g)  # (N, F)
    y = (x @ torch.randn(features, 3, generator=g)).argmax(dim=1)  # (N,)
    return DataLoader(TensorDataset(3 + 4 * x, y), batch_size=32, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


class FunctionalDropout(nn.Module):
    def __init__(self, pass_mode=False):
        super().__init__()
        self.pass_mode = pass_mode
        self.fc1, self.fc2 = nn.Linear(8, 64), nn.Linear(64, 3)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = F.dropout(h, 0.3, self.training) if self.pass_mode else F.dropout(h, 0.3)  # the bug: training=True
        return self.fc2(h)


class HandNorm(nn.Module):
    """A hand-written BatchNorm1d; `update=False` is the bug: its training branch never updates the statistics."""

    def __init__(self, n, update=True, momentum=0.1):
        super().__init__()
        self.update, self.momentum = update, momentum
        self.weight, self.bias = nn.Parameter(torch.ones(n)), nn.Parameter(torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def forward(self, x):  # (B, F)
        if self.training:
            mean, var = x.mean(0), x.var(0, unbiased=False)
            if self.update:
                with torch.no_grad():
                    self.running_mean.lerp_(mean, self.momentum)
                    self.running_var.lerp_(var, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) / torch.sqrt(var + 1e-5) * self.weight + self.bias


def normed_mlp(norm):
    torch.manual_seed(0)
    return nn.Sequential(norm, nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))


# -- broken: fires ------------------------------------------------------------------------------------------------
def test_fires_on_dropout_that_ignores_eval_mode():
    torch.manual_seed(0)
    report = diagnose(FunctionalDropout(), make_classification())
    assert codes(report) == ["ND307"]
    f = report.findings[0]
    assert f.severity == "error"
    assert f.where == "input of fc2 (Linear)"  # the randomness enters in forward, just before fc2


def test_fires_on_batchnorm_statistics_that_never_update():
    report = diagnose(normed_mlp(nn.BatchNorm1d(8, momentum=0.0)), shifted_data())
    assert codes(report) == ["ND307"]
    f = report.findings[0]
    assert f.evidence["momentum_zero"] == ["0"] and f.where == "0 (BatchNorm1d)"
    assert f.evidence["gap"] > f.evidence["threshold"]


def test_fires_on_a_hand_written_norm_whose_eval_branch_is_stale():
    report = diagnose(normed_mlp(HandNorm(8, update=False)), shifted_data())
    assert codes(report) == ["ND307"]
    assert report.findings[0].where == "0 (HandNorm)"


# -- healthy: silent ----------------------------------------------------------------------------------------------
class TinyTransformer(nn.Module):
    def __init__(self, vocab=20, width=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.block = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=64, dropout=0.2, batch_first=True)
        self.head = nn.Linear(width, 3)

    def forward(self, idx):  # (B, T)
        return self.head(self.block(self.emb(idx)).mean(dim=1))  # (B, T, D) -> (B, D) -> (B, C)


class GRUClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 32, num_layers=2, dropout=0.3, batch_first=True)
        self.head = nn.Linear(32, 3)

    def forward(self, x):  # (B, F) -> a sequence of 4 noisy copies
        seq = x.unsqueeze(1).expand(-1, 4, -1)  # (B, T, F)
        return self.head(self.rnn(seq)[0][:, -1])  # (B, H) -> (B, C)


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(16, 3))


def pretrained_frozen_bn():
    """A BatchNorm frozen on purpose (momentum 0) whose statistics already match the data: healthy."""
    bn = nn.BatchNorm1d(8, momentum=0.0)
    bn.running_mean.fill_(3.0)
    bn.running_var.fill_(16.0)
    return normed_mlp(bn)


def healthy_setups():
    torch.manual_seed(0)
    yield "batchnorm-dropout", nn.Sequential(nn.Linear(8, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.5),
                                             nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(),
                                             nn.Linear(64, 3)), make_classification()
    yield "batchnorm-first", normed_mlp(nn.BatchNorm1d(8)), shifted_data()
    yield "frozen-pretrained-batchnorm", pretrained_frozen_bn(), shifted_data()
    yield "hand-written-norm", normed_mlp(HandNorm(8)), shifted_data()
    torch.manual_seed(0)
    yield "functional-dropout-with-mode", FunctionalDropout(pass_mode=True), make_classification()
    g = torch.Generator().manual_seed(5)
    images = torch.randn(256, 1, 8, 8, generator=g)  # (N, 1, H, W)
    yield "batchnorm-cnn", cnn(), DataLoader(TensorDataset(images, (images.mean((1, 2, 3)) > 0).long()),
                                              batch_size=32)
    torch.manual_seed(0)
    yield "gru-dropout", GRUClassifier(), make_classification()
    idx = torch.randint(0, 20, (256, 10), generator=g)  # (N, T) token ids
    torch.manual_seed(0)
    yield "transformer-dropout", TinyTransformer(), DataLoader(TensorDataset(idx, idx[:, 0] % 3), batch_size=32)


@pytest.mark.parametrize("setup", list(healthy_setups()), ids=lambda s: s[0])
def test_silent_on_healthy_setups(setup):
    name, model, data = setup
    assert_silent(diagnose(model, data), CHECK, fail_on="info")


# -- the bundled example ------------------------------------------------------------------------------------------
def test_example_ranks_its_code_first(example_path):
    report = run_example(example_path("dropout_in_eval"))
    assert report.exit_code("error") == 1
    assert report.findings[0].code == "ND307", [(f.code, f.title) for f in report.findings]


# -- state carried across calls (nndoctor.probes.state) ----------------------------------------------------------
class StatefulLSTM(nn.Module):
    """An LSTM that carries (h, c) from one call to the next: two passes of one batch differ by design, not by a
    dropout left on; each of nndoctor's passes starts the copy from its initial state."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head = nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 3)
        self.hidden = None

    def forward(self, x):  # (B, F)
        if self.hidden is None or self.hidden[0].size(1) != x.size(0):
            self.hidden = (x.new_zeros(1, x.size(0), 16), x.new_zeros(1, x.size(0), 16))
        out, self.hidden = self.rnn(x.unsqueeze(1), self.hidden)  # (B, 1, H)
        return self.head(out[:, -1])


def test_carried_state_is_not_eval_mode_randomness():
    assert_silent(diagnose(StatefulLSTM(), make_classification()), CHECK, fail_on="info")


# -- stochastic by design: a VAE samples in eval mode too (benchmarks/zoo/real/vae.py) ---------------------------------
def vae_setup(**kw):
    from benchmarks.zoo.real import vae

    setup = vae.setup(seed=7, **kw)
    return dict(model=setup["model"], data=setup["data"], loss=setup["loss"], batch=setup["batch"])


def test_silent_on_sampling_by_design_in_eval_mode():
    """reparameterize draws randn_like in every mode, as the PyTorch examples' VAE does: not ND307."""
    assert_silent(diagnose(**vae_setup()), CHECK)


def test_a_functional_dropout_beside_the_sampling_is_still_nd307():
    report = diagnose(**vae_setup(functional_dropout=0.3))
    assert codes(report) == ["ND307"] and "not deterministic" in report.findings[0].title


@pytest.mark.parametrize("seed", [0, 4])
def test_a_noisy_train_mode_is_averaged_before_a_gap_is_judged(seed):
    """pygcn: dropout 0.5 following self.training in a small full-batch GCN makes train mode noisier than the
    outputs' spread; one pair of passes would misjudge the gap (seed 4 did), sixteen do not."""
    from benchmarks.zoo.real import gcn
    from benchmarks.zoo.run import case_seed

    with case_seed(seed):
        setup = gcn.setup(seed=1401)
    report = nndoctor.diagnose(setup["model"], setup["data"], setup["loss"], batch=setup["batch"], select=[CHECK],
                               device="cpu", seed=seed)
    assert_silent(report, CHECK)


def test_a_functional_dropout_in_a_gcn_is_nd307():
    from benchmarks.zoo.real import gcn

    setup = gcn.setup(seed=7, dropout_follows_mode=False)
    report = diagnose(setup["model"], setup["data"], setup["loss"], batch=setup["batch"])
    assert codes(report) == ["ND307"]


class NoisyTrainEvalBranch(nn.Module):
    """Heavy dropout that follows the mode, and an eval branch that shifts the output: a real gap under noise."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 3)

    def forward(self, x):
        h = F.dropout(torch.relu(self.fc1(x)), 0.7, self.training)
        out = self.fc2(h)
        return out if self.training else out + 1.0


def test_a_real_gap_under_a_noisy_train_mode_is_still_nd307():
    torch.manual_seed(0)
    report = diagnose(NoisyTrainEvalBranch(), make_classification())
    assert codes(report) == ["ND307"] and "differ from train-mode outputs" in report.findings[0].title
