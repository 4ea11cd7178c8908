"""The runner: selects checks, gives each a seeded, time-boxed turn on copies, and collects a ranked report.

- Each check runs with the same seed, so its result does not depend on which checks ran before it; the
  caller's RNG state (torch, CUDA, numpy, random) is restored at the end.
- A check that raises becomes a `crashed` entry; the others still run. One that passes its time box becomes
  `timeout`, keeping the findings it had already made.
- Before the checks, one forward pass and loss on a real batch (on a copy) tells the task and catches a forward
  or loss that fails; then only the checks that need no model run, and `forward-probe` reports ND308.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

import torch

from ..common import selection
from ..common.isolation import Turn, take_turn
from ..report.model import CheckResult, Finding, Report
from .check import COSTS, Check
from .context import Context, Subject
from .isolation import RNGState, alarm
from .registry import all_checks

DEFAULT_TIME_BOX = 60.0  # seconds one check may run before it is stopped
QUICK_MAX_BATCHES = 4  # --quick reads at most this many batches per loader
QUICK_TIME_BOX = 5.0  # seconds one check may run under --quick (the checks' quick_options aim at well under 1 s)
SMALL_MODEL_PARAMS = 5_000_000  # below this many parameters a CPU run uses one thread

Progress = Callable[[str, str, dict], None]  # (event, check name, info)


def selected_checks(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[type[Check]]:
    """The registered checks the selection runs: forward-probe (order 0) first; otherwise cheap checks before
    costly ones, then by name."""
    chosen = selection.chosen(all_checks().values(), list(select), list(ignore))
    return sorted(chosen, key=lambda c: (c.order, COSTS.index(c.cost), c.name))


def prepare(ctx: Context) -> None:
    """Read the batches and run one forward pass and loss on a copy: learns the task, or the failure."""
    ctx.probe_error = None
    try:
        batches = ctx.batches()
    except Exception as exc:
        ctx.probe_error = ("data", exc)
        return
    model = ctx.new_model(train=True)
    try:
        with torch.no_grad():
            outputs = ctx.forward(model, batches[0].inputs)
    except Exception as exc:
        ctx.probe_error = ("forward", exc)
        return
    try:
        ctx.infer_task(outputs, batches[0].targets)
        with torch.no_grad():
            ctx.loss(outputs, batches[0].targets)
    except Exception as exc:
        ctx.probe_error = ("loss", exc)


def skip_reason(ctx: Context, cls: type[Check]) -> str | None:
    """Why `cls` does not run: the probe failed at a stage it needs, or the check's own reason."""
    if ctx.probe_error and cls.name != "forward-probe":
        stage = ctx.probe_error[0]
        if stage == "data" or cls.needs_model:
            return f"the {stage} step fails on a real batch (see ND308)"
    return cls.skip_reason(ctx)


def run_check(ctx: Context, cls: type[Check], *, seed: int, time_box: float, options: dict, quick: bool,
              select: list[str], ignore: list[str]) -> tuple[Turn, CheckResult]:
    """One check's turn: seeded, time-boxed, its cost counted, its findings filtered by the selection."""
    check = cls(options.get(cls.name), quick=quick)
    RNGState.seed(seed)
    ctx.cost = {"grad_samples": 0, "nograd_samples": 0}
    ctx.deadline = time.monotonic() + time_box
    grad_enabled = torch.is_grad_enabled()

    def body():
        with alarm(time_box):
            yield from check.run(ctx) or ()

    try:
        turn = take_turn(body, keep=lambda f: selection.keep(f.code, f.check, select, ignore))
    finally:
        torch.set_grad_enabled(grad_enabled)
        ctx.deadline = None
    if turn.status == "timeout":
        turn.detail = f"stopped after its time box of {time_box:g} s"
    result = CheckResult(cls.name, turn.status, turn.seconds, turn.detail, check.plots,
                         step_equivalents=ctx.step_equivalents())
    return turn, result


def run(subject: Subject, *, device: str = "auto", seed: int = 0, max_batches: int = 8,
        select: Iterable[str] = (), ignore: Iterable[str] = (), options: dict | None = None, quick: bool = False,
        time_box: float = DEFAULT_TIME_BOX, progress: Progress | None = None, config_path: str | None = None,
        title: str = "nndoctor run") -> Report:
    select, ignore, options = list(select), list(ignore), dict(options or {})
    if quick:  # the few-second profile: fewer batches and a shorter time box, on top of each check's quick_options
        max_batches, time_box = min(max_batches, QUICK_MAX_BATCHES), min(time_box, QUICK_TIME_BOX)
    started = time.monotonic()
    rng = RNGState()
    grad_enabled = torch.is_grad_enabled()
    threads = torch.get_num_threads()
    findings: list[Finding] = []
    results: list[CheckResult] = []
    interrupted = False
    try:
        RNGState.seed(seed)
        ctx = Context(subject, device=device, seed=seed, max_batches=max_batches, quick=quick)
        if ctx.device.type == "cpu" and sum(p.numel() for p in subject.model.parameters()) <= SMALL_MODEL_PARAMS:
            # Small models run faster on one thread, and far faster when other processes share the cores
            # (measured on 2 cores: a 150-step loop went from 0.1 s to over 20 s with two threads under load).
            torch.set_num_threads(1)
        prepare(ctx)
        for cls in selected_checks(select, ignore):
            reason = skip_reason(ctx, cls)
            if reason:
                results.append(CheckResult(cls.name, "skipped", detail=reason))
                continue
            if progress:
                progress("start", cls.name, {})
            turn, result = run_check(ctx, cls, seed=seed, time_box=time_box, options=options, quick=quick,
                                     select=select, ignore=ignore)
            results.append(result)
            findings += turn.findings
            if progress:
                progress("end", cls.name, {"status": turn.status, "seconds": turn.seconds,
                                           "findings": len(turn.findings)})
            if turn.interrupted:
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        rng.restore()
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad_enabled)
    return Report(findings=findings, checks=results, seconds=time.monotonic() - started, config=config_path,
                  interrupted=interrupted, title=title)
