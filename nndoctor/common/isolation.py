"""One diagnostic's turn, isolated: its findings are collected as they come, a crash becomes a `crashed` entry
(a finding about nndoctor, not a dead run), nndoctor's own time limit a `timeout`, and a Ctrl-C `interrupted`.

    turn = take_turn(lambda: check.run(ctx), keep=lambda f: selection.keep(f.code, f.check, select, ignore))
    turn.status    # passed | failed | crashed | timeout | interrupted
"""
from __future__ import annotations

import os
import sys
import traceback

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..report.model import Finding
from .errors import exception_line, user_frame


class TimeBoxExceeded(BaseException):
    """A diagnostic ran past the time nndoctor gave it: nndoctor's own limit, never the user's fault. A
    BaseException, so that no `except Exception` (a check's, a probe's or the user's) can swallow it and report
    nndoctor's timeout as the user's error."""


@dataclass
class Turn:
    status: str  # passed, failed (it reported a warning or an error), crashed, timeout, interrupted
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    detail: str | None = None  # why it crashed or stopped

    @property
    def interrupted(self) -> bool:
        return self.status == "interrupted"


def take_turn(run: Callable[[], Iterable[Finding] | None], keep: Callable[[Finding], bool]) -> Turn:
    """Run one diagnostic to its end, or to its first exception, keeping the findings made before it."""
    t0 = time.monotonic()
    got: list[Finding] = []
    status, detail = "passed", None
    try:
        for f in run() or ():
            got.append(f)
    except TimeBoxExceeded:
        status = "timeout"
    except KeyboardInterrupt as exc:  # the caller tells Ctrl-C from a KeyboardInterrupt raised by user code
        status, detail = "interrupted", f"KeyboardInterrupt at {user_frame(exc)}"
    except SystemExit as exc:  # the user's code called sys.exit: that ends its turn, never the run
        status, detail = "crashed", f"the user's code called sys.exit({exc.code!r}) at {user_frame(exc)}"
    except Exception as exc:  # a diagnostic crashing is a finding about nndoctor, not a dead run
        status, detail = "crashed", f"{exception_line(exc)} at {user_frame(exc)}"
        if os.environ.get("NNDOCTOR_DEBUG"):  # the whole traceback, for nndoctor's developers
            traceback.print_exc(file=sys.stderr)
    got = [f for f in got if keep(f)]
    if status == "passed" and any(f.severity != "info" for f in got):
        status = "failed"
    return Turn(status, got, time.monotonic() - t0, detail)
