"""`nndoctor run SCRIPT.py [-- ARGS]` and `nndoctor run -m MODULE [-- ARGS]`: the command line's side of capture.

The same flags, formats, progress lines and exit codes as a config run; the `captured:` lines on stderr before
the checks; what the script prints goes to stderr (stdout carries the report alone).
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Optional

import typer


def is_script(config: Optional[str]) -> bool:
    """`nndoctor run X`: X is a training script (captured) rather than a run config."""
    return bool(config) and config.endswith(".py")


def script_and_args(config: Optional[str], module: Optional[str], extra: list[str]) -> tuple[Optional[str], list]:
    """With `-m`, a positional after `--` lands in CONFIG: it is the module's first argument."""
    if module:
        return None, ([config] if config else []) + list(extra)
    return config, list(extra)


def run_script_command(config: Optional[str], module: Optional[str], extra: list[str], *, format, fail_on,
                       select: list[str], ignore: list[str], device, seed, max_batches, quick: bool, output,
                       time_box: float, deadline, verbose: bool) -> None:
    """Capture, diagnose, print; ends with `typer.Exit(exit code)` as `nndoctor run CONFIG` does."""
    from .. import __version__
    from ..cli import Format, emit, err, fail_usage
    from .api import diagnose_script
    from .errors import CaptureError

    script, args = script_and_args(config, module, extra)
    if device is not None:
        from ..config import ConfigError, validate_device

        try:
            validate_device(device)
        except ConfigError as exc:
            fail_usage(str(exc))
    shown = f"-m {module}" if module else script
    show_progress = format == Format.text or output is not None or os.environ.get("NNDOCTOR_PROGRESS")
    err.print(f"nndoctor {__version__}: running {shown} until its first optimizer steps", style="dim", markup=False)

    def notify(line: str) -> None:
        err.print(line, style="dim", markup=False, highlight=False, soft_wrap=True)

    def progress(event: str, name: str, info: dict) -> None:
        if event == "end" and (err.is_terminal or show_progress):
            err.print(f"  {name}: {info['status']} ({info['seconds']:.1f} s)", style="dim", markup=False)

    try:
        with contextlib.redirect_stdout(sys.stderr):  # the script's prints, and the checks' user code: stderr
            report = diagnose_script(script, module=module, args=args, device=device, seed=seed or 0,
                                     max_batches=max_batches or 8, select=select, ignore=ignore, quick=quick,
                                     time_box=time_box, deadline=deadline, fail_on=fail_on.value,
                                     progress=progress, notify=notify)
    except CaptureError as exc:
        fail_usage(str(exc))
        return
    emit(report, format, output, verbose, fail_on.value)
    raise typer.Exit(report.exit_code(fail_on.value))


def init_from_run_command(path: str, script: str, extra: list[str], *, force: bool) -> None:
    """`nndoctor init FILE --from-run SCRIPT.py [-- ARGS]`: write the config; one-line errors, exit 2."""
    from ..cli import fail_usage, report_written
    from ..config.scaffold import ScaffoldError
    from .errors import CaptureError
    from .from_run import write_from_run

    module = script[3:].strip() if script.startswith("-m ") else None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            written, summary = write_from_run(path, None if module else script, module, list(extra), force=force)
    except (CaptureError, ScaffoldError) as exc:
        fail_usage(str(exc))
        return
    report_written(written, summary)
