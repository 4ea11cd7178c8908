"""Error text shared by every layer, importable without torch: the user's frame of an exception, its one-line
form, and "did you mean" suggestions."""
from __future__ import annotations

import difflib
import os
import sys
import traceback

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # nndoctor/
CHECKS_DIR = os.path.join(os.path.dirname(PACKAGE_DIR), "checks")  # the built-in checks in a source tree


def is_user_file(filename: str) -> bool:
    """A frame of the user's own code: not nndoctor's, not torch's, not an installed package's, not generated."""
    torch_mod = sys.modules.get("torch")
    torch_dir = os.path.dirname(os.path.abspath(torch_mod.__file__)) if torch_mod else "\0"
    path = os.path.abspath(filename)
    return (not path.startswith((PACKAGE_DIR, CHECKS_DIR, torch_dir)) and "site-packages" not in filename
            and not filename.startswith("<"))


def user_frame(exc: BaseException) -> str:
    """`file:line in func: code` of the deepest frame that belongs to the user, not to torch or nndoctor."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if is_user_file(f.filename)]
    f = (mine or frames or [None])[-1]
    if f is None:
        return "unknown location"
    return f"{f.filename}:{f.lineno} in {f.name}: {(f.line or '').strip()}"


def exception_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".strip()


def did_you_mean(word: str, choices) -> str:
    """"; did you mean 'X'?" for the closest of `choices`, or ""."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
