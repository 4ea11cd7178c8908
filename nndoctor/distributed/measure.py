"""What one rank measures: fingerprints of what it read, holds and computes (see `evidence`).

Nothing here talks to the other ranks except through the user's own model (DDP's all-reduce in backward); the
driver exchanges the results.
"""
from __future__ import annotations

import hashlib
import math
import random
import re
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..common.errors import exception_line, user_frame
from ..engine.isolation import RNGState
from ..probes.batches import Batch, first_tensor, generators_kept, order_sampler
from .evidence import RankEvidence, StepRecord

STEPS = 2  # training steps on every rank: the first shows the gradients' sync, the second what a step left
MAX_INDICES = 100_000  # of one epoch of the sampler
TIMEOUT_WORDS = ("timed out", "timeout", "connection closed", "connection reset", "broken pipe")


def tensor_fingerprint(t: torch.Tensor) -> list[float]:
    """[sum, sum of squares, cosine-weighted sum] in float64: equal values give equal numbers."""
    flat = t.detach().reshape(-1).to(torch.float64)  # (numel,)
    weights = torch.cos(torch.arange(flat.numel(), dtype=torch.float64, device=flat.device) * 0.7)
    return [float(flat.sum()), float((flat * flat).sum()), float((flat * weights).sum())]


def state_fingerprints(module: nn.Module) -> dict[str, list[float]]:
    """Every parameter and buffer of `module` by name."""
    named = list(module.named_parameters()) + [(n, b) for n, b in module.named_buffers() if b is not None]
    return {name: tensor_fingerprint(t) for name, t in named}


def parameter_fingerprints(module: nn.Module) -> dict[str, list[float]]:
    """Parameters only: after a step each rank's BatchNorm statistics are its own until DDP's next broadcast."""
    return {name: tensor_fingerprint(p) for name, p in module.named_parameters()}


def grad_fingerprints(module: nn.Module) -> dict[str, list[float]]:
    return {name: tensor_fingerprint(p.grad) for name, p in module.named_parameters() if p.grad is not None}


def flat_grads(module: nn.Module) -> torch.Tensor:
    """Every trainable parameter's gradient, zeros where none, in one float64 vector (a fixed order)."""
    parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1).to(torch.float64)
             for p in module.parameters() if p.requires_grad]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)  # (P,)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def rng_hashes() -> dict[str, str]:
    """The state of each random generator the user's code draws from (torch, numpy, random), hashed."""
    return {"torch": _digest(torch.get_rng_state().numpy().tobytes()),
            "numpy": _digest(repr(np.random.get_state()[1][:8].tolist()).encode() +
                             str(np.random.get_state()[2]).encode()),
            "random": _digest(repr(random.getstate()).encode())}


def sample_fingerprints(batches: list[Batch]) -> list[str]:
    """One hash per sample: the bytes of its row of the inputs (the first tensor of a structured input)."""
    out: list[str] = []
    for batch in batches:
        x = batch.inputs if isinstance(batch.inputs, torch.Tensor) else first_tensor(batch.inputs)
        if x is None or x.dim() == 0:
            continue
        rows = x.detach().cpu().contiguous()
        out += [_digest(row.numpy().tobytes()) for row in rows]
    return out


def epoch_indices(loader: Any) -> list[int] | None:
    """The indices the loader's sampler yields over one epoch (no sample is loaded), or None when the loader has
    no sampler to read. The sampler is the one that decides the read order (`order_sampler`: a batch sampler's own
    sampler where the loader keeps one); every generator it draws from is restored, so the epoch the checks read
    is unchanged."""
    sampler = order_sampler(loader)
    if sampler is None or not hasattr(sampler, "__iter__"):
        return None
    saved = RNGState()
    try:
        with generators_kept(loader):
            out: list[int] = []
            for i in sampler:
                if not isinstance(i, (int, np.integer)):
                    return None  # a sampler of keys or batches: nothing to compare by index
                out.append(int(i))
                if len(out) >= MAX_INDICES:
                    break
            return out
    except Exception:
        return None
    finally:
        saved.restore()


def dataset_key(loader: Any) -> str | None:
    """What the sampler's indices index: the dataset's length and a hash of its first sample's inputs. Two ranks'
    indices are comparable only when their keys agree (each rank may index a dataset of its own)."""
    data = getattr(loader, "dataset", None)
    try:
        first = data[0]
        x = first[0] if isinstance(first, (tuple, list)) else first
        x = x if isinstance(x, torch.Tensor) else first_tensor(x)
        return f"{len(data)}:{_digest(x.detach().cpu().contiguous().numpy().tobytes())}"
    except Exception:
        return None


def batches_per_epoch(loader: Any) -> int | None:
    try:
        return int(len(loader))
    except Exception:
        return None


def unwrap(model: nn.Module) -> nn.Module:
    """The module a data-parallel wrapper (DDP, DataParallel, the user's own with `.module`) holds."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def batch_norms(module: nn.Module) -> list[str]:
    """BatchNorm layers that compute their statistics on this rank's batch alone (not SyncBatchNorm)."""
    return [name or type(m).__name__ for name, m in module.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, nn.SyncBatchNorm)]


def local_backward(ctx, model: nn.Module, batch: Batch) -> tuple[list[str], torch.Tensor]:
    """One forward and backward of `model` (a plain copy, no data parallelism) on this rank's batch: the trainable
    parameters that get no gradient, and the gradient itself (the local reference the synced one is held to)."""
    model.train()
    model.zero_grad(set_to_none=True)
    _, loss = ctx.forward_loss(model, batch)
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    return unused, flat_grads(model)


class StepRecorder:
    """Reads the gradients at each `optimizer.step()` (a step pre-hook: the user's own step is seen too)."""

    def __init__(self, module: nn.Module, reference: torch.Tensor) -> None:
        self.module, self.reference = module, reference
        self.steps: list[StepRecord] = []

    def __call__(self, optimizer, args, kwargs) -> None:
        record = StepRecord(grads=grad_fingerprints(self.module))
        if not self.steps and self.reference.numel():
            g = flat_grads(self.module)
            if g.shape == self.reference.shape:
                record.grad_dot_reference, record.grad_sq = float(g @ self.reference), float(g @ g)
        self.steps.append(record)


def default_step(ctx, model: nn.Module, batch: Batch, loss_fn: Callable, optimizer) -> float:
    """The plain step a config without `train_step` trains with."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    _, loss = ctx.forward_loss(model, batch, loss_fn)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def take_steps(ctx, wrapped: nn.Module, optimizer, evidence: RankEvidence, reference: torch.Tensor,
               rng_before: torch.Tensor, steps: int = STEPS) -> None:
    """`steps` steps of the user's step (or the plain one) on the wrapped model, each rank on its own batches; the
    gradients are read at each optimizer step. The first step draws what the local reference drew (its dropout
    masks), so that its gradient compares with the reference's."""
    module = unwrap(wrapped)
    recorder = StepRecorder(module, reference)
    handle = optimizer.register_step_pre_hook(recorder)
    loss_fn = ctx.new_loss()
    batches = ctx.batches()
    torch.set_rng_state(rng_before)
    try:
        for i in range(steps):
            batch = batches[i % len(batches)]
            try:
                if ctx.subject.train_step is not None:
                    ctx.user_step(wrapped, batch, loss_fn, optimizer)
                else:
                    default_step(ctx, wrapped, batch, loss_fn, optimizer)
            except Exception as exc:
                # gloo's messages start with its source location in brackets: the user's frame says more
                line = re.sub(r"\[[^\]]*(gloo|c10d|pytorch)[^\]]*\]\s*", "", exception_line(exc))
                evidence.step_error = f"{line} at {user_frame(exc)}"
                evidence.step_error_at = i
                evidence.step_timed_out = any(w in str(exc).lower() for w in TIMEOUT_WORDS)
                break
    finally:
        handle.remove()
        evidence.steps = [vars(s) for s in recorder.steps]
        evidence.params_after = parameter_fingerprints(module)


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def elapsed(since: float) -> float:
    return time.monotonic() - since
