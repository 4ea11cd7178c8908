"""What the ranks measured and how the exchanges went: plain records (they travel as JSON through the store).

A tensor's fingerprint is three float64 numbers (its sum, its sum of squares, and a sum weighted by a fixed
cosine over its positions): two ranks that hold the same values give the same three numbers, and a difference in
any value changes them. A sample's fingerprint is a short hash of its input row's bytes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

Fingerprint = list  # [sum, sum of squares, cosine-weighted sum]


@dataclass
class StepRecord:
    """What one training step did on one rank, read at `optimizer.step()` (before the update)."""

    grads: dict = field(default_factory=dict)  # parameter name -> fingerprint of its gradient (absent: no grad)
    grad_dot_reference: float | None = None  # G . g_local: the step's gradient against this rank's own
    grad_sq: float | None = None  # G . G


@dataclass
class RankEvidence:
    """Everything one rank measured; `None` where it could not be measured."""

    rank: int
    rng: dict = field(default_factory=dict)  # generator -> hash of its state after the user's factories ran
    samples: list = field(default_factory=list)  # fingerprints of the samples in the batches read
    batch_sizes: list = field(default_factory=list)
    batches_per_epoch: int | None = None  # len(loader) where the loader has one
    indices: list | None = None  # the sampler's indices over one epoch, where the loader has a sampler
    dataset_key: str | None = None  # what the indices index (length and first sample): comparable when equal
    params_start: dict = field(default_factory=dict)  # name -> fingerprint (parameters and buffers)
    unused: list = field(default_factory=list)  # trainable parameters that got no gradient from a local backward
    batch_norms: list = field(default_factory=list)  # names of BatchNorm layers that are not SyncBatchNorm
    wrapper: str = ""  # the type that wraps the model (DistributedDataParallel, or the user's own)
    find_unused: bool | None = None  # DDP's find_unused_parameters, where the wrapper is DDP
    steps: list = field(default_factory=list)  # one StepRecord (as a dict) per step taken
    params_after: dict = field(default_factory=dict)  # parameters only (BatchNorm statistics stay per rank)
    step_error: str | None = None  # what the user's step raised (a collective's timeout included)
    step_error_at: int | None = None  # the step it raised at (0-based)
    step_timed_out: bool = False  # the error is a collective that waited for another rank past the timeout
    barrier: str | None = None  # the monitored barrier's message after the steps, when a rank did not arrive
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RankEvidence":
        return cls(**data)


def relative_gap(a: Fingerprint, b: Fingerprint) -> float:
    """How far apart two fingerprints are, relative to their size: 0.0 for the same values."""
    gaps = [abs(x - y) / max(abs(x), abs(y), 1e-12) for x, y in zip(a, b)]
    return max(gaps) if gaps else 0.0


def differing(fingerprints: list[dict], tolerance: float) -> dict[str, float]:
    """Names whose fingerprint differs across the ranks' dicts by more than `tolerance` -> the largest gap."""
    out: dict[str, float] = {}
    base = fingerprints[0]
    for name, fp in base.items():
        gaps = [relative_gap(fp, other[name]) for other in fingerprints[1:] if name in other]
        gap = max(gaps, default=0.0)
        if gap > tolerance or math.isnan(gap):
            out[name] = gap
    return out


def overlap(a: list, b: list) -> float:
    """The share of the smaller collection that the other one also holds (0 disjoint, 1 the same)."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if not small:
        return 0.0
    held = set(large)
    return sum(1 for x in small if x in held) / len(small)


@dataclass
class RankOutcome:
    """How one rank's run went: `reported` (its evidence arrived), `crashed` (it raised; `detail` is the error,
    `stage` where), or `missing` (silent past the timeout)."""

    rank: int
    status: str
    detail: str | None = None
    stage: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        out = {"rank": self.rank, "status": self.status, "seconds": round(self.seconds, 3)}
        if self.stage:
            out["stage"] = self.stage
        if self.detail:
            out["detail"] = self.detail
        return out
