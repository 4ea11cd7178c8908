"""A small Transformer language model trained the way the PyTorch word_language_model example trains its
Transformer (`main.py --model Transformer --lr 5 --clip 0.25`): plain SGD at a learning rate of 5, which is only
safe because every step clips the gradient norm to 0.25 after backward. The model follows the example's
TransformerModel (scaled embedding, sinusoidal positions, a causally masked encoder, a linear decoder, log_softmax,
NLL loss on the flattened outputs); batches are batch-first here (the example is time-major), and an SGD
optimizer stands in for the example's hand-written `p.data.add_(p.grad, alpha=-lr)`.

Judged without the user's step, lr 5 would look far too high; through it, the clipped update is healthy.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..cases._common import loader, tokens
from ..registry import case

VOCAB = 24
LR = 5.0
CLIP = 0.25


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, dropout: float = 0.2, max_len: int = 64):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        position = torch.arange(max_len).unsqueeze(1)  # (L, 1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)  # (L, D)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)
        self.register_buffer("pe", pe)

    def forward(self, x):  # (B, T, D)
        return self.dropout(x + self.pe[: x.size(1)])


class TransformerLM(nn.Module):
    def __init__(self, vocab: int = VOCAB, d_model: int = 32, heads: int = 2, hidden: int = 64, layers: int = 2,
                 dropout: float = 0.2):
        super().__init__()
        self.d_model = d_model
        self.encoder = nn.Embedding(vocab, d_model)
        self.pos = PositionalEncoding(d_model, dropout)
        layer = nn.TransformerEncoderLayer(d_model, heads, hidden, dropout, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.decoder = nn.Linear(d_model, vocab)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)  # the example's init_weights
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, idx):  # (B, T) -> (B, T, V) log-probabilities
        t = idx.size(1)
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=idx.device)  # (T, T)
        h = self.pos(self.encoder(idx) * math.sqrt(self.d_model))
        h = self.transformer(h, mask=mask, is_causal=True)
        return F.log_softmax(self.decoder(h), dim=-1)


def lm_nll(output, targets):
    """The example's criterion on flattened outputs: NLLLoss over (B*T, V) and (B*T,)."""
    return F.nll_loss(output.reshape(-1, output.size(-1)), targets.reshape(-1))


def _clipped_step(model, batch, loss_fn, optimizer):
    """The example's step: zero the gradients, forward, loss, backward, clip the norm to 0.25, update."""
    x, y = batch
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    optimizer.step()
    return loss.detach()


def _clip_before_backward(model, batch, loss_fn, optimizer):
    # Clipping called before loss.backward() clips the previous (zeroed) gradients and leaves this step's alone;
    # a frequent mistake named in guides: "the most common error is to call clipping before loss.backward() or
    # after optimizer.step()": https://runebook.dev/ru/docs/pytorch/generated/torch.nn.utils.clip_grads_with_norm_
    x, y = batch
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)  # BUG: no gradient yet
    loss.backward()
    optimizer.step()
    return loss.detach()


def _clip_after_step(model, batch, loss_fn, optimizer):
    # Clipping after optimizer.step() is "a silent bug": the step already used the unclipped gradient.
    # https://theneuralbase.com/pytorch/learn/intermediate/gradient-exploding-gradient-clipping/
    x, y = batch
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)  # BUG: too late
    return loss.detach()


def _setup(seed, step):
    x, y = tokens(n=128, steps=12, vocab=VOCAB, seed=seed)
    torch.manual_seed(0)
    net = TransformerLM()
    return dict(model=net, data=loader(x, y, batch_size=16), loss=lm_nll,
                optimizer=torch.optim.SGD(net.parameters(), lr=LR), train_step=step)


@case("clipped-transformer-healthy", "clipped-transformer", "a causal Transformer LM trained with SGD at lr 5 and "
      "clip_grad_norm_(0.25) in its own step, as the word_language_model example trains it", healthy=True)
def _():
    return _setup(921, _clipped_step)


@case("clipped-transformer-clip-before-backward", "clipped-transformer", "clip_grad_norm_ called before "
      "backward: nothing is clipped and lr 5 applies the raw gradient", expect=("ND407",))
def _():
    return _setup(922, _clip_before_backward)


@case("clipped-transformer-clip-after-step", "clipped-transformer", "clip_grad_norm_ called after "
      "optimizer.step(): the step used the unclipped gradient", expect=("ND407",))
def _():
    return _setup(923, _clip_after_step)
