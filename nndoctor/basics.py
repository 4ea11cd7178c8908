"""Light definitions shared by the config and the runtime, importable without torch (so that `nndoctor curve`
and `nndoctor explain` start fast)."""
from __future__ import annotations

import os
import sys
import traceback

TASKS = ("classification", "binary", "multilabel", "regression", "language-modeling")


def user_frame(exc: BaseException) -> str:
    """`file:line in func: code` of the deepest frame that belongs to the user, not to torch or nndoctor."""
    here = os.path.dirname(os.path.abspath(__file__))
    checks_dir = os.path.join(os.path.dirname(here), "checks")
    torch_mod = sys.modules.get("torch")
    torch_dir = os.path.dirname(os.path.abspath(torch_mod.__file__)) if torch_mod else "\0"
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames
            if not os.path.abspath(f.filename).startswith((here, checks_dir, torch_dir))
            and "site-packages" not in f.filename and not f.filename.startswith("<")]
    f = (mine or frames or [None])[-1]
    if f is None:
        return "unknown location"
    return f"{f.filename}:{f.lineno} in {f.name}: {(f.line or '').strip()}"


def exception_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".strip()
