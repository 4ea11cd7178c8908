"""Train and eval modes on copies: dropout off, BatchNorm statistics brought up to date, outputs measured.

Comparing a model's outputs in train and eval mode (or judging a model after a short training run in eval
mode) needs the same two preparations each time, kept here once:

    drop = dropout_off(model)                          # dropout (also attention/RNN dropout) in eval mode
    frozen, moved = refresh_batchnorm(ctx, model, bs)  # running statistics := exact averages over bs

one measure of an output's scale that a constant offset does not inflate, and how random eval mode is:

    spread(out)                       # RMS over output elements of the std across samples (dim 0)
    rms(out)                          # RMS of all values
    eval_noise(ctx, model, inputs)    # two eval passes apart, over the outputs' spread

and which kind of randomness an eval-mode forward draws, to tell sampling by design from a mode bug:

    eval_randomness(ctx, model, inputs)   # Randomness(masking=[...], sampling=[...]); .by_design
    with same_draws(device, seed): ...    # forwards that draw the same samples (the generators restored after)

A VAE's reparameterisation (`torch.randn_like(std)`), a diffusion model's noise, a Gumbel-softmax draw sample in
forward whatever the mode: that is the model's design, not the dropout/BatchNorm bug ND307 describes. The rule,
read from the random operations that reach the dispatcher during one eval-mode forward (each module in its eval
mode, so an nn.Dropout draws nothing): a dropout mask (`bernoulli_`, `native_dropout`: what F.dropout,
F.dropout2d, F.alpha_dropout draw with `training=True`) is a mode bug; other draws alone (randn, normal, rand,
multinomial, exponential...) are sampling by design.

All of it works on the copy it is given; nothing here touches the user's model.
"""
from __future__ import annotations

import contextlib
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
# Modules whose own dropout follows their mode (a functional dropout inside, with training=self.training).
INNER_DROPOUT = (nn.MultiheadAttention, nn.RNNBase)


def dropout_off(model: nn.Module) -> list[str]:
    """Put the dropout modules, and the modules with a dropout inside (attention, RNN), in eval mode; the rest
    keeps its mode. Returns their names. A functional dropout written in the user's forward is not reached."""
    names = []
    for name, m in model.named_modules():
        if isinstance(m, DROPOUTS + INNER_DROPOUT):
            m.eval()
            names.append(name or type(m).__name__)
    return names


def batchnorms(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """BatchNorm modules that keep running statistics (the ones that behave differently in eval mode)."""
    return [(name or type(m).__name__, m) for name, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
            and m.running_mean is not None]


@torch.no_grad()
def refresh_batchnorm(ctx, model: nn.Module, batches: list, passes: int = 1, max_passes: int = 10,
                      settle: float = 0.01) -> tuple[list[str], list[str]]:
    """Make every BatchNorm's running statistics the exact average over `batches` for the current weights.

    momentum=None makes PyTorch keep a cumulative average; after `passes` train-mode passes without gradient the
    statistics are frozen there (momentum 0). A BatchNorm whose momentum the user set to 0 never updates its
    statistics in training: it keeps them as they are, and its name is returned. Other floating buffers that move
    in train mode (a hand-written norm layer's running statistics) get more passes, up to `max_passes`, until a
    pass changes them by less than `settle` (relative RMS). Call `dropout_off` first, so the statistics are those
    of the activations eval mode will see.

    Returns (the BatchNorms with momentum 0, the other modules whose buffers moved in train mode).
    """
    bns = batchnorms(model)
    frozen = [name for name, m in bns if m.momentum == 0]
    live = [m for name, m in bns if m.momentum != 0]
    owned = {id(b) for _, m in bns for b in m.buffers()}
    others = [(name or type(m).__name__, b) for name, m in model.named_modules()
              for b in m.buffers(recurse=False) if b.is_floating_point() and id(b) not in owned]
    if not live and not others:
        return frozen, []
    initial = [b.clone() for _, b in others]
    modes = {m: m.training for m in model.modules()}
    for m in live:
        m.momentum = None
        m.reset_running_stats()
    model.train()
    for m, training in modes.items():  # dropout modules keep the mode the caller gave them
        if isinstance(m, DROPOUTS + INNER_DROPOUT):
            m.training = training
    for n in range(max(passes, max_passes if others else passes)):
        before = [b.clone() for _, b in others]
        for b in batches:
            ctx.check_time()
            ctx.forward(model, b.inputs, b.targets)
        if n + 1 == passes:
            for m in live:
                m.momentum = 0.0  # frozen at the average: later train-mode passes leave it alone
        if n + 1 >= passes and all(rms(b - b0) <= settle * rms(b0) for (_, b), b0 in zip(others, before)):
            break
    for m, training in modes.items():
        m.training = training
    moved = sorted({name for (name, b), b0 in zip(others, initial) if not torch.equal(b, b0)})
    return frozen, moved


def spread(out: torch.Tensor) -> float:
    """RMS over output elements of the standard deviation across samples (dim 0); 0 for fewer than 2 samples."""
    if out.dim() == 0 or out.shape[0] < 2:
        return 0.0
    flat = out.detach().double().reshape(out.shape[0], -1)  # (N, D)
    return float(flat.var(dim=0, unbiased=False).mean().sqrt())


def rms(out: torch.Tensor) -> float:
    """Root mean square of all values."""
    return float(out.detach().double().pow(2).mean().sqrt()) if out.numel() else 0.0


# Random operations that draw a dropout mask (F.dropout and its kin with training=True); every other seeded random
# operation is a sample the forward draws on purpose.
MASKING_OPS = ("aten::bernoulli_", "aten::native_dropout", "aten::fused_dropout", "aten::feature_dropout",
               "aten::alpha_dropout", "aten::feature_alpha_dropout")


@dataclass
class Randomness:
    """The random operations of one eval-mode forward, by kind (aten names, each once, in order)."""

    masking: list[str] = field(default_factory=list)  # dropout masks: a mode bug in eval mode
    sampling: list[str] = field(default_factory=list)  # other draws: sampling by design (a VAE's randn_like)

    @property
    def by_design(self) -> bool:
        """Eval mode samples, and draws no dropout mask: the variation is the model's design."""
        return bool(self.sampling) and not self.masking


class _RandomOps(TorchDispatchMode):
    """Records the seeded random operations that reach the dispatcher."""

    def __init__(self, into: Randomness | None = None) -> None:
        super().__init__()
        self.seen = into if into is not None else Randomness()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if torch.Tag.nondeterministic_seeded in func.tags:
            name = func.name().split(".")[0]
            kind = self.seen.masking if name in MASKING_OPS else self.seen.sampling
            if name not in kind:
                kind.append(name)
        return func(*args, **(kwargs or {}))


@torch.no_grad()
def eval_noise(ctx, model: nn.Module, inputs, randomness: Randomness | None = None) -> float:
    """How far two eval-mode forwards of the same inputs differ: RMS of the difference over the outputs' spread
    across samples (over their RMS when they do not vary). 0 for a deterministic eval mode; the mode of `model`
    is left as it was. Given `randomness`, the random operations of the first forward are recorded into it (what
    `eval_randomness` tells, without a forward of its own)."""
    from .batches import first_tensor

    training = {m: m.training for m in model.modules()}
    model.eval()
    recorder = _RandomOps(randomness) if randomness is not None else contextlib.nullcontext()
    with recorder:
        a = first_tensor(ctx.forward(model, inputs))
    b = first_tensor(ctx.forward(model, inputs))
    for m, t in training.items():
        m.training = t
    if a is None or b is None or a.shape != b.shape or not a.is_floating_point():
        return 0.0
    scale = spread(a) or rms(a)
    return rms(a - b) / scale if scale > 0 else 0.0


@torch.no_grad()
def eval_randomness(ctx, model: nn.Module, inputs) -> Randomness:
    """The random operations one eval-mode forward of `inputs` draws, masks apart from samples (see the module
    docstring). The mode of `model` is left as it was."""
    training = {m: m.training for m in model.modules()}
    model.eval()
    recorder = _RandomOps()
    try:
        with recorder:
            ctx.forward(model, inputs)
    finally:
        for m, t in training.items():
            m.training = t
    return recorder.seen


@contextmanager
def same_draws(device: torch.device, seed: int):
    """Inside, the random generators (CPU, and the CUDA device's) start from `seed`; afterwards they are back where
    they were. Two forwards of a sampling model inside two such blocks with the same seed draw the same noise."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
