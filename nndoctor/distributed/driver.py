"""One rank's run: build the user's objects with the process group up, measure, exchange; rank 0 judges and
merges one report.

Every rank loads the config and builds the user's factories with RANK, LOCAL_RANK and WORLD_SIZE set and the
process group initialised, so the user's own `DistributedSampler` and wrapping code run as in production. The
config's `wrap: module:callable` wraps the model; without it nndoctor wraps a copy of the model in
DistributedDataParallel. nndoctor seeds each rank with `seed + rank` before the factories run (as separate
processes are seeded in production), so that a factory that reseeds every rank alike shows (ND708).

Then, on every rank: fingerprints of the batches and of the sampler's epoch, of the parameters after wrapping,
one local backward on a plain copy (unused parameters; the reference gradient), an exchange through the store,
`STEPS` training steps of the wrapped model (the user's `train_step` when given), a monitored barrier, and a
second exchange. Rank 0 runs the ND7xx checks on what every rank sent and the single-process checks on its own
copy (once: their findings are not repeated per rank), and prints one report. The other ranks end once they have
sent their evidence.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from .. import config as cfgmod
from ..common import selection
from ..common.errors import exception_line, user_frame
from ..engine.context import Context, available_device
from ..engine.isolation import RNGState
from ..engine.runner import EmptySelection, UsageError, run, run_check
from ..engine.subject import copy_module
from ..report.model import CheckResult, Finding, Report
from . import measure
from .context import RanksContext
from .environment import RankEnv
from .evidence import RankEvidence, RankOutcome
from .group import Group, RankMissing, collective_timeout, open_group


@dataclass
class RankRun:
    """What this rank holds once its objects are built."""

    env: RankEnv
    group: Group
    ctx: Context
    wrap: object = None
    evidence: RankEvidence = None
    failure: str | None = None  # this rank's own failure (stage: error at frame)
    outcomes: dict = field(default_factory=dict)  # rank -> RankOutcome for ranks that did not report
    started: float = field(default_factory=time.monotonic)


def run_rank(path: str, env: RankEnv, *, device=None, seed=None, max_batches=None, select=(), ignore=(),
             quick=False, time_box=60.0, deadline=None, fail_on="error", progress=None,
             timeout: float | None = None) -> Report | None:
    """This rank's part of `nndoctor run PATH` on several ranks; the merged report on rank 0, None elsewhere.
    Raises ConfigError (one line) for a bad config, as a single-process run does."""
    from ..api import _argv

    started = time.monotonic()
    timeout = timeout or collective_timeout()
    settings = cfgmod.loader.run_settings(path, seed, device, select, ignore)
    cfg, sel, ign, seed, options = settings.config, settings.select, settings.ignore, settings.seed, settings.options
    dev = rank_device(device or str(cfg.get("device", "auto")), env)
    group = open_group(env, torch.device(dev).type, timeout)
    try:
        with _argv([path]):
            RNGState.seed(seed + env.rank)  # as separate processes are seeded: each rank its own stream
            try:
                subject = cfgmod.build(cfg)
                wrap = cfgmod.resolve(cfg, "wrap") if cfg.get("wrap") else None
            except cfgmod.ConfigError as exc:
                group.post_error(f"building the config's objects on rank {env.rank}: {exc}")
                raise
            rng = measure.rng_hashes()  # what the user's factories left: before nndoctor draws anything
            ctx = Context(subject, device=dev, seed=seed, max_batches=max_batches or int(
                cfg.get("max_batches", cfgmod.DEFAULT_MAX_BATCHES)), quick=quick)
            me = RankRun(env, group, ctx, wrap, RankEvidence(rank=env.rank, rng=rng))
            evidence, blocked = measure_ranks(me)
            if not env.is_main:
                return None
            ranks_ctx = RanksContext(env.world_size, group.backend, evidence, outcomes_of(me, evidence), blocked)
            try:
                with world_of_one(group):
                    single = run(subject, device=dev, seed=seed, max_batches=ctx.max_batches, select=sel, ignore=ign,
                                 options=options, quick=quick, time_box=time_box, deadline=deadline,
                                 progress=progress, config_path=path, fail_on=fail_on)
            except EmptySelection:  # only distributed checks were selected
                single = None
            except UsageError as exc:
                key = getattr(exc, "key", None)
                raise cfgmod.ConfigError(path, cfg.lines.get(key) if key else None, key, str(exc)) from None
            return merge(single, judge(ranks_ctx, sel, ign, options, quick, seed, time_box, progress), ranks_ctx,
                         path, fail_on, time.monotonic() - started)
    finally:
        group.close()


@contextmanager
def world_of_one(group: Group):
    """The single-process checks run on rank 0 as a single process: a process group of one rank (so a collective in
    the user's step, a barrier say, returns at once) and RANK=0, WORLD_SIZE=1 in the environment; then back."""
    import torch.distributed as dist

    group.close()
    saved = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    os.environ.update({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"})
    dist.init_process_group(group.backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        group.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def rank_device(device: str, env: RankEnv) -> str:
    """The device this rank uses: its own GPU (LOCAL_RANK) when the run is on CUDA."""
    dev = available_device(device)
    if dev.startswith("cuda"):
        torch.cuda.set_device(env.local_rank)
        return f"cuda:{env.local_rank}"
    return dev


def wrap_model(me: RankRun, model: nn.Module) -> nn.Module:
    """The user's `wrap(model)`, or DistributedDataParallel around it."""
    if me.wrap is not None:
        wrapped = me.wrap(model)
        if not isinstance(wrapped, nn.Module):
            raise TypeError(f"wrap(model) returned a {type(wrapped).__name__}, not an nn.Module")
        return wrapped
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(model, DistributedDataParallel):
        return model
    ids = [me.ctx.device.index] if me.ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def measure_ranks(me: RankRun) -> tuple[list[RankEvidence | None], str | None]:
    """Measure on this rank, exchange with the others; every rank's evidence (None where a rank sent none) and why
    no training step was taken, if none was."""
    ev, ctx = me.evidence, me.ctx
    stage = "data"
    try:
        batches = ctx.batches()
        ev.samples = measure.sample_fingerprints(batches)
        ev.batch_sizes = [b.size for b in batches]
        ev.batches_per_epoch = measure.batches_per_epoch(ctx.subject.data)
        ev.indices = measure.epoch_indices(ctx.subject.data)
        ev.dataset_key = measure.dataset_key(ctx.subject.data)
        stage = "wrap"
        wrapped = wrap_model(me, copy_module(ctx.subject.model).to(ctx.device))
        module = measure.unwrap(wrapped)
        ev.wrapper = type(wrapped).__name__
        ev.find_unused = getattr(wrapped, "find_unused_parameters", None)
        ev.params_start = measure.state_fingerprints(module)
        ev.batch_norms = measure.batch_norms(module)
        stage = "forward"
        reference = copy_module(ctx.subject.model).to(ctx.device)
        reference.load_state_dict(module.state_dict())
        rng_before = torch.get_rng_state()
        ev.unused, reference_grad = measure.local_backward(ctx, reference, batches[0])
    except Exception as exc:
        me.failure = f"{stage}: {exception_line(exc)} at {user_frame(exc)}"
        me.group.post_error(me.failure)
        note_others(me)
        return [ev if r == me.env.rank else None for r in range(me.env.world_size)], f"rank {me.env.rank} failed"
    try:
        start = [RankEvidence.from_json(e) for e in me.group.exchange("start", ev.to_json())]
    except RankMissing as exc:
        return from_missing(me, exc), "a rank did not reach the first exchange"
    blocked = unused_blocks_steps(start)
    if blocked is None:
        take_steps(me, wrapped, reference_grad, rng_before)
    ev.seconds = time.monotonic() - me.started
    if not me.env.is_main:  # only rank 0 reads the last exchange: the others post and end (a peer left waiting
        me.group.post(f"steps/{me.env.rank}", ev.to_json())  # in a collective then fails at once, not at its timeout)
        return [], blocked
    try:
        return [RankEvidence.from_json(e) for e in
                me.group.exchange("steps", ev.to_json(), timeout=2 * me.group.timeout + 5)], blocked
    except RankMissing as exc:
        merged = from_missing(me, exc)
        return [m if m is not None else start[r] for r, m in enumerate(merged)], blocked


def take_steps(me: RankRun, wrapped: nn.Module, reference_grad: torch.Tensor, rng_before: torch.Tensor) -> None:
    """The training steps, then the monitored barrier (it names a rank that did not get through its steps). A rank
    whose step raised closes its group at once, so that the others' collectives end instead of waiting."""
    ev, ctx = me.evidence, me.ctx
    try:
        optimizer = ctx.subject.optimizer(wrapped)
    except Exception:  # a factory that reads the model's own attributes: build it on the module it wraps
        optimizer = ctx.subject.optimizer(measure.unwrap(wrapped))
    measure.take_steps(ctx, wrapped, optimizer, ev, reference_grad, rng_before)
    if ev.step_error:  # its own error, or a collective that waited past the timeout: the group is spent
        me.group.close()
        return
    ev.barrier = me.group.monitored_barrier()


def unused_blocks_steps(start: list[RankEvidence]) -> str | None:
    """Training steps would hang or raise in DDP when some rank has unused parameters and DDP does not look for
    them: then no step is taken (ND706 says why)."""
    for e in start:
        if e.unused and e.wrapper == "DistributedDataParallel" and not e.find_unused:
            return f"not run: rank {e.rank} has parameters that get no gradient (ND706), which DDP waits for"
    return None


def note_others(me: RankRun) -> None:
    """After this rank failed: the other ranks that said why they ended (a collective of this rank may have
    failed only because another rank had ended)."""
    time.sleep(0.2)  # a rank that ended first has posted its error before closing its connections
    waited = any(w in (me.failure or "").lower() for w in measure.TIMEOUT_WORDS)
    for r in range(me.env.world_size):
        why = me.group.why_absent(r) if r != me.env.rank else None
        if why is not None:
            me.outcomes[r] = RankOutcome(r, "crashed", detail=why)
        elif r != me.env.rank and waited:  # this rank's collective timed out waiting for ranks that said nothing
            me.outcomes[r] = RankOutcome(r, "missing", detail=f"silent for {me.group.timeout:g} s",
                                         stage="start")


def from_missing(me: RankRun, exc: RankMissing) -> list[RankEvidence | None]:
    """The evidence that did arrive; the ranks that sent none get an outcome saying why."""
    for r, why in exc.missing.items():
        status = "missing" if why.startswith("sent nothing") else "crashed"
        me.outcomes[r] = RankOutcome(r, status, detail=why, stage=exc.tag)
    return [RankEvidence.from_json(exc.got[r]) if r in exc.got else None for r in range(me.env.world_size)]


def outcomes_of(me: RankRun, evidence: list[RankEvidence | None]) -> list[RankOutcome]:
    out = []
    for r in range(me.env.world_size):
        if r in me.outcomes:
            out.append(me.outcomes[r])
        elif r == me.env.rank and me.failure:
            out.append(RankOutcome(r, "crashed", detail=me.failure, stage=me.failure.split(":")[0]))
        elif evidence[r] is None:
            out.append(RankOutcome(r, "unknown", detail="no exchange took place (another rank failed first)"))
        else:
            out.append(RankOutcome(r, "reported", seconds=evidence[r].seconds))
    return out


def distributed_checks() -> list[type]:
    from ..engine.registry import all_checks

    return [cls for cls in all_checks().values() if getattr(cls, "distributed", False)]


def judge(ctx: RanksContext, select, ignore, options, quick, seed, time_box, progress) -> tuple[list, list]:
    """The ND7xx checks on every rank's evidence: (findings, results)."""
    findings: list[Finding] = []
    results: list[CheckResult] = []
    for cls in selection.chosen(distributed_checks(), select, ignore):
        if progress:
            progress("start", cls.name, {})
        turn, result = run_check(ctx, cls, seed=seed, time_box=time_box, options=options, quick=quick,
                                 select=select, ignore=ignore)
        findings += turn.findings
        results.append(result)
        if progress:
            progress("end", cls.name, {"status": result.status, "seconds": turn.seconds,
                                       "findings": len(turn.findings)})
    return findings, results


def merge(single: Report | None, judged: tuple[list, list], ctx: RanksContext, path: str, fail_on: str,
          seconds: float) -> Report:
    """One report: the single-process checks (rank 0) and the distributed ones, with each rank's status."""
    findings, results = judged
    checks = (single.checks if single else []) + results
    ranks = []
    for outcome in ctx.outcomes:
        entry = outcome.to_dict()
        entry["checks"] = {c.name: (c.status if outcome.status == "reported" else "blocked") for c in results}
        if outcome.rank == 0 and single:
            entry["checks"].update({c.name: c.status for c in single.checks})
        ranks.append(entry)
    report = Report(findings=(single.findings if single else []) + findings, checks=checks, seconds=seconds,
                    config=path, interrupted=bool(single and single.interrupted),
                    title=f"nndoctor run on {ctx.world_size} ranks ({ctx.backend})", fail_on=fail_on,
                    distributed={"world_size": ctx.world_size, "backend": ctx.backend, "ranks": ranks})
    return report
