"""A tiny CIFAR-style ResNet trained the way the pytorch-cifar recipes train one: BasicBlocks with BatchNorm and
identity/1x1 shortcuts, SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4) with a MultiStepLR schedule,
inputs normalised per channel (transforms.Normalize with the training set's mean and std), CrossEntropyLoss.

Synthetic 32x32 colour images (a class is a coloured stripe in its own place, plus noise) replace CIFAR-10; the
widths (4 and 8 channels, two blocks, 128 images) keep a case near a second on CPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cases._common import gen, loader
from ..registry import case

CLASSES = 4
SIZE = 32


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, classes: int = CLASSES, width: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = BasicBlock(width, width)
        self.layer2 = BasicBlock(width, 2 * width, stride=2)
        self.linear = nn.Linear(2 * width, classes)

    def forward(self, x):  # (B, 3, H, W) -> (B, classes)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)  # (B, C)
        return self.linear(out)


def images(n: int = 128, seed: int = 0, normalise: bool = True):
    """Raw 0-255 colour images (a class is a stripe of its own colour and row); with `normalise`, per-channel
    standardised as transforms.ToTensor + Normalize(mean, std) would leave them."""
    g = gen(seed)
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    x = 255 * 0.4 * torch.rand(n, 3, SIZE, SIZE, generator=g)  # (N, 3, H, W) noise
    for c in range(CLASSES):
        rows = slice(4 + 7 * c, 8 + 7 * c)
        x[y == c, c % 3, rows, :] += 255 * 0.6  # a bright stripe in the class's colour and row
    if not normalise:
        return x, y
    x = x / 255.0
    mean = x.mean(dim=(0, 2, 3), keepdim=True)  # (1, 3, 1, 1)
    std = x.std(dim=(0, 2, 3), keepdim=True)
    return (x - mean) / std, y


def _sgd(net):
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[150, 250], gamma=0.1)
    return opt


def _model():
    torch.manual_seed(0)
    return ResNet()


def _eval_step(model, batch, loss_fn, optimizer):
    # model.eval() left on from the validation pass: BatchNorm normalises with its running statistics while
    # training and never updates them. https://discuss.pytorch.org/t/what-does-model-eval-do-for-batchnorm-layer/7146
    x, y = batch
    model.eval()  # BUG: must be model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def _no_zero_grad_step(model, batch, loss_fn, optimizer):
    # The gradients of every step pile up in .grad:
    # https://discuss.pytorch.org/t/why-do-we-need-to-set-the-gradients-manually-to-zero-in-pytorch/4903
    x, y = batch
    model.train()
    loss = loss_fn(model(x), y)  # BUG: no optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


@case("resnet-cifar-healthy", "resnet", "a CIFAR-style ResNet with BatchNorm, SGD(0.1, momentum 0.9, nesterov, "
      "weight decay 5e-4) and MultiStepLR, normalised inputs", healthy=True)
def _():
    x, y = images(seed=931)
    net = _model()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=nn.CrossEntropyLoss(), optimizer=_sgd(net))


@case("resnet-bn-eval-in-training", "resnet", "model.eval() in the training step: BatchNorm never uses batch "
      "statistics while training", expect=("ND310",))
def _():
    x, y = images(seed=932)
    net = _model()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=nn.CrossEntropyLoss(), optimizer=_sgd(net),
                train_step=_eval_step)


@case("resnet-no-zero-grad", "resnet", "optimizer.zero_grad() missing from the step: gradients accumulate",
      expect=("ND409",))
def _():
    x, y = images(seed=933)
    net = _model()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=nn.CrossEntropyLoss(), optimizer=_sgd(net),
                train_step=_no_zero_grad_step)


@case("resnet-pixels-not-normalised", "resnet", "raw 0-255 pixels: transforms.ToTensor/Normalize left out",
      expect=("ND103",))
def _():
    # Raw pixel values fed to the network: https://discuss.pytorch.org/t/understanding-transform-normalize/21730
    x, y = images(seed=934, normalise=False)
    net = _model()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=nn.CrossEntropyLoss(), optimizer=_sgd(net))
