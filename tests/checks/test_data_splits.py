"""data-splits: ND110 (train/val preprocessed differently) and ND111 (targets copied from the inputs)."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

from conftest import assert_silent, mlp, run_example


V = 20  # vocabulary of the tiny language model


CHECK = "data-splits"


def diagnose(model, data, loss, **kw):
    return nndoctor.diagnose(model, data, loss, select=[CHECK], device="cpu", **kw)


def loader(x, y, batch_size=32, shuffle=False):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)


def tabular(n=512, seed=0):
    """Raw features on their own scales (means near 10, stds near 3) and a label that depends on them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g) * 3 + 10  # (N, F)
    y = (x[:, 0] + x[:, 1] > 20).long()  # (N,)
    return x, y


def split(x, y):
    tr, va = slice(0, len(x) // 2), slice(len(x) // 2, None)
    mean, std = x[tr].mean(0), x[tr].std(0)  # training-set statistics
    return (x[tr] - mean) / std, y[tr], x[va], y[va], mean, std


def lm():
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(V, 16), nn.Linear(16, V))


def lm_loss(out, y):
    return nn.functional.cross_entropy(out.reshape(-1, V), y.reshape(-1))  # (B*T, V) vs (B*T,)


# -- ND110 -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["not normalised", "normalised twice"])
def test_nd110_validation_preprocessed_differently(how):
    xt, yt, xv, yv, mean, std = split(*tabular())
    xv = (xv - mean) / std
    if how == "not normalised":
        xv = xv * std + mean
    else:
        xv = (xv - mean) / std
    report = diagnose(mlp(classes=2), loader(xt, yt, shuffle=True), nn.CrossEntropyLoss(), val_data=loader(xv, yv))
    found = [f for f in report.findings if f.code == "ND110"]
    assert found and found[0].severity == "error"
    assert found[0].where.startswith("input feature")
    assert found[0].evidence["features_shifted"] == 8


def test_nd110_image_channel_named():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, 3, 8, 8, generator=g)  # (N, C, H, W) pixels in [0, 1]
    y = torch.randint(0, 3, (256,), generator=g)
    mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)  # per channel
    xt = (x[:128] - mean) / std
    xv = x[128:].clone()
    xv[:, 1] = (xv[:, 1] - mean[0, 1]) / std[0, 1]  # channels 0 and 2 left raw, channel 1 normalised
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 3))
    report = diagnose(model, loader(xt, y[:128]), nn.CrossEntropyLoss(), val_data=loader(xv, y[128:]))
    found = [f for f in report.findings if f.code == "ND110"]
    assert found and "channel" in found[0].where
    assert found[0].evidence["features_shifted"] == 2


def test_nd110_silent_when_val_comes_from_the_same_distribution():
    xt, yt, xv, yv, mean, std = split(*tabular())
    xv = (xv - mean) / std
    assert_silent(diagnose(mlp(classes=2), loader(xt, yt), nn.CrossEntropyLoss(), val_data=loader(xv, yv)), CHECK,
                  codes=["ND110"])
    # A small validation set (16 rows) differs from the training statistics by sampling noise only.
    assert_silent(diagnose(mlp(classes=2), loader(xt, yt), nn.CrossEntropyLoss(),
                           val_data=loader(xv[:16], yv[:16], batch_size=8)), CHECK, codes=["ND110"])


def test_nd110_silent_on_heavy_tailed_and_sparse_features():
    torch.manual_seed(3)
    g = torch.Generator().manual_seed(3)
    n = 1024
    x = torch.cat([torch.distributions.Exponential(1.0).sample((n, 2)),  # skewed
                   (torch.rand(n, 2, generator=g) < 0.01).float(),  # rare binary flags
                   torch.distributions.StudentT(2.5).sample((n, 2)),  # heavy tails
                   torch.distributions.Cauchy(0.0, 1.0).sample((n, 2))], dim=1)  # outliers move the std
    y = torch.randint(0, 2, (n,), generator=g)
    report = diagnose(nn.Linear(8, 2), loader(x[:512], y[:512]), nn.CrossEntropyLoss(),
                      val_data=loader(x[512:], y[512:]))
    assert_silent(report, CHECK, codes=["ND110"])


def test_nd110_feature_constant_in_training_only():
    """A training-only step that blanks a column (or all of them): no training std to measure the shift in, but
    every validation row holds other values."""
    xt, yt, xv, yv, mean, std = split(*tabular())
    xv = (xv - mean) / std
    xt = xt.clone()
    xt[:, 3] = 0.0  # the training pipeline alone zeroes feature 3
    report = diagnose(mlp(classes=2), loader(xt, yt), nn.CrossEntropyLoss(), val_data=loader(xv, yv))
    found = [f for f in report.findings if f.code == "ND110"]
    assert found and found[0].severity == "error" and found[0].where == "input feature 3"
    assert found[0].evidence["constant_in_training"] and found[0].evidence["val_rows_differing"] == len(xv)
    report = diagnose(mlp(classes=2), loader(torch.zeros_like(xt), yt), nn.CrossEntropyLoss(),
                      val_data=loader(xv, yv))
    assert [f.code for f in report.findings if f.code == "ND110"] == ["ND110"]


def test_nd110_silent_on_a_rare_value_the_training_rows_missed():
    """A flag set on a few rows: absent from the training rows read, present on 5 of 256 validation rows. All 5
    landing in validation has a chance of about 2 ** -5 when both splits come from one distribution: not a shift."""
    xt, yt, xv, yv, mean, std = split(*tabular())
    xv = (xv - mean) / std
    xt, xv = xt.clone(), xv.clone()
    xt[:, 5] = 0.0
    xv[:, 5] = 0.0
    xv[:5, 5] = 1.0
    assert_silent(diagnose(mlp(classes=2), loader(xt, yt), nn.CrossEntropyLoss(), val_data=loader(xv, yv)), CHECK,
                  codes=["ND110"])


def test_nd110_needs_val_data():
    xt, yt, *_ = split(*tabular())
    report = diagnose(mlp(classes=2), loader(xt, yt), nn.CrossEntropyLoss())
    assert_silent(report, CHECK, codes=["ND110"])  # the check still runs (ND111), without ND110


# -- ND111 -----------------------------------------------------------------------------------------------------
def test_nd111_language_model_targets_not_shifted():
    ids = torch.randint(0, V, (128, 17), generator=torch.Generator().manual_seed(0))  # (N, T+1)
    report = diagnose(lm(), loader(ids[:, :-1], ids[:, :-1], batch_size=16), lm_loss)
    found = [f for f in report.findings if f.code == "ND111"]
    assert found and found[0].severity == "error" and found[0].evidence["share_equal"] == 1.0


def test_nd111_label_column_left_among_features():
    xt, yt, *_ = split(*tabular())
    leaked = torch.cat([xt[:, :5], yt[:, None].float(), xt[:, 5:]], dim=1)  # (N, 9): the label is column 5
    report = diagnose(mlp(features=9, classes=2), loader(leaked, yt, shuffle=True), nn.CrossEntropyLoss())
    found = [f for f in report.findings if f.code == "ND111"]
    assert found and found[0].where == "input feature 5" and found[0].evidence["exact_copy"]
    # A standardised copy of a regression target is perfectly correlated, not equal.
    target = xt[:, :1] * 2 + 1  # (N, 1)
    leaked = torch.cat([xt[:, 1:], (target - target.mean()) / target.std()], dim=1)  # (N, 8)
    found = [f for f in diagnose(mlp(classes=1), loader(leaked, target), nn.MSELoss()).findings
             if f.code == "ND111"]
    assert found and found[0].where == "input feature 7" and not found[0].evidence["exact_copy"]


def test_nd111_silent_on_shifted_lm_autoencoder_and_clean_features():
    ids = torch.randint(0, V, (128, 17), generator=torch.Generator().manual_seed(0))
    assert_silent(diagnose(lm(), loader(ids[:, :-1], ids[:, 1:], batch_size=16), lm_loss), CHECK, codes=["ND111"])
    xt, yt, *_ = split(*tabular())
    autoencoder = nn.Sequential(nn.Linear(8, 3), nn.ReLU(), nn.Linear(3, 8))
    # Targets equal to the inputs: reconstruction, on purpose.
    assert_silent(diagnose(autoencoder, loader(xt, xt), nn.MSELoss()), CHECK, fail_on="info")
    assert_silent(diagnose(mlp(classes=2), loader(xt, yt), nn.CrossEntropyLoss()), CHECK, fail_on="info")
    # One feature and a target exactly linear in it: a toy regression, not a column among several.
    x1 = torch.linspace(-1, 1, 64)[:, None]  # (N, 1)
    assert_silent(diagnose(nn.Linear(1, 1), loader(x1, 2 * x1 + 1), nn.MSELoss()), CHECK, fail_on="info")


@pytest.mark.parametrize("name,code", [("train_val_shift", "ND110"), ("lm_target_not_shifted", "ND111"),
                                       ("label_in_features", "ND111")])
def test_example_ranks_its_code_first(example_path, name, code):
    report = run_example(example_path(name))
    assert report.findings[0].code == code and report.findings[0].severity == "error"
    assert report.exit_code() == 1


# -- time-major windows (nndoctor.probes.layout) -----------------------------------------------------------------
class TimeMajorLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.rnn, self.out = nn.Embedding(16, 8), nn.LSTM(8, 8), nn.Linear(8, 16)

    def forward(self, x):  # (T, B)
        return self.out(self.rnn(self.emb(x))[0]).view(-1, 16)  # (T * B, V)


def windows(shift):
    """(T, B) windows of a batchified stream; targets the rows `shift` later, flattened to (T * B,)."""
    source = torch.randint(0, 16, (41, 6), generator=torch.Generator().manual_seed(0))  # (N, B)
    return [(source[i:i + 8], source[i + shift:i + shift + 8].reshape(-1)) for i in range(0, 32, 8)]


@pytest.mark.parametrize("shift", [1, 0])
def test_time_major_targets_flattened(shift):
    """Flattened (T * B,) targets against (T, B) inputs used to crash the column comparison; read in the windows'
    layout, unshifted targets are the token copy they are."""
    report = diagnose(TimeMajorLM(), windows(shift), nn.CrossEntropyLoss(), task="language-modeling")
    if shift:
        assert_silent(report, CHECK)
    else:
        assert [f.code for f in report.findings] == ["ND111"]
        assert "never shifted" in report.findings[0].title
