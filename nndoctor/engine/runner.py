"""The runner: selects checks, gives each a seeded, time-boxed turn on copies, and collects a ranked report.

- Each check runs with the same seed, so its result does not depend on which checks ran before it; the
  caller's RNG state (torch, CUDA, numpy, random) is restored at the end.
- A check that raises becomes a `crashed` entry; the others still run. One that passes its time box becomes
  `timeout`, keeping the findings it had already made. The whole run has a deadline: checks it leaves no time
  for are `blocked`, and the report says so (status `incomplete`, exit 4).
- Before the checks, a forward pass and loss on every batch read (on a copy, without autograd) tells the task
  and catches a forward or loss that fails on any of them; then only the checks that need no model run, the
  others are `blocked`, and `forward-probe` reports ND308.
- Ctrl-C from the terminal stops the run with a partial report (`interrupted`); a KeyboardInterrupt or a
  `sys.exit` raised by the user's code ends only the check it happened in (`crashed`).
"""
from __future__ import annotations

import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch

from ..common import selection
from ..common.isolation import TimeBoxExceeded, Turn, take_turn
from ..probes.batches import WiringError
from ..report.model import CheckResult, Finding, Report
from .check import COSTS, Check
from .context import Context, Subject
from .isolation import Interrupts, RNGState, alarm
from .registry import all_checks

DEFAULT_TIME_BOX = 60.0  # seconds one check may run before it is stopped
DEFAULT_DEADLINE = 300.0  # seconds the whole run may take: 5x the time box (a healthy run takes 3-10 s on a CPU)
QUICK_MAX_BATCHES = 4  # --quick reads at most this many batches per loader
QUICK_TIME_BOX = 5.0  # seconds one check may run under --quick (the checks' quick_options aim at well under 1 s)
QUICK_DEADLINE = 30.0  # seconds the whole --quick run may take
# What the checks' step counts are sized for: the default profile costs at most 300 training steps over the user's
# batch (the --quick profile 60), measured in step-equivalents. When one step of the user's model is so slow that
# this cost would take more than half of the deadline, every option declared in "steps" is shortened in
# proportion, so that a large model gets a whole (shorter) diagnosis inside the deadline instead of a few checks.
NOMINAL_STEP_EQUIVALENTS = 300.0
QUICK_STEP_EQUIVALENTS = 60.0
DEADLINE_SHARE_FOR_STEPS = 0.5
STEP_COST_IN_FORWARDS = 3.0  # a training step costs about three no-grad forwards (forward + a backward of two)
SMALL_MODEL_PARAMS = 5_000_000  # below this many parameters a CPU run uses one thread

Progress = Callable[[str, str, dict], None]  # (event, check name, info)


class UsageError(ValueError):
    """An argument of the run that cannot work (exit 2 on the command line, ValueError in the API)."""


class EmptySelection(UsageError):
    """`--select` / `--ignore` left no check to run: a usage error, never a vacuous `healthy`."""


class Miswired(UsageError):
    """The batch or the model's output cannot be mapped to inputs, targets and logits: the config key `key` must
    say how (a usage error naming the key, not ND308 pointing into torch)."""

    def __init__(self, exc: WiringError) -> None:
        super().__init__(str(exc))
        self.key = exc.key


def check_limits(time_box: float, deadline: float | None) -> None:
    """Time limits are finite positive seconds: an infinite one cannot be armed, and would bound nothing."""
    for name, value in (("time box (--time-box)", time_box), ("deadline (--deadline)", deadline)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise UsageError(f"the {name} must be a finite number of seconds above 0, got {value!r}")


def selected_checks(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[type[Check]]:
    """The registered checks the selection runs: forward-probe (order 0) first; otherwise cheap checks before
    costly ones, then by name."""
    chosen = selection.chosen(all_checks().values(), list(select), list(ignore))
    chosen = [c for c in chosen if not getattr(c, "distributed", False)]  # ND7xx: judged by nndoctor.distributed
    return sorted(chosen, key=lambda c: (c.order, COSTS.index(c.cost), c.name))


def prepare(ctx: Context, time_box: float = DEFAULT_TIME_BOX) -> None:
    """Read the batches, and run a forward pass and the loss on each (on a copy, without autograd): learns the
    task, or the failure (`ctx.probe_error`), or that the user's forward does not finish in `time_box`."""
    ctx.probe_error = None
    ctx.backward_error = None
    ctx.probe_timeout = None
    ctx.step_seconds = 0.0
    stage = "data"
    try:
        with alarm(time_box):
            batches = ctx.batches()
            model = ctx.new_model(train=True)
            t0 = time.monotonic()
            for i, batch in enumerate(batches):
                stage = "forward"
                with torch.no_grad():
                    outputs = ctx.forward(model, batch.inputs, batch.targets)
                stage = "loss"
                if i == 0:
                    ctx.infer_task(outputs, batch.targets)
                    first_outputs = outputs
                with torch.no_grad():
                    ctx.loss(outputs, batch.targets)
            ctx.step_seconds = STEP_COST_IN_FORWARDS * (time.monotonic() - t0) / max(1, len(batches))
            ctx.learn_loss(first_outputs, batches)  # the loss ran on every batch: what it skips, what stands in
    except TimeBoxExceeded:
        ctx.probe_timeout = f"the {stage} step on a real batch did not finish within {time_box:g} s"
    except (Exception, SystemExit) as exc:  # the user's code raising (or calling sys.exit) is ND308's finding
        ctx.probe_error = (stage, exc)


def blocked_reason(ctx: Context, cls: type[Check]) -> str | None:
    """Why `cls` cannot run: the probe failed or timed out at a stage it needs."""
    if ctx.probe_timeout:
        return f"not run: {ctx.probe_timeout} (nndoctor's time box; raise it with --time-box)"
    if ctx.probe_error and cls.name != "forward-probe":
        stage = ctx.probe_error[0]
        if stage == "data" or cls.needs_model:
            return f"not run: the {stage} step fails on a real batch (see ND308)"
    if ctx.backward_error is not None and cls.needs_backward:
        return "not run: the backward step fails on a real batch (see ND308)"
    return None


@contextmanager
def warnings_once():
    """Each distinct warning (category and text) shown once during the run: a warning from the user's loss would
    otherwise print once per check that calls it."""
    seen: set[tuple] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # decided here, by text, whatever module or line it comes from
        show = warnings.showwarning

        def show_once(message, category, filename, lineno, file=None, line=None):
            key = (category, str(message))
            if key not in seen:
                seen.add(key)
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = show_once
        yield


def step_scale(ctx: Context, deadline: float, quick: bool) -> float:
    """The factor (at most 1) that fits the checks' step counts into the deadline, from the measured step cost."""
    nominal = QUICK_STEP_EQUIVALENTS if quick else NOMINAL_STEP_EQUIVALENTS
    needed = nominal * getattr(ctx, "step_seconds", 0.0)
    return min(1.0, DEADLINE_SHARE_FOR_STEPS * deadline / needed) if needed > 0 else 1.0


def shorten(check: Check, given: dict, scale: float) -> str | None:
    """Scale the check's options declared in steps (those the user did not set) by `scale`; say what changed."""
    if scale >= 1.0:
        return None
    changes = []
    for name, opt in check.declared_options().items():
        value = check.opts.get(name)
        if opt.unit != "steps" or name in given or not isinstance(value, int) or isinstance(value, bool):
            continue
        new = max(int(opt.low if opt.low is not None else 1), int(value * scale))
        if new < value:
            check.opts[name] = new
            changes.append(f"{name} {value} -> {new}")
    return ("shortened to fit the deadline (one training step takes about {:.2g} s): " + ", ".join(changes)
            if changes else None)


def run_check(ctx: Context, cls: type[Check], *, seed: int, time_box: float, options: dict, quick: bool,
              select: list[str], ignore: list[str], scale: float = 1.0) -> tuple[Turn, CheckResult]:
    """One check's turn: seeded, time-boxed, its cost counted, its findings filtered by the selection; its step
    counts scaled by `scale` when a step of the user's model is too slow for the deadline."""
    check = cls(options.get(cls.name), quick=quick)
    shortened = shorten(check, options.get(cls.name) or {}, scale)
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
        turn.detail = f"stopped after its time box of {time_box:g} s (nndoctor's limit; raise it with --time-box)"
    elif shortened and turn.detail is None:
        turn.detail = shortened.format(getattr(ctx, "step_seconds", 0.0))
    result = CheckResult(cls.name, turn.status, turn.seconds, turn.detail, check.plots,
                         step_equivalents=ctx.step_equivalents())
    return turn, result


@dataclass
class Plan:
    """What one run was asked for, after the profile: the checks and the limits every turn is given."""

    checks: list[type[Check]]
    seed: int
    time_box: float
    deadline: float
    options: dict
    quick: bool
    select: list[str]
    ignore: list[str]
    progress: Progress | None
    end: float = 0.0  # time.monotonic() at the deadline


@dataclass
class Outcome:
    """What the turns left: the findings, one result per check, and whether Ctrl-C stopped the run."""

    findings: list[Finding] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)
    interrupted: bool = False


def run(subject: Subject, *, device: str = "auto", seed: int = 0, max_batches: int = 8,
        select: Iterable[str] = (), ignore: Iterable[str] = (), options: dict | None = None, quick: bool = False,
        time_box: float = DEFAULT_TIME_BOX, deadline: float | None = None, progress: Progress | None = None,
        config_path: str | None = None, title: str = "nndoctor run", fail_on: str = "error") -> Report:
    """Run the selected checks on copies of `subject`; `deadline` bounds the whole run (seconds, default by
    profile). Raises EmptySelection when `select`/`ignore` leave no check."""
    plan = make_plan(seed, select, ignore, options, quick, time_box, deadline, progress)
    if quick:  # the few-second profile reads fewer batches, on top of each check's quick_options
        max_batches = min(max_batches, QUICK_MAX_BATCHES)
    started = time.monotonic()
    plan.end = started + plan.deadline
    rng, grad_enabled, threads = RNGState(), torch.is_grad_enabled(), torch.get_num_threads()
    outcome = Outcome()
    interrupts = Interrupts()
    try:
        with interrupts.watching(), warnings_once():
            RNGState.seed(seed)
            ctx = Context(subject, device=device, seed=seed, max_batches=max_batches, quick=quick)
            if ctx.device.type == "cpu" and ctx.parameter_count() <= SMALL_MODEL_PARAMS:
                # Small models run faster on one thread, and far faster when other processes share the cores
                # (measured on 2 cores: a 150-step loop went from 0.1 s to over 20 s with two threads under load).
                torch.set_num_threads(1)
            prepare(ctx, min(plan.time_box, plan.deadline))
            if ctx.probe_error and isinstance(ctx.probe_error[1], WiringError):
                raise Miswired(ctx.probe_error[1])
            run_turns(ctx, plan, outcome, interrupts)
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        rng.restore()
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad_enabled)
    if outcome.interrupted:
        done = {r.name for r in outcome.results}
        outcome.results += [CheckResult(c.name, "blocked", detail="not run: interrupted") for c in plan.checks
                            if c.name not in done]
    return Report(findings=outcome.findings, checks=outcome.results, seconds=time.monotonic() - started,
                  config=config_path, interrupted=outcome.interrupted, title=title, fail_on=fail_on)


def make_plan(seed, select, ignore, options, quick, time_box, deadline, progress) -> Plan:
    """The selection and the limits, validated, with the --quick profile applied."""
    select, ignore, options = list(select), list(ignore), dict(options or {})
    check_limits(time_box, deadline)
    checks = selected_checks(select, ignore)
    if not checks:
        raise EmptySelection(f"the selection (select={select or 'all'}, ignore={ignore or 'none'}) leaves no check "
                             "to run; `nndoctor checks` lists the checks and their codes")
    if quick:  # a shorter time box, on top of each check's quick_options
        time_box = min(time_box, QUICK_TIME_BOX)
    if deadline is None:
        deadline = QUICK_DEADLINE if quick else DEFAULT_DEADLINE
    return Plan(checks, seed, time_box, deadline, options, quick, select, ignore, progress)


def run_turns(ctx: Context, plan: Plan, outcome: Outcome, interrupts: Interrupts) -> None:
    """Each selected check in order: blocked, skipped, or its turn; stops at Ctrl-C from the terminal."""
    scale = step_scale(ctx, plan.deadline, plan.quick)
    for cls in plan.checks:
        left = plan.end - time.monotonic()
        reason = blocked_reason(ctx, cls)
        if reason is None and left <= 0:
            reason = f"not run: the run reached its deadline of {plan.deadline:g} s (raise it with --deadline)"
        if reason:
            outcome.results.append(CheckResult(cls.name, "blocked", detail=reason))
            continue
        not_applicable = cls.skip_reason(ctx)
        if not_applicable:
            outcome.results.append(CheckResult(cls.name, "skipped", detail=not_applicable))
            continue
        if plan.progress:
            plan.progress("start", cls.name, {})
        turn, result = run_check(ctx, cls, seed=plan.seed, time_box=min(plan.time_box, left), options=plan.options,
                                 quick=plan.quick, select=plan.select, ignore=plan.ignore, scale=scale)
        if turn.interrupted and not interrupts.from_terminal:
            result.status = "crashed"  # the user's code raised KeyboardInterrupt: a crash, not Ctrl-C
            result.detail = f"the user's code raised {result.detail}"
        outcome.results.append(result)
        outcome.findings += turn.findings
        if plan.progress:
            plan.progress("end", cls.name, {"status": result.status, "seconds": turn.seconds,
                                            "findings": len(turn.findings)})
        if result.status == "interrupted":
            outcome.interrupted = True
            return
