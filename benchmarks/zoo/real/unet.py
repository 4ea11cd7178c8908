"""A tiny U-Net on synthetic masks, written the way milesial/Pytorch-UNet writes and trains it: DoubleConv blocks
(conv, BatchNorm, ReLU twice), max-pool down, transposed-conv up with the skip concatenated, a 1x1 head giving
(B, n_classes, H, W) logits, and in the user's own loss function `F.cross_entropy(masks_pred, true_masks)` plus a
soft Dice term on the softmax, under the project's RMSprop(lr=1e-5, weight_decay=1e-8, momentum=0.999)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cases._common import gen, loader
from ..registry import case

SIZE, CLASSES = 16, 3


class DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.double_conv(x)


class UNet(nn.Module):
    def __init__(self, n_channels: int = 1, n_classes: int = CLASSES, width: int = 8, softmax: bool = False):
        super().__init__()
        self.n_classes = n_classes
        self.softmax = softmax
        self.inc = DoubleConv(n_channels, width)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(width, 2 * width))  # (B, 2w, H/2, W/2)
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(2 * width, 4 * width))  # (B, 4w, H/4, W/4)
        self.up1 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.conv1 = DoubleConv(4 * width, 2 * width)
        self.up2 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.conv2 = DoubleConv(2 * width, width)
        self.outc = nn.Conv2d(width, n_classes, 1)

    def forward(self, x):
        x1 = self.inc(x)  # (B, w, H, W)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        y = self.conv1(torch.cat([x2, self.up1(x3)], dim=1))  # (B, 2w, H/2, W/2)
        y = self.conv2(torch.cat([x1, self.up2(y)], dim=1))  # (B, w, H, W)
        logits = self.outc(y)  # (B, n_classes, H, W)
        if self.softmax:
            # BUG: probabilities handed to F.cross_entropy, which applies log_softmax itself; users report it in
            # https://github.com/say4n/pytorch-segnet/issues/5 and https://github.com/milesial/Pytorch-UNet/issues/186
            return F.softmax(logits, dim=1)
        return logits


def shapes(n: int = 256, seed: int = 0):
    """Grey images in [0, 1] with a bright square (class 1) and a bright horizontal bar (class 2) at random
    places on noise; the masks are (N, H, W) int64 class ids, as the project's dataset returns them."""
    g = gen(seed)
    images = 0.3 * torch.rand(n, 1, SIZE, SIZE, generator=g)  # (N, 1, H, W)
    masks = torch.zeros(n, SIZE, SIZE, dtype=torch.long)  # (N, H, W)
    corners = torch.randint(0, SIZE - 5, (n, 3), generator=g)
    for i, (r, c, r2) in enumerate(corners.tolist()):
        masks[i, r:r + 5, c:c + 5] = 1
        masks[i, r2 + 2, :] = 2
    images[:, 0] += 0.7 * (masks > 0).float()
    return images, masks


def dice_loss(probs: torch.Tensor, one_hot: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """1 - the soft Dice coefficient averaged over classes; both (B, C, H, W)."""
    inter = (probs * one_hot).sum(dim=(0, 2, 3))  # (C,)
    sums = probs.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))  # (C,)
    return 1 - ((2 * inter + eps) / (sums + eps)).mean()


def criterion(masks_pred: torch.Tensor, true_masks: torch.Tensor) -> torch.Tensor:
    """The project's training loss: cross-entropy over the (B, C, H, W) logits plus the Dice term."""
    one_hot = F.one_hot(true_masks.clamp(0, CLASSES - 1), CLASSES).permute(0, 3, 1, 2).float()  # (B, C, H, W)
    return F.cross_entropy(masks_pred, true_masks) + dice_loss(F.softmax(masks_pred, dim=1), one_hot)


def _rmsprop(model):
    return torch.optim.RMSprop(model.parameters(), lr=1e-5, weight_decay=1e-8, momentum=0.999)


@case("unet-healthy", "unet", "a tiny U-Net, cross-entropy plus Dice on (B, C, H, W) logits against (B, H, W) "
      "masks, RMSprop", healthy=True)
def _():
    x, y = shapes(seed=1101)
    torch.manual_seed(0)
    net = UNet()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=criterion, optimizer=_rmsprop(net))


@case("unet-healthy-adam", "unet", "a tiny U-Net, plain F.cross_entropy in a function loss, Adam",
      healthy=True)
def _():
    x, y = shapes(seed=1102)
    torch.manual_seed(0)
    net = UNet()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=lambda out, mask: F.cross_entropy(out, mask),
                optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))


@case("unet-mask-255", "unet", "binary masks loaded as grey values 0/255, not class ids 0/1",
      expect=("ND105",))
def _():
    # Users report it in https://github.com/milesial/Pytorch-UNet/issues/341 ("the target class 255 is bigger
    # than the number of classes") and https://github.com/milesial/Pytorch-UNet/issues/291
    x, y = shapes(seed=1103)
    torch.manual_seed(0)
    net = UNet(n_classes=2)
    masks = (y > 0).long() * 255  # (N, H, W) BUG: the PNG's grey values, not divided by 255
    return dict(model=net, data=loader(x, masks, batch_size=16), loss=lambda out, mask: F.cross_entropy(out, mask),
                optimizer=_rmsprop(net))


@case("unet-softmax-before-ce", "unet", "the U-Net returns softmax probabilities to F.cross_entropy",
      expect=("ND202",))
def _():
    x, y = shapes(seed=1104)
    torch.manual_seed(0)
    net = UNet(softmax=True)
    return dict(model=net, data=loader(x, y, batch_size=16), loss=lambda out, mask: F.cross_entropy(out, mask),
                optimizer=_rmsprop(net))


@case("unet-raw-pixels", "unet", "images fed as 0-255 grey values (the /255 of the dataset's preprocess removed)",
      expect=("ND103",))
def _():
    # https://github.com/milesial/Pytorch-UNet/issues/324: the fix users passed round flips the preprocess's
    # `if not is_mask:`, which moves the `/ 255` from the images to the masks and leaves the images in 0-255
    x, y = shapes(seed=1105)
    torch.manual_seed(0)
    net = UNet()
    pixels = torch.round(x * 255.0)  # (N, 1, H, W) BUG: not scaled to [0, 1]
    return dict(model=net, data=loader(pixels, y, batch_size=16), loss=criterion, optimizer=_rmsprop(net))
