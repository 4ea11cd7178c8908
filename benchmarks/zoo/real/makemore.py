"""A tiny character-level Transformer written the way karpathy/makemore (and minGPT) write it: the MLP's modules
in an nn.ModuleDict called through a lambda closure (`self.mlpf = lambda x: m.c_proj(m.act(m.c_fc(x)))`, which
copy.deepcopy copies by reference), a causal mask registered as a buffer, and `forward(idx, targets=None)` that
returns `(logits, loss)` with the loss computed by the model itself, `F.cross_entropy(..., ignore_index=-1)` over
names padded with -1; trained with AdamW(lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8) as makemore
trains.

The model-computed loss (config `loss: model`) is not available on this branch: the cases hand nndoctor the
logits (`outputs: 0` of the returned tuple, targets not passed to forward) and the same cross-entropy as a
function loss."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..cases._common import gen, loader
from ..registry import case

LETTERS, BLOCK, EMBD, HEADS, LAYERS = 12, 9, 32, 4, 2
VOCAB = LETTERS + 1  # 0 is the start/end token


class NewGELU(nn.Module):
    """GELU as in Google BERT and OpenAI GPT (the tanh approximation)."""

    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class CausalSelfAttention(nn.Module):
    def __init__(self, causal: bool = True):
        super().__init__()
        self.c_attn = nn.Linear(EMBD, 3 * EMBD)
        self.c_proj = nn.Linear(EMBD, EMBD)
        self.causal = causal
        self.register_buffer("bias", torch.tril(torch.ones(BLOCK, BLOCK)).view(1, 1, BLOCK, BLOCK))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(EMBD, dim=2)
        q, k, v = (t.view(B, T, HEADS, C // HEADS).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, T, T)
        if self.causal:
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v  # (B, nh, T, hs)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, causal: bool = True):
        super().__init__()
        self.ln_1 = nn.LayerNorm(EMBD)
        self.attn = CausalSelfAttention(causal)
        self.ln_2 = nn.LayerNorm(EMBD)
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(EMBD, 4 * EMBD), c_proj=nn.Linear(4 * EMBD, EMBD),
                                      act=NewGELU()))
        m = self.mlp
        self.mlpf = lambda x: m.c_proj(m.act(m.c_fc(x)))  # MLP forward, as makemore writes it

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlpf(self.ln_2(x))  # (B, T, C)


class Transformer(nn.Module):
    def __init__(self, causal: bool = True):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(VOCAB, EMBD), wpe=nn.Embedding(BLOCK, EMBD),
            h=nn.ModuleList([Block(causal) for _ in range(LAYERS)]), ln_f=nn.LayerNorm(EMBD)))
        self.lm_head = nn.Linear(EMBD, VOCAB, bias=False)

    def forward(self, idx, targets=None):
        t = idx.size(1)
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device).unsqueeze(0)  # (1, T)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)  # (B, T, C)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = char_loss(logits, targets)
        return logits, loss


def char_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """makemore's loss: cross-entropy over every position, the -1 padding after a name's end ignored."""
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)  # (B*T, V)


def names(n: int = 512, seed: int = 0, shift: bool = True):
    """makemore's CharDataset on made-up names: a name is 3 to 8 letters (1..LETTERS) in syllables, a random
    letter and then the letter it fixes (a fixed bigram map), so the names are distinct and half of each is
    learnable; x = [0, name, 0...], y = [name, 0, -1...] (the end token, then ignored padding). Returns x and y,
    (N, BLOCK) int64."""
    g = gen(seed)
    x = torch.zeros(n, BLOCK, dtype=torch.long)  # (N, T)
    y = torch.full((n, BLOCK), -1, dtype=torch.long)  # (N, T)
    lengths = torch.randint(3, BLOCK, (n,), generator=g)
    free = torch.randint(0, LETTERS, (n, BLOCK), generator=g)
    for i in range(n):
        word: list[int] = []
        for j in range(int(lengths[i])):
            word.append(int(free[i, j]) if j % 2 == 0 else (5 * word[-1] + 3) % LETTERS)
        word = [c + 1 for c in word]
        x[i, 1:len(word) + 1] = torch.tensor(word)
        y[i, :len(word)] = torch.tensor(word)
        y[i, len(word)] = 0
    if not shift:
        y = torch.where(y >= 0, x, y)  # BUG (see its case): targets are the inputs themselves
    return x, y


def _adamw(model):
    return torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8)


def _setup(net, x, y, **extra):
    return dict(model=net, data=loader(x, y), loss=char_loss, optimizer=_adamw(net), outputs="0", **extra)


@case("makemore-healthy", "makemore", "makemore's Transformer (lambda mlpf closure, causal mask buffer, -1 padding "
      "ignored), AdamW", healthy=True)
def _():
    x, y = names(seed=1301)
    torch.manual_seed(0)
    return _setup(Transformer(), x, y)


@case("makemore-no-causal-mask", "makemore", "the attention's masked_fill with the tril buffer is skipped: each "
      "position sees the letters it must predict", expect=("ND309",))
def _():
    # Users report the missing or ineffective mask in https://github.com/huggingface/transformers/issues/3069 ("the
    # model can simply learn to copy the input") and https://github.com/karpathy/minGPT/issues/75 (near-zero loss,
    # useless generation)
    x, y = names(seed=1302)
    torch.manual_seed(0)
    return _setup(Transformer(causal=False), x, y)


@case("makemore-targets-not-shifted", "makemore", "the dataset returns the input letters as targets (the shift by "
      "one is missing)", expect=("ND111",))
def _():
    # https://github.com/songlab-cal/tape/issues/32 (language-modelling targets "exactly the same as the inputs"
    # except for the -1 padding)
    x, y = names(seed=1303, shift=False)
    torch.manual_seed(0)
    return _setup(Transformer(), x, y)


def _zeroed_before_step(model, batch, loss_fn, optimizer):
    """makemore's loop with `model.zero_grad(set_to_none=True)` moved below backward: every step sees no gradient."""
    x, y = batch
    model.train()
    logits, _ = model(x)
    loss = loss_fn(logits, y)
    loss.backward()
    model.zero_grad(set_to_none=True)  # BUG: between backward and step
    optimizer.step()
    return loss


@case("makemore-zero-grad-before-step", "makemore", "the training step zeroes the gradients between backward and "
      "the optimizer step", expect=("ND408",))
def _():
    # Users ask where zero_grad goes and how the optimizer can update after it:
    # https://github.com/patrickloeber/pytorchTutorial/issues/19 and https://github.com/milesial/Pytorch-UNet/issues/378
    x, y = names(seed=1304)
    torch.manual_seed(0)
    return _setup(Transformer(), x, y, train_step=_zeroed_before_step)
