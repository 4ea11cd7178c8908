"""The runner: selects checks, gives each a seeded, time-boxed turn on copies, and collects a ranked report.

- Each check runs with the same seed, so its result does not depend on which checks ran before it; the
  caller's RNG state (torch, CUDA, numpy, random) is restored at the end.
- A check that raises becomes a `crashed` entry; the others still run. One that passes its time box becomes
  `timeout`, keeping the findings it had already made.
- Before the checks, one forward pass and loss on a real batch (on a copy) tells the task and catches a forward
  or loss that fails; then only the checks that need no model run, and `forward-probe` reports ND308.
"""
from __future__ import annotations

import random
import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterable

import numpy as np
import torch

from .check import Check
from .context import CheckTimeout, Context, Subject, exception_line, user_frame
from .registry import all_checks
from .report import CheckResult, Finding, Report

DEFAULT_TIME_BOX = 60.0  # seconds one check may run before it is stopped
QUICK_MAX_BATCHES = 4  # --quick reads at most this many batches per loader
QUICK_TIME_BOX = 5.0  # seconds one check may run under --quick (the checks' quick_options aim at well under 1 s)

Progress = Callable[[str, str, dict], None]  # (event, check name, info)


def _matches(code: str, check: str, items: Iterable[str]) -> bool:
    return any(check == it or code.startswith(it.upper()) for it in items)


def selected_checks(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[type[Check]]:
    select, ignore = list(select), list(ignore)
    chosen = []
    for name, cls in all_checks().items():
        if name in ignore or all(_matches(c, name, ignore) for c in cls.codes):
            continue
        if select and name not in select and not any(_matches(c, name, select) for c in cls.codes):
            continue
        chosen.append(cls)
    # forward-probe (order 0) first; otherwise cheap checks before costly ones, then by name
    return sorted(chosen, key=lambda c: (getattr(c, "order", 50), ("low", "medium", "high").index(c.cost), c.name))


def keep_finding(f: Finding, select: list[str], ignore: list[str]) -> bool:
    if _matches(f.code, f.check, ignore):
        return False
    return not select or _matches(f.code, f.check, select)


class _RNG:
    """Saves and restores every RNG a check might draw from."""

    def __init__(self) -> None:
        self.torch = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        self.numpy = np.random.get_state()
        self.random = random.getstate()

    @staticmethod
    def seed(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def restore(self) -> None:
        torch.set_rng_state(self.torch)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        np.random.set_state(self.numpy)
        random.setstate(self.random)


@contextmanager
def _alarm(seconds: float):
    """Interrupt a check stuck inside one long call (cooperative ctx.check_time() covers the loops)."""
    usable = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not usable or seconds <= 0:
        yield
        return

    def handler(signum, frame):
        raise CheckTimeout("time box exceeded")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds + 1.0)  # a second of grace for the cooperative path
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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


SMALL_MODEL_PARAMS = 5_000_000  # below this many parameters a CPU run uses one thread


def _num_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _skip_reason(ctx: Context, cls: type[Check]) -> str | None:
    if not ctx.probe_error or cls.name == "forward-probe":
        return None
    stage = ctx.probe_error[0]
    if stage == "data" or cls.needs_model:
        return f"the {stage} step fails on a real batch (see ND308)"
    return None


def _not_applicable(ctx: Context, cls: type[Check]) -> str | None:
    """The check's own reason not to run (a config key it needs is absent), or None."""
    hook = getattr(cls, "skip_reason", None)
    return hook(ctx) if hook is not None else None


def run(subject: Subject, *, device: str = "auto", seed: int = 0, max_batches: int = 8,
        select: Iterable[str] = (), ignore: Iterable[str] = (), options: dict | None = None, quick: bool = False,
        time_box: float = DEFAULT_TIME_BOX, progress: Progress | None = None, config_path: str | None = None,
        title: str = "nndoctor run") -> Report:
    select, ignore, options = list(select), list(ignore), dict(options or {})
    if quick:  # the few-second profile: fewer batches and a shorter time box, on top of each check's quick_options
        max_batches, time_box = min(max_batches, QUICK_MAX_BATCHES), min(time_box, QUICK_TIME_BOX)
    started = time.monotonic()
    rng = _RNG()
    grad_enabled = torch.is_grad_enabled()
    threads = torch.get_num_threads()
    findings: list[Finding] = []
    results: list[CheckResult] = []
    interrupted = False
    try:
        _RNG.seed(seed)
        ctx = Context(subject, device=device, seed=seed, max_batches=max_batches, quick=quick)
        if ctx.device.type == "cpu" and _num_params(subject.model) <= SMALL_MODEL_PARAMS:
            # Small models run faster on one thread, and far faster when other processes share the cores
            # (measured on 2 cores: a 150-step loop went from 0.1 s to over 20 s with two threads under load).
            torch.set_num_threads(1)
        prepare(ctx)
        for cls in selected_checks(select, ignore):
            reason = _skip_reason(ctx, cls) or _not_applicable(ctx, cls)
            if reason:
                results.append(CheckResult(cls.name, "skipped", detail=reason))
                continue
            if progress:
                progress("start", cls.name, {})
            check = cls(options.get(cls.name), quick=quick)
            _RNG.seed(seed)
            ctx.cost = {"grad_samples": 0, "nograd_samples": 0}
            t0 = time.monotonic()
            ctx.deadline = t0 + time_box
            got: list[Finding] = []
            status, detail = "passed", None
            try:
                with _alarm(time_box):
                    for f in check.run(ctx) or ():
                        got.append(f)
            except CheckTimeout:
                status, detail = "timeout", f"stopped after its time box of {time_box:g} s"
            except KeyboardInterrupt:
                status, detail, interrupted = "interrupted", "interrupted", True
            except Exception as exc:  # a check crashing is a finding about nndoctor, not a dead run
                status, detail = "crashed", f"{exception_line(exc)} at {user_frame(exc)}"
            finally:
                torch.set_grad_enabled(grad_enabled)
                ctx.deadline = None
            got = [f for f in got if keep_finding(f, select, ignore)]
            if status == "passed" and any(f.severity != "info" for f in got):
                status = "failed"
            seconds = time.monotonic() - t0
            results.append(CheckResult(cls.name, status, seconds, detail, check.plots,
                                       step_equivalents=ctx.step_equivalents()))
            findings += got
            if progress:
                progress("end", cls.name, {"status": status, "seconds": seconds, "findings": len(got)})
            if interrupted:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        rng.restore()
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad_enabled)
    return Report(findings=findings, checks=results, seconds=time.monotonic() - started, config=config_path,
                  interrupted=interrupted, title=title)
