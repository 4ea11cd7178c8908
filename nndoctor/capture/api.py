"""`nndoctor run SCRIPT.py` in-process: capture the script's objects, run the checks on them, add what its loop
showed.

    report = diagnose_script("train.py", args=["--lr", "0.1"])
    report.captured      # what was captured and from where (also the `captured` key of its JSON)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..common import selection
from ..engine.isolation import RNGState
from ..engine.runner import DEFAULT_TIME_BOX, UsageError, run
from ..report.model import CheckResult, Report
from . import loop
from .build import Captured, build, ended_text
from .recorder import Recorder
from .script import CaptureError, ScriptRun, resolve
from .script import run as run_script

DEFAULT_STEPS = 3  # optimizer steps of the script's own loop before it is stopped
DEFAULT_MAX_BACKWARDS = 16  # backward passes with no optimizer step before it is stopped (the loop never steps)


@dataclass
class CapturedReport(Report):
    """A report of a captured script: a Report, plus `captured` (what was found, and where) in its JSON."""

    captured: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["captured"] = self.captured
        return out


def capture(script: str | None = None, *, module: str | None = None, args: Iterable[str] = (),
            steps: int = DEFAULT_STEPS, deadline: float = DEFAULT_TIME_BOX,
            max_backwards: int = DEFAULT_MAX_BACKWARDS, seed: int = 0) -> Captured:
    """Run the script (or `-m module`) with `args` until `steps` optimizer steps, `deadline` seconds, or its end,
    and build the subject from what it did. Raises CaptureError (one line) when it cannot."""
    if steps < 1:
        raise CaptureError(f"the step budget must be at least 1, got {steps}")
    target = resolve(script, module)
    recorder = Recorder(steps=steps, max_backwards=max_backwards)
    RNGState.seed(seed)  # as a config run seeds before it builds: the same script gives the same weights
    result = run_script(target, list(args), recorder, deadline)
    if result.failed and not recorder.rec.steps:
        if result.outcome != "raised":
            raise CaptureError(script_failed(result))
        try:  # it raised in its first training step: a finding (ND308) when the model, loss and data are known
            return build(result, recorder.rec)
        except CaptureError:
            raise CaptureError(script_failed(result)) from None
    return build(result, recorder.rec)


def script_failed(result: ScriptRun) -> str:
    """The script's own error, as the script said it."""
    said = f": {result.output_tail[-1]}" if result.output_tail else ""
    if result.outcome == "exit":
        if isinstance(result.exit_code, str):
            said = f": {result.exit_code}"
        return f"{result.target.display} exited with code {result.exit_code!r} before its first optimizer step{said}"
    return f"{result.target.display} raised {result.error} at {result.error_at}, before its first optimizer step"


def diagnose_script(script: str | None = None, *, module: str | None = None, args: Iterable[str] = (),
                    steps: int = DEFAULT_STEPS, capture_deadline: float | None = None, device: str | None = None,
                    seed: int = 0, max_batches: int = 8, select: Iterable[str] = (), ignore: Iterable[str] = (),
                    options: dict | None = None, quick: bool = False, time_box: float = DEFAULT_TIME_BOX,
                    deadline: float | None = None, fail_on: str = "error", progress=None,
                    notify: Callable[[str], None] | None = None) -> CapturedReport:
    """Capture the script, then run the same checks, ranking and verdict as a config run on what it trained.

    `capture_deadline` (default `time_box`) bounds the script's run up to its steps; `notify` gets the
    `captured:` lines before the checks start. The train-step check's codes (ND409, ND408, ND310) come from the
    script's own loop. Raises CaptureError for a script that cannot be captured or a selection that cannot run."""
    select, ignore = list(select), list(ignore)
    captured = capture(script, module=module, args=args, steps=steps, seed=seed,
                       deadline=capture_deadline if capture_deadline is not None else time_box)
    for line in captured.lines():
        if notify:
            notify(line)
    try:
        report = run(captured.subject, device=device or captured.device, seed=seed, max_batches=max_batches,
                     select=select, ignore=ignore, options=options, quick=quick, time_box=time_box,
                     deadline=deadline, progress=progress, config_path=captured.run.target.path, fail_on=fail_on)
    except UsageError as exc:
        raise CaptureError(str(exc)) from None
    return with_loop(report, captured, seed, select, ignore)


def with_loop(report: Report, captured: Captured, seed: int, select: list, ignore: list) -> CapturedReport:
    """The report with the loop's findings in the place of the train-step check, which a script run cannot run
    (it has no `train_step` function: the loop is the step)."""
    findings, checks = list(report.findings), list(report.checks)
    for i, c in enumerate(checks):
        if c.name == loop.CHECK and c.status == "skipped" and not report.interrupted:
            t0 = time.monotonic()
            got = [f for f in loop.loop_findings(captured, seed) if selection.keep(f.code, f.check, select, ignore)]
            status = "failed" if any(f.severity != "info" for f in got) else "passed"
            detail = f"read from the script's own loop ({ended_text(captured.run)})"
            checks[i] = CheckResult(c.name, status, time.monotonic() - t0, detail)
            findings += got
    return CapturedReport(findings=findings, checks=checks, seconds=report.seconds, config=report.config,
                          interrupted=report.interrupted, title=report.title, fail_on=report.fail_on,
                          captured=captured.to_dict())
