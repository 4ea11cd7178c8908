"""Small CNNs on 8x8 grey images (4 classes), each with one injected mistake."""
from __future__ import annotations

import torch
from torch import nn

from ..registry import case
from ._common import adam, gen, good_step, images, loader, standardize


def small_cnn(classes: int = 4, batchnorm: bool = False) -> nn.Sequential:
    norm = [nn.BatchNorm2d(8)] if batchnorm else []
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), *norm, nn.ReLU(), nn.MaxPool2d(2),  # (B, 8, 4, 4)
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 2, 2)
        nn.Flatten(),  # (B, 64)
        nn.Linear(64, classes),
    )


@case("cnn-raw-pixels", "cnn", "raw 0-255 pixel values fed to the network (no /255, no Normalize)",
      expect=("ND103",), fast=True)
def _():
    x, y = images(seed=101)
    pixels = torch.round(x * 255.0)  # (N, 1, H, W) the uint8 values, as floats
    torch.manual_seed(0)
    net = small_cnn()
    return dict(model=net, data=loader(pixels, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("cnn-labels-shuffled", "cnn", "labels list shuffled on its own after a filtering step",
      expect=("ND109",))
def _():
    x, y = images(seed=102)
    torch.manual_seed(0)
    net = small_cnn()
    y_bad = y[torch.randperm(len(y), generator=gen(7))]  # (N,) no longer paired with x
    return dict(model=net, data=loader(standardize(x), y_bad), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("cnn-softmax-before-ce", "cnn", "softmax in forward before CrossEntropyLoss", expect=("ND202",))
def _():
    x, y = images(seed=103)
    torch.manual_seed(0)
    net = nn.Sequential(small_cnn(), nn.Softmax(dim=-1))
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


class _ChannelNorm(nn.Module):
    """A hand-written per-channel normalisation that regroups a (B, C, H, W) tensor with view, not permute."""

    def forward(self, x):
        b, c, h, w = x.shape
        rows = x.reshape(c, b * h * w)  # BUG: meant x.transpose(0, 1).reshape(c, -1); this mixes samples
        rows = (rows - rows.mean(dim=1, keepdim=True)) / (rows.std(dim=1, keepdim=True) + 1e-5)
        return rows.reshape(b, c, h, w)  # (B, C, H, W)


@case("cnn-channelnorm-view", "cnn", "a custom channel norm that regroups (B,C,H,W) with view/reshape, "
      "not permute: samples mixed", expect=("ND302",))
def _():
    x, y = images(seed=104)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), _ChannelNorm(), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(64, 4))
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("cnn-flatten-size", "cnn", "x.view(-1, 32) after the convs, whose output has 64 features per sample",
      expect=("ND308",))
def _():
    x, y = images(seed=105)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = small_cnn()[:-2]  # (B, 16, 2, 2)
            self.fc = nn.Linear(32, 4)

        def forward(self, x):
            return self.fc(self.features(x).view(-1, 32))  # BUG: (B, 64) folded into (2B, 32)

    torch.manual_seed(0)
    net = Net()
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("cnn-zero-std-channel", "cnn", "normalised with a per-pixel std that is 0 at the border: NaN pixels",
      expect=("ND101",))
def _():
    x, y = images(seed=106)
    x = x.clone()
    x[:, :, :, 0] = 0.5  # a constant border column in every image
    mean, std = x.mean(dim=0), x.std(dim=0)  # (1, H, W): per-pixel statistics, std 0 on the border
    torch.manual_seed(0)
    net = small_cnn()
    return dict(model=net, data=loader((x - mean) / std, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("cnn-broadcast-first-image", "cnn", "a collate that broadcasts image 0 to the whole batch",
      expect=("ND102",))
def _():
    x, y = images(seed=107)
    x = standardize(x)

    def collate(samples):
        xs = torch.stack([s[0] for s in samples])  # (B, 1, H, W)
        ys = torch.stack([s[1] for s in samples])  # (B,)
        return xs[:1].expand_as(xs).clone(), ys  # BUG: meant xs, copies sample 0 across the batch

    torch.manual_seed(0)
    net = small_cnn()
    return dict(model=net, data=loader(x, y, collate_fn=collate), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("cnn-head-not-in-optimizer", "cnn", "optimizer built on model.features only; the classifier head is left "
      "out", expect=("ND403",))
def _():
    x, y = images(seed=108)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = small_cnn()[:-1]  # (B, 64)
            self.classifier = nn.Linear(64, 4)

        def forward(self, x):
            return self.classifier(self.features(x))

    torch.manual_seed(0)
    net = Net()
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.Adam(net.features.parameters(), lr=1e-3))


def _eval_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.eval()  # BUG: copied from the validation loop
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


@case("cnn-eval-in-step", "cnn", "model.eval() in the training step of a BatchNorm CNN", expect=("ND310",))
def _():
    x, y = images(seed=109)
    torch.manual_seed(0)
    net = small_cnn(batchnorm=True)
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(), optimizer=adam(net),
                train_step=_eval_step)


@case("cnn-sgd-lr-typo", "cnn", "SGD with lr=30 (meant 0.03)", expect=("ND407", "ND502"))
def _():
    x, y = images(seed=110)
    torch.manual_seed(0)
    net = small_cnn()
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=30.0, momentum=0.9))


def _accumulating_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad  # noqa: B018 - the bug this case plants: the method is named, never called
    return loss


@case("cnn-zero-grad-not-called", "cnn", "`optimizer.zero_grad` written without parentheses",
      expect=("ND409",))
def _():
    x, y = images(seed=111)
    torch.manual_seed(0)
    net = small_cnn()
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9), train_step=_accumulating_step)


__all__ = ["small_cnn", "good_step"]


@case("cnn-pretrained-head-kept", "cnn", "a backbone's 1000-way ImageNet-style head left in place for a 4-class "
      "task: the labels 0-3 index four of its 1000 classes", expect=("ND201",))
def _():
    x, y = images(seed=140)
    torch.manual_seed(0)
    net = small_cnn(classes=1000)
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))
