"""NaN in the data, and what it does downstream: each case is one mistake with missing values whose report shows
the data finding (ND101 non-finite inputs, ND104 non-finite targets) above the consequences it explains (a module's
NaN output ND306, NaN gradients ND406, a NaN loss ND503)."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import case
from ._common import SqueezeLast, adam, blobs, gen, linear_regression, loader, mlp


class _Standardize(nn.Module):
    """Input standardisation held in the model (saved with it, applied at serving time)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)  # (F,)
        self.register_buffer("std", std)  # (F,)

    def forward(self, x):
        return (x - self.mean) / self.std  # (B, F)


@case("mlp-nan-standardize-stats", "mlp", "missing values (NaN) in a few rows; the standardisation statistics "
      "are torch .mean(0) / .std(0) of the training set, NaN for that column, so the model's own Standardize "
      "layer turns every sample NaN, the clean rows too", expect=("ND101",),
      shows=(("ND101", "ND306"), ("ND101", "ND503"), ("ND306", "ND503")))
def _():
    x, y = blobs(seed=301)
    x = x.clone()
    rows = torch.randperm(len(x), generator=gen(302))[:12]
    x[rows, 6] = float("nan")  # a sensor that dropped out in 12 of 512 rows
    torch.manual_seed(0)
    net = nn.Sequential(_Standardize(x.mean(0), x.std(0)), mlp())  # pandas skips NaN here; torch does not
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


def _nanmean_mse(out, y):
    """The squared error averaged over the rows that have a label: nanmean skips the missing ones in forward."""
    return ((out - y) ** 2).nanmean()


@case("reg-nan-targets-nanmean", "regression", "a third of the rows unlabelled, their targets NaN, 'handled' by a "
      "loss that averages the squared errors with nanmean: the loss is finite, its gradient is NaN (0 * NaN), and "
      "one step makes every weight NaN", expect=("ND104",),
      shows=(("ND104", "ND406"), ("ND104", "ND503"), ("ND406", "ND503")))
def _():
    x, y = linear_regression(seed=303)
    y = y.clone()
    y[torch.randperm(len(y), generator=gen(307))[:170]] = float("nan")  # 170 of 512 rows not labelled yet
    torch.manual_seed(0)
    net = nn.Sequential(mlp(features=8, classes=1), SqueezeLast())
    return dict(model=net, data=loader(x, y), loss=_nanmean_mse, optimizer=adam(net))


class _FeatureTokens(nn.Module):
    """Each feature embedded on its own (as tabular transformers do), a missing value's embedding zeroed: the mask
    is applied to the embedding, after the NaN went through it, so forward is finite and backward is not."""

    def __init__(self, features=10, dim=8, classes=4):
        super().__init__()
        self.embed = nn.Linear(1, dim)  # a shared value embedding
        self.feature = nn.Parameter(0.1 * torch.randn(features, dim))  # (F, D) which feature it is
        self.head = nn.Sequential(nn.Flatten(1), nn.Linear(features * dim, 32), nn.ReLU(), nn.Linear(32, classes))

    def forward(self, x):  # x: (B, F), NaN where a value is missing
        h = self.embed(x.unsqueeze(-1)) + self.feature  # (B, F, D)
        h = h.masked_fill(torch.isnan(x).unsqueeze(-1), 0.0)  # meant: x.nan_to_num() before the embedding
        return self.head(h)  # (B, C)


@case("mlp-missing-masked-after-embedding", "mlp", "missing feature values (NaN) zeroed by masked_fill on their "
      "embedding rather than on the input: the forward pass is finite, the embedding's gradient is NaN",
      expect=("ND101",), shows=(("ND101", "ND406"), ("ND101", "ND503"), ("ND406", "ND503")))
def _():
    x, y = blobs(seed=305)
    x = x.clone()
    x[torch.rand(x.shape, generator=gen(306)) < 0.05] = float("nan")  # 5% of the values missing, anywhere
    torch.manual_seed(0)
    net = _FeatureTokens()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


class _ImputeSentinel(nn.Module):
    """Missing values (NaN) replaced inside forward by a sentinel, as one does for a tree model."""

    def __init__(self, fill=-999.0):
        super().__init__()
        self.fill = fill

    def forward(self, x):  # x: (B, F)
        return torch.where(torch.isnan(x), torch.full_like(x, self.fill), x)


@case("mlp-missing-sentinel-tanh", "mlp", "two optional fields that most rows leave blank (NaN), replaced in the "
      "model's forward by the sentinel -999 before a tanh MLP: the units that read them saturate",
      expect=("ND101",), shows=(("ND101", "ND304"), ("ND101", "ND501"), ("ND304", "ND501")))
def _():
    x, y = blobs(seed=310)
    x = x.clone()
    blank = torch.rand(len(x), 2, generator=gen(311)) < 0.6  # (N, 2) which rows leave each field blank
    x[:, [2, 5]] = torch.where(blank, float("nan"), x[:, [2, 5]])
    torch.manual_seed(0)
    net = nn.Sequential(_ImputeSentinel(), mlp(act=nn.Tanh))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-missing-sentinel-relu-sgd", "mlp", "missing values (NaN) in two fields replaced in the model's forward by "
      "the sentinel -999 before a ReLU MLP trained with SGD: the rows that carry it start far from chance",
      expect=("ND101",), shows=(("ND101", "ND201"),))
def _():
    # A ReLU passes the sentinel's scale on (a tanh would saturate: mlp-missing-sentinel-tanh), so the logits of
    # the rows with a blank field are hundreds of units wide and the initial loss is many times ln(4).
    x, y = blobs(seed=310)
    x = x.clone()
    blank = torch.rand(len(x), 2, generator=gen(311)) < 0.3  # (N, 2) which rows leave each field blank
    x[:, [2, 5]] = torch.where(blank, float("nan"), x[:, [2, 5]])
    torch.manual_seed(0)
    net = nn.Sequential(_ImputeSentinel(), mlp())
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=1e-3))
