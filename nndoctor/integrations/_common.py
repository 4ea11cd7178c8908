"""What both callbacks share: observe the run's first optimizer steps with the capture hooks, then diagnose.

The capture `Recorder` is installed when training starts and removed after the `steps`-th optimizer step. It never
stops the run here (a `Recorder` of capture ends a script at its step budget; this one only notes it), and its hooks
change no tensor: the run trains exactly as it would without the callback. The subject is built from the recording
(the model copied with its weights as before its first forward) and the same checks as `nndoctor run` run on
copies of it.
"""
from __future__ import annotations

import inspect
import sys
import time
from contextlib import ExitStack
from typing import Iterable

from ..capture.api import DEFAULT_STEPS, CapturedReport, with_loop
from ..capture.build import build
from ..capture.errors import CaptureError
from ..capture.recorder import Recorder
from ..capture.script import ScriptRun, Target
from ..common import selection
from ..engine.isolation import RNGState
from ..engine.runner import UsageError, run
from ..report.model import SEVERITY_ORDER


class DoctorFailed(RuntimeError):
    """The diagnosis found something at or above `fail_on`; `.report` is the whole report."""

    def __init__(self, report: CapturedReport, fail_on: str) -> None:
        failing = report.failing(fail_on)
        codes = ", ".join(dict.fromkeys(f.code for f in failing))
        super().__init__(f"nndoctor: {len(failing)} finding(s) at or above {fail_on!r} ({codes}); the report:\n"
                         f"{report}")
        self.report = report


class _Watching(Recorder):
    """The capture Recorder, which notes the step budget instead of ending the run."""

    def __init__(self, steps: int) -> None:
        super().__init__(steps=steps, max_backwards=sys.maxsize)
        self.spent = False

    def _stop(self, reason: str) -> None:
        self.spent = True


class Observer:
    """One observation: `start()` installs the hooks, `due` says when the step budget is spent, `finish()` removes
    every hook and returns the report."""

    def __init__(self, *, fail_on: str = "error", steps: int = DEFAULT_STEPS, select: Iterable[str] | str | None
                 = None, ignore: Iterable[str] | str | None = None, quick: bool = True,
                 deadline: float | None = None, seed: int = 0) -> None:
        if fail_on not in SEVERITY_ORDER:
            raise ValueError(f"fail_on: {fail_on!r} is not a severity; use one of {', '.join(SEVERITY_ORDER)}")
        if int(steps) < 1:
            raise ValueError(f"steps: the step budget must be at least 1, got {steps}")
        self.fail_on, self.steps, self.quick, self.deadline, self.seed = fail_on, int(steps), quick, deadline, seed
        self.select, self.ignore = selection.split(select), selection.split(ignore)
        self.recorder: _Watching | None = None
        self._stack: ExitStack | None = None
        self._t0 = 0.0
        self.done = False

    @property
    def watching(self) -> bool:
        return self._stack is not None

    @property
    def due(self) -> bool:
        """The step budget is spent: time to diagnose."""
        return self.recorder is not None and self.recorder.spent

    def start(self) -> None:
        if self.watching or self.done:
            return
        self.recorder = _Watching(self.steps)
        self._stack = ExitStack()
        self._stack.enter_context(self.recorder.installed())
        self._t0 = time.monotonic()

    def stop(self) -> None:
        """Remove every hook (idempotent)."""
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()

    def finish(self, source: object) -> CapturedReport:
        """Remove the hooks, build the subject, run the checks on copies; `source` (the user's module) names the
        file the report is about."""
        self.stop()
        self.done = True
        rec = self.recorder.rec
        # The run goes on after: every generator the diagnosis draws from (the global ones, and the loaders' own,
        # which `build` rewinds to read the first batches again) is put back as the run left it.
        loaders = [(g, g.get_state()) for states in rec.generator_states.values() for g, _ in states]
        rng = RNGState()
        try:
            return self._diagnose(_source_file(source), rec)
        finally:
            rng.restore()
            for generator, state in loaders:
                generator.set_state(state)

    def _diagnose(self, path: str, rec) -> CapturedReport:
        target = Target(path=path)
        outcome = "observed" if self.recorder.spent else "ended"
        captured = build(ScriptRun(target, outcome, time.monotonic() - self._t0), rec)
        try:
            report = run(captured.subject, device=captured.device, seed=self.seed, select=self.select,
                         ignore=self.ignore, quick=self.quick, deadline=self.deadline, config_path=target.path,
                         fail_on=self.fail_on, title="nndoctor callback")
        except UsageError as exc:
            raise CaptureError(str(exc)) from None
        return with_loop(report, captured, self.seed, self.select, self.ignore)

    def failed(self, report: CapturedReport) -> DoctorFailed | None:
        """The exception to raise when the report has a finding at or above `fail_on`."""
        return DoctorFailed(report, self.fail_on) if report.failing(self.fail_on) else None


def _source_file(obj: object) -> str:
    try:
        return inspect.getfile(type(obj))
    except (TypeError, OSError):
        return f"<{type(obj).__name__}>"


def print_report(report: CapturedReport) -> None:
    """The text report on stderr (rank zero only: the caller decides)."""
    print(str(report), file=sys.stderr, flush=True)
