"""activations: ND303 (dead ReLU units), ND304 (saturated tanh/sigmoid), ND305 (std compounding with depth) fire
on broken initialisations and stay silent on default-initialised models."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

from conftest import assert_silent, make_classification, mlp, run_example as run_config_example


CHECK = "activations"


def diagnose(model, data, loss=None, **kw):
    return nndoctor.diagnose(model, data, loss or nn.CrossEntropyLoss(), select=[CHECK], device="cpu", **kw)


def findings(report, code):
    return [f for f in report.findings if f.code == code]


def deep(depth, hidden=64, act=nn.ReLU, std=None):
    torch.manual_seed(0)
    layers, fan_in = [], 8
    for _ in range(depth):
        layers += [nn.Linear(fan_in, hidden), act()]
        fan_in = hidden
    net = nn.Sequential(*layers, nn.Linear(hidden, 3))
    if std is not None:
        for m in net:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=std)
                nn.init.zeros_(m.bias)
    return net


def images(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 12, 12, generator=g)  # (N, 1, H, W)
    return DataLoader(TensorDataset(x, torch.randint(0, 4, (n,), generator=g)), batch_size=32)


# -- fires -------------------------------------------------------------------------------------------------------
def test_nd303_all_units_dead_is_an_error():
    model = deep(2)
    nn.init.constant_(model[0].bias, -10.0)  # pre-activations have std ~0.6: never above zero
    (f,) = findings(diagnose(model, make_classification()), "ND303")
    assert f.severity == "error" and f.evidence["dead_share"] == 1.0 and f.where == "1 (ReLU)"


def test_nd303_most_units_dead_is_a_warning():
    model = deep(1)
    with torch.no_grad():
        model[0].bias[:45] = -10.0  # 45 of 64 units (70%) never fire
    (f,) = findings(diagnose(model, make_classification()), "ND303")
    assert f.severity == "warning" and abs(f.evidence["dead_share"] - 45 / 64) < 1e-6


def test_nd303_dead_conv_channels():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    nn.init.constant_(cnn[0].bias, -20.0)
    (f,) = findings(diagnose(cnn, images()), "ND303")
    assert f.evidence["units"] == 8  # channels, not pixels


def test_nd304_saturated_tanh():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 3))
    nn.init.normal_(model[0].weight, std=5.0)  # pre-activation std ~14
    (f,) = findings(diagnose(model, make_classification()), "ND304")
    assert f.severity == "error" and f.evidence["mean_relative_derivative"] < 0.1


def test_nd304_saturated_sigmoid_hidden_layer_warns():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.Sigmoid(), nn.Linear(64, 3))
    nn.init.normal_(model[0].weight, std=4.0)  # pre-activation std ~11: saturated, the derivative not yet tiny
    (f,) = findings(diagnose(model, make_classification()), "ND304")
    assert f.severity == "warning"


def test_nd305_shrinking_std_is_an_error():
    (f,) = findings(diagnose(deep(8, std=0.01), make_classification()), "ND305")
    assert f.severity == "error" and f.evidence["ratio"] < 1e-4 and "shrinks" in f.title


def test_nd305_growing_std_is_a_warning():
    (f,) = findings(diagnose(deep(6, std=0.5), make_classification()), "ND305")
    assert f.severity == "warning" and f.evidence["ratio"] > 1e2 and "grows" in f.title


def xavier_tanh(net):
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain("tanh"))
            nn.init.zeros_(m.bias)
    return net


class ResidualTanh(nn.Module):
    """x + tanh(W x) blocks at PyTorch's default init: the skip path carries the scale."""

    def __init__(self, depth=20, width=32):
        super().__init__()
        torch.manual_seed(0)
        self.inp, self.out = nn.Linear(8, width), nn.Linear(width, 3)
        self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))

    def forward(self, x):  # (B, 8) -> (B, 3)
        h = self.inp(x)
        for block in self.blocks:
            h = h + torch.tanh(block(h))
        return self.out(h)


def test_nd305_gains_inside_the_band_that_compound_over_depth():
    """20 tanh layers at PyTorch's default init: each gain about 0.56, inside the healthy 0.5-2, but 19 of them
    compound to about 1e-5, far outside the 20x that random in-band gains allow over that depth."""
    (f,) = findings(diagnose(deep(20, hidden=32, act=nn.Tanh), make_classification()), "ND305")
    ev = f.evidence
    assert "shrinks" in f.title and ev["ratio"] < 1e-3
    assert 0.5 < ev["median_gain"] < 0.7 and ev["median_gain_compounded"] < ev["depth_band"][0]
    assert ev["depth_band"][1] == pytest.approx(max(100.0, 2.0 ** 19 ** 0.5))


def test_silent_on_deep_tanh_with_its_gain_and_a_residual_one():
    """The same depth on the other side: Xavier with the tanh gain keeps the std (median gain about 1), and a
    residual stack carries it on its skip path."""
    assert_silent(diagnose(xavier_tanh(deep(20, hidden=32, act=nn.Tanh)), make_classification()), CHECK,
                  fail_on="info")
    assert_silent(diagnose(ResidualTanh(), make_classification()), CHECK, fail_on="info")


def test_one_layers_jump_is_not_compounding():
    """The median gain decides: one layer that drops the scale 200x among 18 healthy ones is no trend."""
    from nndoctor.checks.activations import Activations
    check = Activations()
    assert check._compounding(0.005, [0.005] + [1.0] * 18) is None
    assert check._compounding(0.56 ** 19, [0.56] * 19) is not None
    assert check._compounding(0.9 ** 19, [0.9] * 19) is None  # 0.14 end to end: within 20x over 19 layers


# -- silent ------------------------------------------------------------------------------------------------------
def test_silent_on_default_mlps_and_cnns():
    assert_silent(diagnose(mlp(), make_classification()), CHECK, fail_on="info")
    assert_silent(diagnose(deep(4), make_classification()), CHECK, fail_on="info")  # ReLU is sparse, not dead
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
    assert_silent(diagnose(cnn, images()), CHECK, fail_on="info")


def test_silent_on_batchnorm_and_tanh_defaults():
    torch.manual_seed(0)
    bn = nn.Sequential(*[m for _ in range(5) for m in (nn.LazyLinear(64), nn.BatchNorm1d(64), nn.ReLU())],
                       nn.Linear(64, 3))
    bn(torch.randn(2, 8))  # materialise the lazy layers
    assert_silent(diagnose(bn, make_classification()), CHECK, fail_on="info")
    assert_silent(diagnose(deep(3, act=nn.Tanh), make_classification()), CHECK, fail_on="info")


def test_silent_on_gru_and_transformer():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 20, (128, 13), generator=g)
    lm = DataLoader(TensorDataset(ids[:, :-1], ids[:, 1:]), batch_size=32)  # (N, T) next-token targets

    class LM(nn.Module):
        def __init__(self, kind):
            super().__init__()
            torch.manual_seed(0)
            self.kind = kind
            self.emb = nn.Embedding(20, 32)
            if kind == "gru":
                self.body = nn.GRU(32, 32, batch_first=True)
            else:
                layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
                self.body = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(32, 20)

        def forward(self, x):  # (B, T) -> (B, T, V)
            h = self.emb(x)
            if self.kind == "gru":
                h, _ = self.body(h)
            else:
                h = self.body(h, mask=nn.Transformer.generate_square_subsequent_mask(x.shape[1]), is_causal=True)
            return self.head(h)

    def lm_loss(logits, y):
        return F.cross_entropy(logits.reshape(-1, 20), y.reshape(-1))

    assert_silent(diagnose(LM("gru"), lm, lm_loss), CHECK, fail_on="info")
    assert_silent(diagnose(LM("transformer"), lm, lm_loss), CHECK, fail_on="info")


def test_silent_on_confident_output_sigmoid():
    """A sigmoid output with the bias at the log-odds of a 1% prior sits near 0 on purpose (BCELoss)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1), nn.Sigmoid())
    nn.init.zeros_(model[2].weight)
    nn.init.constant_(model[2].bias, -4.6)
    g = torch.Generator().manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(256, 8, generator=g), (torch.rand(256, 1, generator=g) < 0.01)
                                    .float()), batch_size=32)
    assert_silent(diagnose(model, data, nn.BCELoss()), CHECK, fail_on="info")


# -- examples ----------------------------------------------------------------------------------------------------
def run_example(path):
    return run_config_example(path, quick=True)


@pytest.mark.parametrize("name, code", [("dead_relu", "ND303"), ("saturated_tanh", "ND304"),
                                        ("tiny_init_deep_mlp", "ND305")])
def test_example_ranks_its_code_first(example_path, name, code):
    report = run_example(example_path(name))
    assert report.findings and report.findings[0].code == code, [f.code for f in report.findings]
    assert report.exit_code() == 1


class ReluRNN(nn.Module):
    """A ReLU RNN classifier over (B, T, F) sequences; `recurrent` sets weight_hh: 'orthogonal2x' or 'identity'."""

    def __init__(self, recurrent):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.RNN(4, 24, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(24, 3)
        with torch.no_grad():
            if recurrent == "identity":  # IRNN: the hidden state sums its inputs
                self.rnn.weight_hh_l0.copy_(torch.eye(24))
                self.rnn.bias_hh_l0.zero_()
                self.rnn.bias_ih_l0.zero_()
            else:  # spectral radius 2: the hidden state doubles every step
                nn.init.orthogonal_(self.rnn.weight_hh_l0, gain=2.0)

    def forward(self, x):
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1])  # (B, C)


def sequences(steps=40):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, steps, 4, generator=g)  # (N, T, F)
    y = torch.randint(0, 3, (128,), generator=g)  # (N,)
    return DataLoader(TensorDataset(x, y), batch_size=32)


def test_nd305_recurrence_that_grows_geometrically_through_time():
    (found,) = findings(diagnose(ReluRNN("orthogonal2x"), sequences()), "ND305")
    assert found.severity == "error" and found.where == "rnn (RNN)"
    assert found.evidence["time_steps"] == 40 and 1.5 < found.evidence["gain_per_step"] < 2.5


def test_silent_on_an_identity_initialised_relu_rnn_and_an_lstm():
    assert_silent(diagnose(ReluRNN("identity"), sequences()), CHECK, codes=["ND305"])

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lstm = nn.LSTM(4, 24, batch_first=True)
            self.head = nn.Linear(24, 3)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])  # (B, T, H) -> (B, C)

    assert_silent(diagnose(LSTMNet(), sequences()), CHECK, fail_on="info")


# -- variable-length sequences (nndoctor.probes.layout) -------------------------------------------------------
class TimeMajorGRU(nn.Module):
    def __init__(self, batch_first=False):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head = nn.GRU(4, 16, batch_first=batch_first), nn.Linear(16, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[-1] if not self.rnn.batch_first else out[:, -1])  # (B, C)


@pytest.mark.parametrize("batch_first", [False, True])
def test_sequences_of_varying_length_are_measured_step_by_step(batch_first):
    """bptt windows with a shorter last one, padded batches of varying length: per-step sums over different T used
    to crash; the recurrent scale is judged over the steps that batches have."""
    g = torch.Generator().manual_seed(0)
    data = []
    for T in (12, 9, 12, 7):
        x = torch.randn(T, 8, 4, generator=g)  # (T, B, F)
        data.append((x.transpose(0, 1).contiguous() if batch_first else x, torch.randint(0, 3, (8,), generator=g)))
    assert_silent(diagnose(TimeMajorGRU(batch_first), data), CHECK)
