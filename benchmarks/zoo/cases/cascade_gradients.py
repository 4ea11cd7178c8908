"""Gradient bugs and what they lead to: each case plants one mistake in the gradients or in the step that applies
them, and its report shows the mistake above the failures it causes (the `shows=` pairs of the causal table,
nndoctor/catalogue/causes.py).

- a loss summed over a large batch: gradients hundreds of times the weights (ND405), steps far too large (ND407),
  a loss that climbs on one batch (ND502);
- no zero_grad() under SGD with momentum: the piled-up gradients (ND409) grow at every step (ND405) and drive the
  loss to Inf (ND503);
- a hand-written pairwise distance, sqrt of an exact zero on its diagonal: a finite loss with NaN gradients
  (ND406), NaN weights after one step (ND503);
- the same loss under torch.amp.GradScaler, which skips every step whose gradients are not finite: the NaN
  gradients (ND406) leave the weights unchanged for ever (ND408).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import case
from ._common import blobs, linear_regression, loader
from .regression import regressor


@case("reg-mse-summed-over-batch", "regression", "MSELoss(reduction='sum') over batches of 512 with SGD at 0.11, a "
      "learning rate meant for the mean: gradients and steps hundreds of times too large, the loss climbs",
      expect=("ND405",), shows=(("ND405", "ND407"), ("ND405", "ND502"), ("ND407", "ND502")))
def _():
    x, y = linear_regression(n=1024, seed=455)
    torch.manual_seed(0)
    net = regressor()
    # The sum over 512 samples makes the gradient 512x the mean's, about 240x the output layer's weight norm. The
    # overfit batch of 8 samples still sums 8 of them: its steps overshoot and the loss settles ~19x up. Whether
    # the overshoot settles or runs to Inf first (ND503, also this mistake's doing) is sensitive: lr 0.115 does.
    return dict(model=net, data=loader(x, y, batch_size=512), loss=nn.MSELoss(reduction="sum"),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.11))


def _no_zero_grad_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    loss = loss_fn(model(x), y)
    loss.backward()  # optimizer.zero_grad() forgotten: each step applies the sum of every gradient so far
    optimizer.step()
    return loss


@case("reg-no-zero-grad-momentum", "regression", "the step never calls zero_grad() and SGD has momentum 0.9: the "
      "momentum integrates gradients that already pile up: they grow 100x in 5 steps, the loss runs to Inf",
      expect=("ND409",), shows=(("ND409", "ND405"), ("ND409", "ND503"), ("ND405", "ND503")))
def _():
    x, y = linear_regression(seed=454)
    torch.manual_seed(0)
    net = regressor()
    # With zero_grad() this optimizer fits the data (the healthy twin is silent). The divergence outgrows the 5
    # steps gradient-flow watches (ND405) only from lr ~0.28 on; below, the pile grows too slowly to show there.
    return dict(model=net, data=loader(x, y), loss=nn.MSELoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.3, momentum=0.9), train_step=_no_zero_grad_step)


def contrastive_loss(embeddings, labels, margin: float = 1.0, eps: float = 0.0):
    """Contrastive loss over every pair of the batch: same-label pairs pulled together, others pushed past the
    margin. The distances are written by hand, without an epsilon under the square root: the diagonal (each
    sample with itself) is exactly 0, where sqrt's derivative is infinite, so backward gives NaN (0 * inf) while
    the loss itself is finite. (`eps` > 0 under the root: the healthy twin, healthy-contrastive-pairwise-distance.)"""
    d = (((embeddings[:, None, :] - embeddings[None, :, :]) ** 2).sum(-1) + eps).sqrt()  # (B, B)
    same = (labels[:, None] == labels[None, :]).float()  # (B, B)
    return (same * d ** 2 + (1 - same) * F.relu(margin - d) ** 2).mean()


def embedder() -> nn.Sequential:
    """Tabular features to an 8-dimensional embedding."""
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 8))


@case("mlp-contrastive-sqrt-at-zero", "mlp", "a hand-written contrastive loss: sqrt of the squared distances "
      "without an epsilon, zero on the diagonal: finite loss, NaN gradients", expect=("ND406",),
      shows=(("ND406", "ND503"),))
def _():
    x, y = blobs(seed=460)
    torch.manual_seed(0)
    net = embedder()
    return dict(model=net, data=loader(x, y), loss=contrastive_loss,
                optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))


def _amp_step(scaler):
    """The mixed-precision step of the AMP recipe (autocast, then GradScaler). scaler.step() skips
    optimizer.step() whenever the gradients hold Inf or NaN, as after an fp16 overflow; NaN gradients on every
    batch make it skip every step."""
    def step(model, batch, loss_fn, optimizer):
        x, y = batch
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.detach()
    return step


@case("mlp-contrastive-sqrt-at-zero-amp", "mlp", "the same contrastive loss under torch.amp.GradScaler: every "
      "step has NaN gradients, so the scaler skips every optimizer step and nothing trains", expect=("ND406",),
      shows=(("ND406", "ND408"),))
def _():
    x, y = blobs(seed=461)
    torch.manual_seed(0)
    net = embedder()
    return dict(model=net, data=loader(x, y), loss=contrastive_loss,
                optimizer=torch.optim.Adam(net.parameters(), lr=1e-3),
                train_step=_amp_step(torch.amp.GradScaler("cpu")))
