"""A tiny Vision Transformer, written the way lucidrains/vit-pytorch and timm write it: a patch embedding by a
Conv2d with stride = patch size, a learned class token and positional embedding (nn.Parameter), a pre-norm
nn.TransformerEncoder with batch_first=True, the head on the class token; trained with AdamW and weight decay 0.05
as the timm/DeiT recipes train (their linear warm-up lives in the scheduler, which nndoctor's short loops do not
step). Images are the bundled zoo's 8x8 bars, standardised, patch 2 (16 patches)."""
from __future__ import annotations

import torch
from torch import nn

from ..cases._common import images, loader, standardize
from ..registry import case

PATCH, DIM, DEPTH, HEADS, CLASSES, SIZE = 2, 32, 2, 4, 4, 8
PATCHES = (SIZE // PATCH) ** 2


def encoder_layer(dropout: float = 0.1) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(DIM, HEADS, dim_feedforward=2 * DIM, dropout=dropout, activation="gelu",
                                      batch_first=True, norm_first=True)


class ViT(nn.Module):
    def __init__(self, dropout: float = 0.1):
        super().__init__()
        self.patch_embed = nn.Conv2d(1, DIM, kernel_size=PATCH, stride=PATCH)  # (B, D, H/p, W/p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, DIM))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, PATCHES + 1, DIM))
        self.encoder = nn.TransformerEncoder(encoder_layer(dropout), DEPTH, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, CLASSES)

    def tokens(self, img: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(img).flatten(2).transpose(1, 2)  # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        return torch.cat([cls, x], dim=1) + self.pos_embed  # (B, N+1, D)

    def blocks(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, N+1, D)

    def forward(self, img):
        x = self.blocks(self.tokens(img))
        return self.head(self.norm(x[:, 0]))  # (B, classes), from the class token


def _adamw(model):
    return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)


def bars(seed: int):
    x, y = images(seed=seed)
    return standardize(x), y


@case("vit-healthy", "vit", "a tiny ViT: conv patch embedding, class token, learned positions, pre-norm encoder "
      "with dropout 0.1, AdamW", healthy=True)
def _():
    x, y = bars(1201)
    torch.manual_seed(0)
    net = ViT()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=_adamw(net))


class _PlainTensorPositions(ViT):
    def __init__(self):
        super().__init__()
        # BUG: a tensor that requires grad, held as a plain attribute: not in model.parameters(), so the optimizer
        # never updates it and .to(device) leaves it behind; users report embeddings that "don't study" in
        # https://github.com/open-mmlab/mmsegmentation/issues/2130 and the unregistered tensors in
        # https://github.com/pytorch/pytorch/issues/38639
        del self.pos_embed
        self.pos_embed = (0.02 * torch.randn(1, PATCHES + 1, DIM)).requires_grad_()


@case("vit-pos-embed-not-parameter", "vit", "the positional embedding is a plain tensor attribute (requires_grad "
      "but not an nn.Parameter)", expect=("ND410",))
def _():
    x, y = bars(1202)
    torch.manual_seed(0)
    net = _PlainTensorPositions()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=_adamw(net))


class _PlainTensorClassToken(ViT):
    def __init__(self):
        super().__init__()
        del self.cls_token
        self.cls_token = torch.zeros(1, 1, DIM, requires_grad=True)  # BUG: not registered (see the case above)


@case("vit-cls-token-not-registered", "vit", "the class token is torch.zeros(..., requires_grad=True), not an "
      "nn.Parameter", expect=("ND410",))
def _():
    x, y = bars(1203)
    torch.manual_seed(0)
    net = _PlainTensorClassToken()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=_adamw(net))


class _LayersInAList(ViT):
    def __init__(self):
        super().__init__()
        del self.encoder
        # BUG: a Python list, not nn.ModuleList: the blocks are not trained, not moved by .to(), and model.eval()
        # does not reach their dropout; https://github.com/pytorch/pytorch/issues/1053,
        # https://github.com/pytorch/pytorch/issues/8017
        self.layers = [encoder_layer() for _ in range(DEPTH)]

    def blocks(self, x):
        for layer in self.layers:
            x = layer(x)  # (B, N+1, D)
        return x


@case("vit-layers-in-list", "vit", "the encoder blocks held in a Python list (their dropout stays on in eval mode)",
      expect=("ND410",))
def _():
    x, y = bars(1204)
    torch.manual_seed(0)
    net = _LayersInAList()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=_adamw(net))
