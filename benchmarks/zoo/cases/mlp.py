"""MLP classifiers on tabular data (10 features, 4 classes), each with one injected mistake."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from ..registry import case
from ._common import BATCH, adam, blobs, gen, loader, mlp


@case("mlp-raw-features", "mlp", "features in their raw units (thousands: incomes, areas), never standardised",
      expect=("ND103",))
def _():
    x, y = blobs(seed=1)
    scale = torch.tensor([1000.0, 2500.0, 40.0, 12000.0, 300.0, 800.0, 5000.0, 90.0, 1500.0, 60.0])  # (F,)
    x_raw = x * scale + 3 * scale  # (N, F): each feature in its own unit, far from unit scale
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x_raw, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-labels-shuffled", "mlp", "labels shuffled with their own permutation, apart from the inputs",
      expect=("ND109",))
def _():
    x, y = blobs(seed=2)
    y_shuffled = y[torch.randperm(len(y), generator=gen(99))]  # (N,) no longer paired with x
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y_shuffled), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-sorted-unshuffled", "mlp", "data sorted by label and the DataLoader left with shuffle=False",
      expect=("ND106",))
def _():
    x, y = blobs(n=1024, seed=3)
    order = torch.argsort(y, stable=True)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x[order], y[order], shuffle=False), loss=nn.CrossEntropyLoss(),
                optimizer=adam(net))


@case("mlp-softmax-before-ce", "mlp", "nn.Softmax as the last layer, then CrossEntropyLoss (softmax twice)",
      expect=("ND202",), fast=True)
def _():
    x, y = blobs(seed=4)
    torch.manual_seed(0)
    net = nn.Sequential(mlp(), nn.Softmax(dim=1))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-nll-on-logits", "mlp", "NLLLoss on raw logits (log_softmax forgotten)", expect=("ND203",))
def _():
    x, y = blobs(seed=5)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=nn.NLLLoss(), optimizer=adam(net))


@case("mlp-relu-on-logits", "mlp", "a ReLU after the last Linear: logits clipped at zero", expect=("ND205",))
def _():
    x, y = blobs(seed=6)
    torch.manual_seed(0)
    net = nn.Sequential(mlp(), nn.ReLU())
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


class _DetachedEncoder(nn.Module):
    """The encoder's output is detached (left over from feature extraction), so it never trains."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        return self.head(self.encoder(x).detach())


@case("mlp-detached-encoder", "mlp", "the encoder's output is .detach()ed before the head", expect=("ND401",))
def _():
    x, y = blobs(seed=7)
    torch.manual_seed(0)
    net = _DetachedEncoder()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


class _ListMLP(nn.Module):
    """Hidden layers kept in a plain Python list: they are not registered as submodules."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(10, 32)
        self.hidden = [nn.Linear(32, 32) for _ in range(2)]
        self.out = nn.Linear(32, 4)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.out(h)


@case("mlp-layers-in-list", "mlp", "hidden layers kept in a Python list instead of nn.ModuleList",
      expect=("ND410",), fast=True)
def _():
    x, y = blobs(seed=8)
    torch.manual_seed(0)
    net = _ListMLP()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-lr-too-high", "mlp", "SGD with lr=20 (a typo for 0.02)", expect=("ND407", "ND502"))
def _():
    x, y = blobs(seed=9)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=20.0))


@case("mlp-lr-too-low", "mlp", "Adam with lr=1e-7 (a typo for 1e-3)", expect=("ND407",))
def _():
    x, y = blobs(seed=10)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net, lr=1e-7))


@case("mlp-adam-lr-too-low-for-scratch", "mlp", "Adam with lr=1e-5 (a fine-tuning rate) on a model trained from "
      "scratch: each step is small, the update ratio looks tolerable, the loss barely moves", expect=("ND501", "ND407"))
def _():
    x, y = blobs(seed=40)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net, lr=1e-5))


@case("mlp-all-frozen", "mlp", "requires_grad=False set on every parameter (meant for the encoder only)",
      expect=("ND402",))
def _():
    x, y = blobs(seed=11)
    torch.manual_seed(0)
    net = mlp()
    for p in net.parameters():
        p.requires_grad_(False)
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=0.01))


@case("mlp-head-not-in-optimizer", "mlp", "the optimizer is built on the encoder's parameters only",
      expect=("ND403",))
def _():
    x, y = blobs(seed=12)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.Adam(net[:4].parameters(), lr=1e-3))


def _no_zero_grad_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    loss = loss_fn(model(x), y)
    loss.backward()  # optimizer.zero_grad() forgotten: gradients pile up step after step
    optimizer.step()
    return loss


@case("mlp-no-zero-grad", "mlp", "the training step never calls optimizer.zero_grad()", expect=("ND409",), fast=True)
def _():
    x, y = blobs(seed=13)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net),
                train_step=_no_zero_grad_step)


def _no_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()  # optimizer.step() forgotten
    return loss


@case("mlp-no-optimizer-step", "mlp", "the training step never calls optimizer.step()", expect=("ND408",))
def _():
    x, y = blobs(seed=14)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net),
                train_step=_no_step)


def _eval_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.eval()  # left over from a validation helper called inside the step
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


@case("mlp-eval-in-step", "mlp", "model.eval() inside the training step (dropout off, BatchNorm frozen)",
      expect=("ND310",))
def _():
    x, y = blobs(seed=15)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 4))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net),
                train_step=_eval_step)


def _nll_missing_minus(logits, y):
    """A hand-written cross-entropy that forgot the minus sign: minimising it is gradient ascent."""
    return F.log_softmax(logits, dim=1).gather(1, y[:, None]).mean()  # (N, C) -> (N, 1) -> scalar


@case("mlp-loss-sign-flipped", "mlp", "a hand-written NLL without its minus sign: gradient ascent",
      expect=("ND502", "ND201"))
def _():
    x, y = blobs(seed=16)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=_nll_missing_minus, optimizer=adam(net), task="classification")


def _smoothed_ce_missing_minus(logits, y, eps=0.1):
    logp = logits.log_softmax(-1)  # (B, C)
    soft = torch.full_like(logp, eps / logp.shape[-1]).scatter_(1, y[:, None], 1 - eps + eps / logp.shape[-1])
    return (soft * logp).sum(-1).mean()  # BUG: no minus sign


@case("mlp-smoothed-ce-sign-flipped", "mlp", "a hand-written label-smoothed cross-entropy without its minus sign: "
      "gradient ascent on a loss with no lower bound", expect=("ND502", "ND201"))
def _():
    x, y = blobs(seed=24)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=_smoothed_ce_missing_minus, optimizer=adam(net),
                task="classification")


@case("mlp-dead-relu-bias", "mlp", "first-layer bias initialised to -5 (a 'sparsity' trick): ReLUs dead",
      expect=("ND303",))
def _():
    x, y = blobs(seed=17)
    torch.manual_seed(0)
    net = mlp()
    nn.init.constant_(net[0].bias, -5.0)
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-tanh-huge-init", "mlp", "tanh MLP initialised with std=5 weights: units saturated at +-1",
      expect=("ND304", "ND305"))
def _():
    x, y = blobs(seed=18)
    torch.manual_seed(0)
    net = mlp(act=nn.Tanh)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=5.0)
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-deep-sigmoid", "mlp", "a 12-layer sigmoid MLP: gradients vanish toward the input",
      expect=("ND404", "ND305"))
def _():
    x, y = blobs(seed=19)
    torch.manual_seed(0)
    layers = [nn.Linear(10, 32), nn.Sigmoid()]
    for _ in range(10):
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    net = nn.Sequential(*layers, nn.Linear(32, 4))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.1))


@case("mlp-nan-features", "mlp", "missing values left as NaN in a few feature rows", expect=("ND101",))
def _():
    x, y = blobs(seed=20)
    g = gen(21)
    rows = torch.randperm(len(x), generator=g)[:40]
    x = x.clone()
    x[rows, 3] = float("nan")  # a missing column value in 40 of 512 rows
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-labels-one-based", "mlp", "labels 1..4 from the CSV, never remapped to 0..3 (4 outputs)",
      expect=("ND105",))
def _():
    x, y = blobs(seed=22)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x, y + 1), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


class _LogFeatures(nn.Module):
    """log of count features inside forward: a count of zero gives -inf, then NaN downstream."""

    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        return self.net(torch.log(x))


@case("mlp-log-of-zero", "mlp", "torch.log of count features in forward; some counts are 0 (-inf -> NaN)",
      expect=("ND306",))
def _():
    x, y = blobs(seed=23)
    counts = torch.floor(torch.exp(x))  # (N, F) non-negative counts, with zeros where x < 0
    y = (torch.log1p(counts) @ torch.randn(10, 4, generator=gen(24))).argmax(dim=1)  # (N,)
    torch.manual_seed(0)
    net = _LogFeatures()
    return dict(model=net, data=loader(counts, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-masked-to-zero", "mlp", "a feature-selection mask with a typo in its threshold (> 2.0 for > 0.2) "
      "zeroes every input",
      expect=("ND102",))
def _():
    x, y = blobs(seed=25)
    keep = (torch.rand(10, generator=gen(26)) > 2.0).float()  # (F,) meant to be > 0.2: keeps nothing
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader(x * keep, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


class _FirstBatchSampler(Sampler):
    """A custom sampler meant to cycle through the data, but its index never advances."""

    def __init__(self, n, batch_size):
        self.n, self.batch_size = n, batch_size

    def __iter__(self):
        for _ in range(self.n // self.batch_size):
            yield list(range(self.batch_size))  # always the first batch_size indices

    def __len__(self):
        return self.n // self.batch_size


@case("mlp-sampler-repeats", "mlp", "a custom batch sampler whose index never advances: the same batch again",
      expect=("ND108",))
def _():
    x, y = blobs(seed=27)
    torch.manual_seed(0)
    net = mlp()
    data = DataLoader(TensorDataset(x, y), batch_sampler=_FirstBatchSampler(len(x), BATCH))
    return dict(model=net, data=data, loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("mlp-val-not-standardised", "mlp", "training features standardised, validation features left raw",
      expect=("ND110",))
def _():
    x, y = blobs(n=768, seed=28)
    raw = 50.0 + 10.0 * x  # (N, F) the raw measurement
    xt, yt, xv, yv = raw[:512], y[:512], raw[512:], y[512:]
    mean, std = xt.mean(0), xt.std(0)
    torch.manual_seed(0)
    net = mlp()
    return dict(model=net, data=loader((xt - mean) / std, yt), val_data=loader(xv, yv, shuffle=False),
                loss=nn.CrossEntropyLoss(), optimizer=adam(net))


class _AlwaysDropout(nn.Module):
    """F.dropout without training=self.training: dropout stays on in eval mode."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(10, 64), nn.Linear(64, 4)

    def forward(self, x):
        h = F.dropout(torch.relu(self.fc1(x)), p=0.5)  # training=True by default: on in eval too
        return self.fc2(h)


@case("mlp-dropout-in-eval", "mlp", "F.dropout(h, 0.5) without training=self.training: on in eval mode",
      expect=("ND307",))
def _():
    x, y = blobs(seed=29)
    torch.manual_seed(0)
    net = _AlwaysDropout()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))
