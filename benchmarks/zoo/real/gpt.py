"""A nanoGPT-style language model that computes its own loss: `logits, loss = model(idx, targets)`.

Written the way nanoGPT and minGPT write it (not copied): pre-norm blocks of causal self-attention (PyTorch's
scaled_dot_product_attention with `is_causal=True`) and a GELU MLP, a head tied to the token embedding, and a
forward that, given targets, returns the logits of every position and
`F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-1)`; without targets only the last
position's logits (what generation needs). Trained as nanoGPT trains: AdamW with betas (0.9, 0.95), weight decay
on the 2-D weights only. The batches are `(x, y)` with y the next tokens; minGPT's sort demo masks the prompt
positions of y with -1 so that only the answer is scored.

All cases are run with `loss="model"`: the targets are handed to forward as its second argument.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..cases._common import gen, loader, tokens
from ..registry import case

VOCAB, CONTEXT, WIDTH, HEADS, LAYERS = 24, 16, 32, 2, 2
IGNORE = -1  # nanoGPT's and minGPT's ignore_index


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused q, k, v projection; causal unless told otherwise."""

    def __init__(self, width: int, heads: int, causal: bool = True):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):  # x: (B, T, C)
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)  # (B, nh, T, hs)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, causal: bool = True):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads, causal)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x):  # (B, T, C)
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token and position embeddings, `LAYERS` blocks, a final LayerNorm and a head tied to the embedding."""

    def __init__(self, vocab=VOCAB, context=CONTEXT, width=WIDTH, heads=HEADS, layers=LAYERS, causal=True,
                 ignore_index=IGNORE):
        super().__init__()
        self.ignore_index = ignore_index
        self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads, causal) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.wte.weight = self.lm_head.weight  # weight tying, as GPT-2
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # scaled init of the residual projections (GPT-2)
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None):  # idx: (B, T) int64
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        if targets is None:  # inference: only the last position is needed
            return self.lm_head(x[:, [-1], :]), None  # (B, 1, V)
        logits = self.lm_head(x)  # (B, T, V)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=self.ignore_index)
        return logits, loss


def adamw(model: nn.Module, lr: float = 1e-3, weight_decay: float = 0.1) -> torch.optim.AdamW:
    """nanoGPT's configure_optimizers: weight decay on the matrices (dim >= 2), none on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def sort_task(n: int = 256, digits: int = 6, seed: int = 0):
    """minGPT's sort demo: the input is a list of digits then its sorted copy; the targets are the next tokens,
    with the prompt positions masked to -1 so that only the sorted half is scored. (N, 2*digits - 1) each."""
    g = gen(seed)
    inp = torch.randint(0, 3, (n, digits), generator=g)  # (N, D) digits of a 3-letter alphabet
    seq = torch.cat([inp, inp.sort(dim=1).values], dim=1)  # (N, 2D)
    x, y = seq[:, :-1].clone(), seq[:, 1:].clone()
    y[:, :digits - 1] = IGNORE  # the model is not asked to predict the random prompt
    return x, y


def _case(x, y, **kwargs):
    torch.manual_seed(0)
    net = GPT(**kwargs)
    return dict(model=net, data=loader(x, y), loss="model", optimizer=adamw(net, lr=1e-3))


@case("gpt-healthy", "gpt", "a nanoGPT-style LM computing its own loss (ignore_index=-1), trained with AdamW "
      "(0.9, 0.95) and decoupled weight decay on the matrices", healthy=True)
def _():
    x, y = tokens(seed=1101)
    return _case(x, y)


@case("gpt-sort-masked-prompt", "gpt", "minGPT's sort demo: prompt positions of the targets masked with -1, the "
      "loss's ignore_index", healthy=True)
def _():
    x, y = sort_task(seed=1102)
    return _case(x, y, vocab=3, context=11)


@case("gpt-targets-not-shifted", "gpt", "y = x: the targets are the input tokens themselves, not the next ones",
      expect=("ND111",))
def _():
    # How the next-token targets are built confuses users of nanoGPT-style code, who then train on y = x:
    # https://github.com/karpathy/build-nanogpt/issues/82 (how is the autoregressive loss handled?)
    x, _ = tokens(seed=1103)
    return _case(x, x.clone())


@case("gpt-no-causal-mask", "gpt", "attention called with is_causal=False: every position sees the token it must "
      "predict", expect=("ND309",))
def _():
    # Attention without the causal mask: https://github.com/karpathy/minGPT/issues/75 (near-zero loss, useless
    # at generation) and https://github.com/alex-matton/causal-transformer-decoder/issues/1
    x, y = tokens(seed=1104)
    return _case(x, y, causal=False)


@case("gpt-pad-not-ignored", "gpt", "the collator pads the targets with -100 (the Hugging Face convention) while "
      "the model's loss ignores -1: the loss raises on the pads", expect=("ND308", "ND105"))
def _():
    # ignore_index=-1 in nanoGPT against -100 padding: https://github.com/karpathy/nanoGPT/issues/323 and the
    # resulting "Target -1/-100 is out of bounds": https://github.com/thu-coai/CDial-GPT/issues/31
    x, y = sort_task(seed=1105)
    y[y == IGNORE] = -100
    return _case(x, y, vocab=3, context=11)
