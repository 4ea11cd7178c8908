"""Data made in memory with a fixed seed, learnable (labels depend on the inputs), and a correct training step.

Every builder takes a seed so a case is the same on every run. Sizes are small: a case must diagnose in a
second or two on a 2-core CPU.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BATCH = 32
SEED_OFFSET = 0  # added to every seed by `gen`: the zoo's --seeds mode draws other data and loader orders


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed + SEED_OFFSET)


def loader(x, y, batch_size: int = BATCH, shuffle: bool = True, seed: int = 0, **kwargs) -> DataLoader:
    """A DataLoader over in-memory tensors, shuffled with its own seeded generator."""
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle,
                      generator=gen(seed + 1) if shuffle else None, **kwargs)


def blobs(n: int = 512, features: int = 10, classes: int = 4, seed: int = 0):
    """Tabular classification: unit-scale features, labels = argmax of a fixed linear map of the features."""
    g = gen(seed)
    x = torch.randn(n, features, generator=g)  # (N, F)
    w = torch.randn(features, classes, generator=g)  # (F, C)
    y = (x @ w).argmax(dim=1)  # (N,)
    return x, y


def images(n: int = 512, classes: int = 4, size: int = 8, seed: int = 0):
    """Grey images in [0, 1]: each class is a bright template (a bar in its own place) plus noise."""
    g = gen(seed)
    templates = torch.zeros(classes, size, size)  # (C, H, W)
    for c in range(classes):
        r = (2 * c) % (size - 1)
        if c % 2 == 0:
            templates[c, r:r + 2, :] = 1.0  # a horizontal bar
        else:
            templates[c, :, r:r + 2] = 1.0  # a vertical bar
    y = torch.randint(0, classes, (n,), generator=g)  # (N,)
    x = 0.7 * templates[y] + 0.3 * torch.rand(n, size, size, generator=g)  # (N, H, W) in [0, 1]
    return x.unsqueeze(1), y  # (N, 1, H, W), (N,)


def standardize(x: torch.Tensor) -> torch.Tensor:
    """Zero mean and unit variance with statistics of the (training) set itself."""
    return (x - x.mean()) / x.std()


def sequences(n: int = 512, steps: int = 12, features: int = 4, classes: int = 3, seed: int = 0):
    """Sequence classification: the label is the argmax of a linear map of the time-averaged features."""
    g = gen(seed)
    x = torch.randn(n, steps, features, generator=g)  # (N, T, F)
    w = torch.randn(features, classes, generator=g)  # (F, C)
    y = (x.mean(dim=1) @ w).argmax(dim=1)  # (N,)
    return x, y


def tokens(n: int = 256, steps: int = 16, vocab: int = 24, seed: int = 0):
    """Token sequences from a fixed rule (each token is the sum of the previous one and the one four places back,
    modulo the vocabulary) after four random tokens, so sequences are distinct and the rule is learnable.
    Returns inputs and the targets shifted by one, both (N, T) int64."""
    g = gen(seed)
    seq = torch.zeros(n, steps + 1, dtype=torch.long)  # (N, T+1)
    seq[:, :4] = torch.randint(0, vocab, (n, 4), generator=g)
    for t in range(4, steps + 1):
        seq[:, t] = (seq[:, t - 1] + seq[:, t - 4]) % vocab
    return seq[:, :-1].contiguous(), seq[:, 1:].contiguous()


def linear_regression(n: int = 512, features: int = 8, noise: float = 0.1, seed: int = 0):
    """Regression with unit-scale features and targets: y = x w + noise, shape (N,)."""
    g = gen(seed)
    x = torch.randn(n, features, generator=g)  # (N, F)
    w = torch.randn(features, generator=g) / features ** 0.5  # (F,)
    y = x @ w + noise * torch.randn(n, generator=g)  # (N,)
    return x, y


def binary(n: int = 512, features: int = 8, positive: float = 0.5, seed: int = 0):
    """Binary labels from a linear score, thresholded so that a fraction `positive` are 1. Float targets (N,)."""
    g = gen(seed)
    x = torch.randn(n, features, generator=g)  # (N, F)
    w = torch.randn(features, generator=g)  # (F,)
    score = x @ w  # (N,)
    cut = torch.quantile(score, 1.0 - positive)
    y = (score > cut).float()  # (N,)
    return x, y


def mlp(features: int = 10, hidden: int = 32, classes: int = 4, act=nn.ReLU) -> nn.Sequential:
    return nn.Sequential(nn.Linear(features, hidden), act(), nn.Linear(hidden, hidden), act(),
                         nn.Linear(hidden, classes))


class SqueezeLast(nn.Module):
    """(N, 1) -> (N,): the output shape of a one-output head for a (N,) target."""

    def forward(self, x):
        return x.squeeze(-1)  # (N, 1) -> (N,)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every position of a (B, T, V) output against (B, T) token targets."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))  # (B*T, V), (B*T,)


def good_step(model, batch, loss_fn, optimizer):
    """A correct training step, the baseline that the loop bugs are injected into."""
    x, y = batch
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def adam(model: nn.Module, lr: float = 1e-3) -> torch.optim.Adam:
    """Adam over every parameter of the model, the zoo's default optimizer."""
    return torch.optim.Adam(model.parameters(), lr=lr)
