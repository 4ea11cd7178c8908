"""Healthy setups that a naive doctor would flag: each one does on purpose what a simple rule calls a bug.

None of them may get an error; the target is at most one warning per two healthy setups.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import case
from ._common import (SqueezeLast, adam, binary, blobs, gen, good_step, images, linear_regression, lm_loss,
                      loader, sequences, standardize, tokens)
from .cascade_gradients import contrastive_loss, embedder
from .cnn import small_cnn
from .rnn import ReluRNN, SeqClassifier
from .transformer_lm import VOCAB, TinyLM


@case("healthy-mlp-batchnorm-dropout", "mlp", "BatchNorm1d mixes samples in train mode; dropout makes train "
      "outputs vary", healthy=True, fast=True)
def _():
    x, y = blobs(seed=601)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 4))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("healthy-adam-small-lr", "mlp", "Adam at lr=1e-4, ten times below its default: slow on one batch (a few "
      "budgets of steps) but a workable setting", healthy=True)
def _():
    x, y = blobs(seed=630)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net, lr=1e-4))


@case("healthy-long-tail-classes", "mlp", "200 classes with Zipf frequencies: most classes are rare, many "
      "appear once in the batches read, and the head has an output for each", healthy=True)
def _():
    g = gen(631)
    p = 1.0 / torch.arange(1, 201).double() ** 1.1  # (C,) Zipf class frequencies
    y = torch.multinomial(p / p.sum(), 1024, replacement=True, generator=g)  # (N,)
    centres = 2.0 * torch.randn(200, 10, generator=g)  # (C, F) one cluster per class
    x = centres[y] + torch.randn(1024, 10, generator=g)  # (N, F)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 200))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("healthy-hard-rule-small-model", "mlp", "labels from a two-layer rule of 32 features that a small MLP learns "
      "slowly: after tens of steps it has barely fitted the 64 samples it trains on", healthy=True)
def _():
    g = gen(1)
    x = torch.randn(1024, 32, generator=g)  # (N, F)
    w1, w2 = torch.randn(32, 64, generator=g), torch.randn(64, 4, generator=g)
    y = (torch.tanh(x @ w1 / 32 ** 0.5) @ w2).argmax(dim=1)  # (N,) informative, but not linearly
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))
    return dict(model=net, data=loader(x, y, seed=-1), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("healthy-cnn-batchnorm", "cnn", "a BatchNorm CNN on standardised images", healthy=True)
def _():
    x, y = images(seed=602)
    torch.manual_seed(0)
    net = small_cnn(batchnorm=True)
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("healthy-frozen-backbone", "cnn", "a 'pretrained' conv backbone frozen on purpose; the head trains and the "
      "optimizer holds only the trainable parameters", healthy=True, fast=True)
def _():
    x, y = images(seed=603)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = small_cnn()[:-1]  # (B, 64)
            self.head = nn.Linear(64, 4)

        def forward(self, x):
            return self.head(self.backbone(x))

    torch.manual_seed(0)
    net = Net()
    for p in net.backbone.parameters():
        p.requires_grad_(False)
    return dict(model=net, data=loader(standardize(x), y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=3e-3))


@case("healthy-label-smoothing", "mlp", "CrossEntropyLoss(label_smoothing=0.2): the loss floor is well above 0",
      healthy=True)
def _():
    x, y = blobs(seed=604)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(label_smoothing=0.2), optimizer=adam(net))


@case("healthy-heavy-dropout", "mlp", "dropout p=0.5 after every hidden layer", healthy=True)
def _():
    x, y = blobs(seed=605)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 128), nn.ReLU(),
                        nn.Dropout(0.5), nn.Linear(128, 4))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net))


@case("healthy-logsoftmax-nll", "mlp", "LogSoftmax as the last layer with NLLLoss", healthy=True)
def _():
    x, y = blobs(seed=606)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4), nn.LogSoftmax(dim=1))
    return dict(model=net, data=loader(x, y), loss=nn.NLLLoss(), optimizer=adam(net))


def _prior_bias_classifier(p: float) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1), SqueezeLast())
    with torch.no_grad():
        net[4].bias.fill_(math.log(p / (1 - p)))  # the prior's log-odds: the initial loss is the prior's entropy
    return net


@case("healthy-imbalance-pos-weight", "binary", "5% positives handled with pos_weight and a prior-matched output "
      "bias", healthy=True)
def _():
    x, y = binary(n=1024, positive=0.05, seed=607)
    torch.manual_seed(0)
    net = _prior_bias_classifier(0.05)
    return dict(model=net, data=loader(x, y), loss=nn.BCEWithLogitsLoss(pos_weight=torch.tensor(19.0)),
                optimizer=adam(net))


@case("healthy-imbalance-prior-bias", "binary", "8% positives with the output bias set to the prior's log-odds",
      healthy=True)
def _():
    x, y = binary(n=1024, positive=0.08, seed=608)
    torch.manual_seed(0)
    net = _prior_bias_classifier(0.08)
    return dict(model=net, data=loader(x, y), loss=nn.BCEWithLogitsLoss(), optimizer=adam(net))


@case("healthy-lm-tied-causal", "transformer-lm", "a transformer LM with tied embedding/head weights and a proper "
      "causal mask; integer token inputs", healthy=True, fast=True)
def _():
    x, y = tokens(seed=609)
    torch.manual_seed(0)
    net = TinyLM(tied=True)
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=adam(net, 3e-3))


class GRULM(nn.Module):
    """A GRU language model with the output head tied to the embedding (causal by construction)."""

    def __init__(self, vocab=VOCAB, width=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.rnn = nn.GRU(width, width, batch_first=True)
        self.head = nn.Linear(width, vocab)
        self.head.weight = self.emb.weight

    def forward(self, idx):  # idx: (B, T)
        h, _ = self.rnn(self.emb(idx))  # (B, T, D)
        return self.head(h)  # (B, T, V)


@case("healthy-gru-lm-tied", "rnn", "a GRU language model with tied weights; integer token inputs",
      healthy=True)
def _():
    x, y = tokens(seed=610)
    torch.manual_seed(0)
    net = GRULM()
    return dict(model=net, data=loader(x, y), loss=lm_loss, optimizer=adam(net, 3e-3))


@case("healthy-regression-large-mean", "regression", "targets around 5000 with the output bias initialised to "
      "their mean (targets not standardised, on purpose)", healthy=True, fast=True)
def _():
    x, y = linear_regression(seed=611)
    y = 5000.0 + y  # (N,) a large mean, unit spread
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1), SqueezeLast())
    with torch.no_grad():
        net[4].bias.fill_(float(y.mean()))
    return dict(model=net, data=loader(x, y), loss=nn.MSELoss(), optimizer=adam(net, 3e-3))


def adam_with_warmup(model, lr=1e-3, warmup=20):
    """Adam with a linear warm-up from zero: the scheduler sets lr to 0 at construction."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    opt.warmup = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, step / warmup))
    return opt


def _warmup_step(model, batch, loss_fn, optimizer):
    loss = good_step(model, batch, loss_fn, optimizer)
    optimizer.warmup.step()  # the warm-up advances once per step
    return loss


@case("healthy-warmup-from-zero", "mlp", "a linear learning-rate warm-up that starts at lr=0 (first step changes "
      "nothing by design)", healthy=True)
def _():
    x, y = blobs(seed=612)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam_with_warmup,
                train_step=_warmup_step)


def _info_nce(z: torch.Tensor, _labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """In-batch negatives: each view must pick its own pair among all samples of the batch."""
    a, b = F.normalize(z[:, 0], dim=-1), F.normalize(z[:, 1], dim=-1)  # (B, D) each
    logits = a @ b.T / temperature  # (B, B): row i's positive is column i
    return F.cross_entropy(logits, torch.arange(len(z), device=z.device))


class TwoViewEncoder(nn.Module):
    def __init__(self, features=10, width=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, width))

    def forward(self, views):  # views: (B, 2, F)
        return self.net(views)  # (B, 2, D)


@case("healthy-in-batch-negatives", "mlp", "a contrastive (InfoNCE) loss that couples the samples of a batch on "
      "purpose", healthy=True)
def _():
    x, y = blobs(seed=613)
    g = gen(614)
    views = torch.stack([x + 0.1 * torch.randn(x.shape, generator=g),
                         x + 0.1 * torch.randn(x.shape, generator=g)], dim=1)  # (N, 2, F): two noisy views
    torch.manual_seed(0)
    net = TwoViewEncoder()
    return dict(model=net, data=loader(views, y), loss=_info_nce, optimizer=adam(net))


class PaddedBagClassifier(nn.Module):
    """Token-id sequences padded with 0; an Embedding with padding_idx=0, mean over real tokens, a linear head."""

    def __init__(self, vocab=500, width=16, classes=3):
        super().__init__()
        self.emb = nn.Embedding(vocab, width, padding_idx=0)
        self.head = nn.Linear(width, classes)

    def forward(self, idx):  # idx: (B, T) int64, 0 = padding
        mask = (idx != 0).float().unsqueeze(-1)  # (B, T, 1)
        pooled = (self.emb(idx) * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, D)
        return self.head(pooled)


@case("healthy-padding-embedding", "rnn", "an Embedding(500, padding_idx=0) over padded token ids: the padding row "
      "and the rows of absent tokens get no gradient", healthy=True)
def _():
    g = gen(615)
    n, t = 512, 12
    idx = torch.randint(1, 120, (n, t), generator=g)  # (N, T) ids 1..119 only: rows 120..499 never appear
    lengths = torch.randint(4, t + 1, (n,), generator=g)
    idx[torch.arange(t)[None, :] >= lengths[:, None]] = 0  # (N, T) right padding
    groups = torch.stack([((idx >= lo) & (idx < lo + 40)).sum(1) for lo in (1, 41, 81)], dim=1)  # (N, 3)
    y = groups.argmax(dim=1)  # (N,) the token range that dominates the sequence
    torch.manual_seed(0)
    net = PaddedBagClassifier()
    return dict(model=net, data=loader(idx, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net, 1e-2))


def _accumulate_two(model, batch, loss_fn, optimizer):
    """Gradient accumulation over 2 micro-batches: step and zero_grad every second call, loss divided by 2."""
    x, y = batch
    model.train()
    loss = loss_fn(model(x), y)
    (loss / 2).backward()
    optimizer.micro = getattr(optimizer, "micro", 0) + 1
    if optimizer.micro % 2 == 0:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return loss


@case("healthy-grad-accumulation", "mlp", "gradient accumulation over two micro-batches in the user's step",
      healthy=True)
def _():
    x, y = blobs(seed=616)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4))
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net),
                train_step=_accumulate_two)


@case("healthy-lstm-classifier", "rnn", "an LSTM (batch_first=True) sequence classifier, sigmoid gates inside",
      healthy=True)
def _():
    x, y = sequences(seed=617)
    torch.manual_seed(0)
    net = SeqClassifier()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(), optimizer=adam(net, 3e-3))


@case("healthy-huber-regression", "regression", "standardised targets, SmoothL1Loss, a (N,) output", healthy=True)
def _():
    x, y = linear_regression(seed=618)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1), SqueezeLast())
    return dict(model=net, data=loader(x, y / y.std()), loss=nn.SmoothL1Loss(), optimizer=adam(net))


__all__ = ["GRULM", "adam_with_warmup"]


def _clipped_step(model, batch, loss_fn, optimizer):
    """A correct step with the gradient norm clipped to 1, as IRNNs are trained (Le et al. 2015 clip gradients)."""
    x, y = batch
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss


@case("healthy-irnn-identity", "rnn", "a ReLU RNN over 40 steps with identity recurrent weights (IRNN, Le et al. "
      "2015) trained with gradient clipping, as the paper does: the hidden state sums its inputs and grows "
      "linearly, not geometrically (the other side of ND305 over time)", healthy=True)
def _():
    x, y = sequences(n=512, steps=40, seed=617)
    torch.manual_seed(0)
    net = ReluRNN()
    with torch.no_grad():
        net.rnn.weight_hh_l0.copy_(torch.eye(net.rnn.hidden_size))
        net.rnn.bias_hh_l0.zero_()
        net.rnn.bias_ih_l0.zero_()
    return dict(model=net, data=loader(x, y), loss=nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(net.parameters(), lr=0.01), train_step=_clipped_step)


@case("healthy-preshuffled-sequential", "mlp", "the dataset was shuffled once when it was written, and the "
      "DataLoader reads it in order (shuffle=False): batches still mix classes (the other side of ND106)",
      healthy=True)
def _():
    x, y = blobs(n=1024, seed=618)
    order = torch.randperm(len(y), generator=gen(618))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4))
    return dict(model=net, data=loader(x[order], y[order], shuffle=False), loss=nn.CrossEntropyLoss(),
                optimizer=adam(net))


@case("healthy-distillation-soft-targets", "mlp", "a student trained on a teacher's softened probabilities "
      "(soft-target cross-entropy): its logits move away from the probability values while the loss falls (the "
      "other side of ND502's gradient-ascent test, which judges only the probability of a label)", healthy=True)
def _():
    x, _ = blobs(n=512, seed=619)
    torch.manual_seed(1)
    teacher = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 4))
    with torch.no_grad():
        soft = (teacher(x) / 2.0).softmax(dim=1)  # (N, C) temperature 2
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4))
    return dict(model=net, data=loader(x, soft), loss=nn.CrossEntropyLoss(), optimizer=adam(net),
                task="classification")



@case("healthy-contrastive-pairwise-distance", "mlp", "a contrastive loss over every pair of the batch, distances "
      "with an epsilon under the square root, on 8-dimensional embeddings (not logits)", healthy=True)
def _():
    # Its loss falls while most samples' 'probability of the label' (the embedding read as logits) falls: the
    # gradient-ascent judge of overfit-one-batch took that for a sign error until it also required the batch's
    # mean log-probability to fall.
    x, y = blobs(seed=460)
    torch.manual_seed(0)
    net = embedder()
    return dict(model=net, data=loader(x, y), loss=functools.partial(contrastive_loss, eps=1e-9),
                optimizer=torch.optim.Adam(net.parameters(), lr=1e-3))
