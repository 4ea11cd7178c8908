"""Running the user's script in this process, as `python SCRIPT.py ARGS` or `python -m MODULE ARGS` would, under
the capture hooks, until the step budget, the deadline, or its own end.

`sys.argv` is `[script, *args]`, `__name__` is `"__main__"`, the script's folder (or, for a module, the current
folder) is first on `sys.path`; all three are restored after. What the script writes is passed through and its
last lines kept, so that an error it prints (argparse's) can be quoted.
"""
from __future__ import annotations

import collections
import importlib.util
import os
import runpy
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from ..common.errors import exception_line, user_frame
from ..engine.isolation import Interrupts
from .errors import CaptureError
from .recorder import Recorder, StopCapture


@dataclass
class Target:
    """What to run: a script file, or a module by name (`-m`)."""

    path: str  # the file that runs
    module: str | None = None

    @property
    def display(self) -> str:
        return f"-m {self.module}" if self.module else os.path.relpath(self.path) if not \
            os.path.relpath(self.path).startswith("..") else self.path


@dataclass
class ScriptRun:
    """How the script ended under capture."""

    target: Target
    outcome: str  # steps, deadline, no-step (stopped by nndoctor); ended, exit, raised (the script's own end);
    # observed (a DoctorCallback watched its first steps; the run went on)
    seconds: float
    exit_code: object = None  # SystemExit's code
    error: str = ""  # the exception's one line
    error_at: str = ""  # its user frame
    output_tail: list = field(default_factory=list)  # the last lines the script wrote

    @property
    def stopped(self) -> bool:
        return self.outcome in ("steps", "deadline", "no-step")

    @property
    def failed(self) -> bool:
        """The script ended with an error of its own: an exception, or sys.exit with a non-zero code."""
        return self.outcome == "raised" or (self.outcome == "exit" and self.exit_code not in (None, 0))


def resolve(script: str | None = None, module: str | None = None) -> Target:
    """The file to run; a one-line CaptureError when there is none."""
    if module:
        sys.path.insert(0, os.getcwd())
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError) as exc:
            raise CaptureError(f"-m {module}: cannot find the module: {exception_line(exc)}") from None
        finally:
            sys.path.pop(0)
        if spec is None:
            raise CaptureError(f"-m {module}: no module named '{module}' (searched the current folder and sys.path)")
        origin = spec.origin
        if spec.submodule_search_locations:  # a package runs its __main__
            origin = os.path.join(list(spec.submodule_search_locations)[0], "__main__.py")
        return Target(path=os.path.abspath(origin or module), module=module)
    if not script:
        raise CaptureError("give a script (nndoctor run SCRIPT.py) or a module (nndoctor run -m MODULE)")
    if not os.path.isfile(script):
        raise CaptureError(f"{script}: no such file")
    return Target(path=os.path.abspath(script))


class _Tail:
    """A stream that writes through and keeps the last characters written (to quote the script's error)."""

    def __init__(self, stream, kept: collections.deque) -> None:
        self._stream = stream
        self._kept = kept

    def write(self, text):
        self._kept.extend(str(text)[-4096:])
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextmanager
def _process_state(target: Target, args: list[str]):
    """argv, sys.path, grad mode and the output streams as the script should see them; restored after."""
    argv, path, grad = sys.argv[:], sys.path[:], torch.is_grad_enabled()
    out, err = sys.stdout, sys.stderr
    kept: collections.deque = collections.deque(maxlen=4096)
    sys.argv[:] = [target.module if target.module else target.path, *args]
    sys.path.insert(0, os.getcwd() if target.module else os.path.dirname(target.path))
    sys.stdout, sys.stderr = _Tail(out, kept), _Tail(err, kept)
    try:
        yield kept
    finally:
        sys.stdout, sys.stderr = out, err
        sys.argv[:] = argv
        sys.path[:] = path
        torch.set_grad_enabled(grad)


@contextmanager
def _alarm(seconds: float, recorder: Recorder):
    """Stop the script at the deadline (main thread only: signals are delivered there)."""
    usable = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not usable or not seconds or seconds <= 0:
        yield
        return
    old = signal.signal(signal.SIGALRM, lambda signum, frame: recorder.deadline_passed())
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run(target: Target, args: list[str], recorder: Recorder, deadline: float) -> ScriptRun:
    """Run the script under `recorder`'s hooks until it stops or ends; every hook is removed on return."""
    t0 = time.monotonic()
    interrupts = Interrupts()
    outcome, code, error, where = "ended", None, "", ""
    with _process_state(target, args) as kept, interrupts.watching():
        try:
            with recorder.installed(), _alarm(deadline, recorder), warnings.catch_warnings():
                # (the alarm is off before a hook goes) torch warns of our global hooks when the script compiles
                warnings.filterwarnings("ignore", message=r"Using `torch.compile\(module\)` when there are global")
                if target.module:
                    runpy.run_module(target.module, run_name="__main__", alter_sys=True)
                else:
                    runpy.run_path(target.path, run_name="__main__")
        except StopCapture as stop:
            outcome = stop.reason
        except SystemExit as exc:
            outcome, code = "exit", exc.code
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # the script's own error: quoted with its frame
            outcome, error, where = "raised", exception_line(exc), user_frame(exc)
    if interrupts.from_terminal:
        raise KeyboardInterrupt
    tail = [line for line in "".join(kept).splitlines() if line.strip()][-5:]
    return ScriptRun(target, outcome, time.monotonic() - t0, code, error, where, tail)
