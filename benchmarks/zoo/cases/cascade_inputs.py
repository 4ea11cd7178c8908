"""Input mistakes and what they set off downstream: each case is one mistake in the inputs (unscaled or constant)
whose report shows the input finding ranked above the symptoms it causes (gradients, steps, saturation, a batch
that cannot be fitted, NaN, a train/validation shift), the pairs named in `shows=`."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..registry import case
from ._common import BATCH, SqueezeLast, blobs, gen, linear_regression, loader, mlp


def _regressor(features: int = 8, hidden: int = 32) -> nn.Sequential:
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1), SqueezeLast())  # (N,)


@case("reg-raw-features-sgd", "regression", "features in raw units (square metres, dollars) trained with plain "
      "SGD at lr=0.01: the first layer's gradient scales with the inputs and the loss overflows in a few steps",
      expect=("ND103",),
      shows=(("ND103", "ND405"), ("ND103", "ND407"), ("ND103", "ND503"), ("ND103", "ND306")))
def _():
    x, y = linear_regression(seed=1201)
    scale = torch.tensor([120.0, 30.0, 2000.0, 5.0, 15000.0, 80.0, 3.0, 400.0])  # (F,) each feature in its unit
    torch.manual_seed(0)
    net = _regressor()
    # SGD applies the gradient as it is: dL/dW1 = delta x^T is thousands of times too large (an lr fine for
    # unit-scale inputs)
    return dict(model=net, data=loader(x * scale + 2 * scale, y), loss=nn.MSELoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.01))


@case("mlp-scaler-on-val-only", "mlp", "the scaler is fitted on the training features and applied to the "
      "validation ones, but the training loader is built from the raw array (tanh MLP)",
      expect=("ND103",), shows=(("ND103", "ND110"), ("ND103", "ND304"), ("ND103", "ND501")))
def _():
    x, y = blobs(n=768, seed=1202)
    scale = torch.tensor([1000.0, 2500.0, 40.0, 12000.0, 300.0, 800.0, 5000.0, 90.0, 1500.0, 60.0])  # (F,)
    raw = x * scale + 3 * scale  # (N, F) features in their own units
    x_train_raw, y_train, x_val_raw, y_val = raw[:512], y[:512], raw[512:], y[512:]
    mean, std = x_train_raw.mean(0), x_train_raw.std(0)  # fitted on the training split, as it should be
    x_train = (x_train_raw - mean) / std  # noqa: F841 - computed, then never used: BUG, the loader gets the raw one
    x_val = (x_val_raw - mean) / std
    torch.manual_seed(0)
    net = mlp(act=nn.Tanh)
    return dict(model=net, data=loader(x_train_raw, y_train), val_data=loader(x_val, y_val, shuffle=False),
                loss=nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))


@case("reg-weather-units-sgd", "regression", "weather-station readings in raw units whose offset dwarfs their "
      "spread (kelvin, hPa, degrees), SGD at lr=1e-4: ReLU units that never fire, and the loss climbs",
      expect=("ND103",),
      shows=(("ND103", "ND303"), ("ND103", "ND502"), ("ND103", "ND405"), ("ND103", "ND407")))
def _():
    x, y = linear_regression(seed=1206)
    # temperature (K), pressure (hPa), humidity (%), wind (km/h), rain (mm), cloud (oktas), wind direction, dew point
    offset = torch.tensor([288.0, 1013.0, 65.0, 15.0, 120.0, 2.5, 180.0, 30.0])  # (F,)
    spread = torch.tensor([8.0, 9.0, 15.0, 8.0, 40.0, 1.0, 90.0, 10.0])  # (F,)
    torch.manual_seed(0)
    net = _regressor()
    # w . x is about w . offset on every sample: a unit whose weights point away from the offset never fires; and
    # the first layer's curvature grows with |x|^2, so even lr=1e-4 overshoots (slower than the overflow at 1e-2)
    return dict(model=net, data=loader(x * spread + offset, y), loss=nn.MSELoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=1e-4))


class _InputDropout(Dataset):
    """A training dataset with feature dropout as augmentation, written with TensorFlow's keep_prob in mind."""

    def __init__(self, x, y, keep_prob: float = 1.0):
        self.x, self.y, self.keep_prob = x, y, keep_prob

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        # BUG: F.dropout's p is the probability to DROP; keep_prob=1.0 ("no dropout for now") zeroes every input
        return F.dropout(self.x[i], p=self.keep_prob, training=True), self.y[i]


@case("reg-train-dropout-keep-prob", "regression", "input-dropout augmentation on the training set given "
      "keep_prob=1.0 as F.dropout's p (the drop probability): every training input is zero, validation untouched",
      expect=("ND102",), shows=(("ND102", "ND501"), ("ND102", "ND110"), ("ND102", "ND303")))
def _():
    x, y = linear_regression(n=768, seed=1204)
    torch.manual_seed(0)
    net = _regressor()
    train = DataLoader(_InputDropout(x[:512], y[:512]), batch_size=BATCH, shuffle=True, generator=gen(1205))
    return dict(model=net, data=train, val_data=loader(x[512:], y[512:], shuffle=False), loss=nn.MSELoss(),
                optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))
