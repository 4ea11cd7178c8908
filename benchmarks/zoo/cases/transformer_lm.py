"""Tiny transformer language models (vocabulary 24, context 16), each with one injected mistake."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import case
from ._common import good_step, lm_loss, loader, tokens

VOCAB, CONTEXT, WIDTH = 24, 16, 32


class TinyLM(nn.Module):
    """Token and learned position embeddings, one pre-norm transformer block with a causal mask, a linear head."""

    def __init__(self, vocab=VOCAB, width=WIDTH, context=CONTEXT, causal=True, tied=False):
        super().__init__()
        self.causal = causal
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(0.02 * torch.randn(context, width))
        self.block = nn.TransformerEncoderLayer(width, nhead=2, dim_feedforward=64, dropout=0.0,
                                                batch_first=True, norm_first=True)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        if tied:
            nn.init.normal_(self.tok.weight, std=0.02)  # as GPT-2 does: N(0, 1) rows would be the head's logits scale
            self.head.weight = self.tok.weight

    def mask(self, t: int, device) -> torch.Tensor | None:
        return nn.Transformer.generate_square_subsequent_mask(t, device=device) if self.causal else None

    def embed(self, idx: torch.Tensor) -> torch.Tensor:
        return self.tok(idx) + self.pos[: idx.shape[1]]  # (B, T, D)

    def forward(self, idx):  # idx: (B, T) int64
        h = self.block(self.embed(idx), src_mask=self.mask(idx.shape[1], idx.device),
                       is_causal=self.causal)  # (B, T, D)
        return self.head(self.norm(h))  # (B, T, V)


def _adam(model, lr=3e-3):
    return torch.optim.Adam(model.parameters(), lr=lr)


@case("lm-no-causal-mask", "transformer-lm", "the attention block is called without the causal mask: position t "
      "sees the tokens it must predict", expect=("ND309",), fast=True)
def _():
    x, y = tokens(seed=301)
    torch.manual_seed(0)
    net = TinyLM(causal=False)
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=_adam(net))


class _FlippedMaskLM(TinyLM):
    def mask(self, t, device):
        # BUG: True marks a blocked position; tril blocks the past and lets every position see the future
        return torch.tril(torch.ones(t, t, dtype=torch.bool, device=device), diagonal=-1)

    def forward(self, idx):
        h = self.block(self.embed(idx), src_mask=self.mask(idx.shape[1], idx.device))  # (B, T, D)
        return self.head(self.norm(h))  # (B, T, V)


@case("lm-mask-flipped", "transformer-lm", "a hand-built boolean mask with tril where triu was meant: the future "
      "is visible, the past hidden", expect=("ND309",))
def _():
    x, y = tokens(seed=302)
    torch.manual_seed(0)
    net = _FlippedMaskLM()
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=_adam(net))


@case("lm-targets-not-shifted", "transformer-lm", "targets are the input tokens themselves (the shift by one is "
      "missing)", expect=("ND111",))
def _():
    x, _ = tokens(seed=303)
    torch.manual_seed(0)
    net = TinyLM()
    return dict(model=net, data=loader(x, x.clone()), loss=lm_loss, optimizer=_adam(net))


class _SoftmaxLM(TinyLM):
    def forward(self, idx):
        return F.softmax(super().forward(idx), dim=-1)  # BUG: probabilities into a cross-entropy on logits


@case("lm-softmax-before-ce", "transformer-lm", "the model returns softmax probabilities, then cross_entropy",
      expect=("ND202",))
def _():
    x, y = tokens(seed=304)
    torch.manual_seed(0)
    net = _SoftmaxLM()
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=_adam(net))


class _PlainTensorPos(TinyLM):
    def __init__(self):
        super().__init__()
        del self.pos
        self.pos = torch.zeros(CONTEXT, WIDTH, requires_grad=True)  # BUG: a plain tensor, not nn.Parameter


@case("lm-pos-not-parameter", "transformer-lm", "the position embedding is a plain tensor with requires_grad, "
      "not an nn.Parameter", expect=("ND410",))
def _():
    x, y = tokens(seed=305)
    torch.manual_seed(0)
    net = _PlainTensorPos()
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=_adam(net))


class _FrozenEmbeddingLM(TinyLM):
    def embed(self, idx):
        with torch.no_grad():  # BUG: meant only for a cached lookup: the embeddings never get a gradient
            tok = self.tok(idx)  # (B, T, D)
        return tok + self.pos[: idx.shape[1]]


@case("lm-embedding-under-no-grad", "transformer-lm", "the token embedding lookup runs under torch.no_grad()",
      expect=("ND401",))
def _():
    x, y = tokens(seed=306)
    torch.manual_seed(0)
    net = _FrozenEmbeddingLM()
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=_adam(net))


def _no_zero_grad(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    loss = loss_fn(model(x), y)
    loss.backward()  # BUG: no optimizer.zero_grad() anywhere in the loop
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss


@case("lm-no-zero-grad", "transformer-lm", "the training loop never calls zero_grad()", expect=("ND409",))
def _():
    x, y = tokens(seed=307)
    torch.manual_seed(0)
    net = TinyLM()
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=_adam(net), train_step=_no_zero_grad)


@case("lm-eos-out-of-vocab", "transformer-lm", "an end-of-sequence id appended to the targets equals the vocabulary "
      "size (the head has no row for it)", expect=("ND105",))
def _():
    x, y = tokens(seed=308)
    y = y.clone()
    y[:, -1] = VOCAB  # (B, T): the EOS id, one past the last row of the head
    torch.manual_seed(0)
    net = TinyLM()
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=_adam(net))


__all__ = ["TinyLM", "good_step"]


@case("lm-declared-classification-no-mask", "transformer-lm", "a GPT-style model without its causal mask, declared "
      "task: classification in the config (as for token classification); its targets are its inputs shifted",
      expect=("ND309",))
def _():
    x, y = tokens(seed=320)
    torch.manual_seed(0)
    net = TinyLM(causal=False)
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=_adam(net), task="classification")
