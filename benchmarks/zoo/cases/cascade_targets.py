"""Targets and loaders whose one mistake sets off a chain of findings: the root cause ranks above its effects.

Each case plants one mistake in the targets or in the order the loader reads the data, and declares the causal
pairs (nndoctor/catalogue/causes.py) its report shows, the cause above the effect: unscaled regression targets
under SGD (exploding gradients, a huge update, an Inf loss), targets past a bounded output (a batch that cannot
be fitted), a WeightedRandomSampler given one weight per class (a handful of samples read again and again), and
chunks of class-sorted rows shuffled as wholes (every batch one class).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler

from ..registry import case
from ._common import BATCH, SqueezeLast, adam, blobs, gen, linear_regression, loader, mlp
from .regression import regressor


@case("reg-prices-unscaled-sgd", "regression", "house prices in dollars (mean 3e5) as raw targets, trained with "
      "SGD(lr=0.01), a sound rate for standardised targets", expect=("ND105",),
      shows=(("ND105", "ND405"), ("ND105", "ND407"), ("ND105", "ND503"), ("ND105", "ND306"),
             ("ND105", "ND201")))
def _():
    # MSE's gradient is 2 (output - target): about 6e5 on every sample at the start. SGD applies it as it is, so
    # the first step multiplies the weights by hundreds and the loss overflows to Inf within a few steps. (Adam
    # normalises the gradient, which is why reg-price-targets-unscaled only shows the initial loss far off.)
    x, y = linear_regression(seed=411)
    torch.manual_seed(0)
    net = regressor()
    return dict(model=net, data=loader(x, 300_000.0 + 80_000.0 * y), loss=nn.MSELoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=1e-2))


@case("reg-scores-past-sigmoid", "regression", "exam scores on a 0-100 scale as targets of a model that ends in "
      "nn.Sigmoid (outputs in (0, 1)), meant to keep predictions bounded", expect=("ND105",),
      shows=(("ND105", "ND501"), ("ND105", "ND201")))
def _():
    x, y = linear_regression(seed=412)
    scores = 100.0 * torch.sigmoid(2.0 * y)  # (N,) in (0, 100), spread over the whole scale
    torch.manual_seed(0)
    net = nn.Sequential(regressor(squeeze=False), nn.Sigmoid(), SqueezeLast())  # (N,) in (0, 1)
    return dict(model=net, data=loader(x, scores), loss=nn.MSELoss(), optimizer=adam(net))


@case("mlp-sampler-class-weights", "mlp", "WeightedRandomSampler given one weight per class (10) instead of one per "
      "sample, on data stored class by class: it draws only indices 0-9, all of class 0", expect=("ND108",),
      shows=(("ND108", "ND107"), ("ND108", "ND201")))
def _():
    classes = 10
    x, y = blobs(n=1024, classes=classes, seed=30)
    order = torch.argsort(y, stable=True)  # stored class by class, as ImageFolder lists its files
    x, y = x[order], y[order]
    class_weights = 1.0 / torch.bincount(y, minlength=classes).double()  # (C,): the sampler wants (N,)
    sampler = WeightedRandomSampler(class_weights, num_samples=len(y), replacement=True, generator=gen(35))
    torch.manual_seed(0)
    net = mlp(classes=classes)
    return dict(model=net, data=DataLoader(TensorDataset(x, y), batch_size=BATCH, sampler=sampler),
                loss=nn.CrossEntropyLoss(), optimizer=adam(net))


class _Chunks(Dataset):
    """Rows served 32 at a time, one read per chunk (as from an HDF5 file): each item is a whole batch."""

    def __init__(self, x, y, rows: int = BATCH):
        self.x, self.y, self.rows = x, y, rows

    def __len__(self):
        return len(self.y) // self.rows

    def __getitem__(self, i):
        rows = slice(i * self.rows, (i + 1) * self.rows)
        return self.x[rows], self.y[rows]  # (rows, F), (rows,)


@case("mlp-chunks-shuffled", "mlp", "embeddings stored class by class (1000 classes) served in chunks of 32 rows "
      "(batch_size=None): shuffle=True shuffles the chunks, each chunk stays one class", expect=("ND106",),
      shows=(("ND106", "ND201"), ("ND106", "ND109")))
def _():
    # Every batch is one class (ND106). The 256 targets read are 8 draws of a class, not 256 independent samples,
    # so 8 of the 1000 classes look like all the data holds and the head looks far wider than the task (ND201).
    # A copy trained on the first two batches meets only other classes on the batches after them: what it
    # learned does worse there than the zeroed-input copy, which reads as inputs that do not predict (ND109).
    # (That last one depends on the classes drawn: on about half the seeds the real copy still does a little
    # better on the new classes, and random-input rightly reads that as signal.)
    classes, per_class, features = 1000, 64, 32
    g = gen(71)
    centres = torch.randn(classes, features, generator=g)  # (C, F) one centre per class
    y = torch.arange(classes).repeat_interleave(per_class)  # (N,) class by class
    x = centres[y] + 0.7 * torch.randn(len(y), features, generator=g)  # (N, F)
    torch.manual_seed(1)
    net = mlp(features=features, hidden=64, classes=classes)
    return dict(model=net, data=DataLoader(_Chunks(x, y), batch_size=None, shuffle=True, generator=gen(81)),
                loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-oversampled-in-a-row", "mlp", "each sample repeated 8 times with repeat_interleave (meant as "
      "x.repeat(8, 1)) and read with shuffle=False, the file having been shuffled once when written",
      expect=("ND108",), shows=(("ND108", "ND106"),))
def _():
    # The stored order is shuffled, so only the repetition makes a batch of 32 hold 4 distinct samples, and so
    # few classes: the batches look single-class because they repeat, not because the data is sorted.
    x, y = blobs(n=128, classes=10, seed=31)
    x, y = x.repeat_interleave(8, dim=0), y.repeat_interleave(8)  # (8N, F), (8N,): each row 8 times in a row
    torch.manual_seed(0)
    net = mlp(classes=10)
    return dict(model=net, data=loader(x, y, shuffle=False), loss=nn.CrossEntropyLoss(), optimizer=adam(net))
