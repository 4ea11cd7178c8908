"""The command line: `nndoctor run`, `nndoctor checks`, `nndoctor explain`.

Data goes to stdout (`--format json` prints pure JSON); progress, hints and errors go to stderr.
Exit codes are `nndoctor.report.ExitCode`.
"""
from __future__ import annotations

import contextlib
import os
import sys
from enum import Enum
from typing import List, Optional

import typer
from rich.console import Console

from ._version import __version__
from .config import ConfigError, check_selector
from .report import ExitCode, Report

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="A doctor for PyTorch training runs: finds silent training bugs in seconds.")
err = Console(stderr=True, highlight=False, soft_wrap=True)  # one message, one line: never wrap paths


class Format(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    junit = "junit"
    html = "html"


class Severity(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


def fail_usage(message: str) -> None:
    err.print(f"nndoctor: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(ExitCode.USAGE)


def split_items(values: Optional[List[str]]) -> list[str]:
    """--select ND1,ND2 --select gradient-flow -> [ND1, ND2, gradient-flow], each validated."""
    items = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return [check_selector(i) for i in items]


def emit(report: Report, fmt: Format, output: Optional[str], verbose: bool = False, fail_on: str = "error") -> None:
    """Write the report in `fmt` to stdout, or to `output` while the terminal shows the text report.

    `fail_on` decides which findings fail a JUnit testcase (the same rule as the exit code)."""
    from .report.router import render

    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(render(report, fmt.value, fail_on))
        except OSError as exc:
            fail_usage(f"cannot write the report to {output}: {exc.strerror or exc}")
        err.print(f"report written to {output}", style="dim", markup=False, highlight=False, soft_wrap=True)
        from .report.text import print_text

        print_text(report, Console(), verbose=verbose)
        return
    if fmt == Format.text:
        from .report.text import print_text

        print_text(report, Console(), verbose=verbose)
    else:
        sys.stdout.write(render(report, fmt.value, fail_on))
        sys.stdout.flush()


@app.command()
def run(
    config: Optional[str] = typer.Argument(None, help="the run config (YAML), or a training script (.py) to "
                                           "capture"),
    script_args: Optional[List[str]] = typer.Argument(None, metavar="-- ARGS",
                                                      help="after --: the script's own arguments"),
    module: Optional[str] = typer.Option(None, "-m", "--module", help="capture this module's training loop, as "
                                         "python -m MODULE runs it"),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text, json, markdown, junit or html"),
    fail_on: Severity = typer.Option(Severity.error, "--fail-on", help="exit 1 at or above this severity"),
    select: Optional[List[str]] = typer.Option(None, "--select", help="only these codes, prefixes (ND4) or checks"),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="skip these codes, prefixes or checks"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:N or auto (overrides the config)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed for torch, numpy and random (overrides the config)"),
    max_batches: Optional[int] = typer.Option(None, "--max-batches", min=1, help="batches read per loader (default 8)"),
    quick: bool = typer.Option(False, "--quick", help="a few-second profile for CI: at most 4 batches, the "
                               "checks' shorter quick settings, a 5 s time box per check"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="also write the report (in --format) here"),
    time_box: float = typer.Option(60.0, "--time-box", min=1.0, help="seconds one check may run"),
    deadline: Optional[float] = typer.Option(None, "--deadline", min=1.0, help="seconds the whole run may take "
                                             "(default 300, 30 with --quick); past it the report is incomplete"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="draw every plot"),
    nproc: Optional[int] = typer.Option(None, "--nproc", min=1, help="run on N ranks of torch.distributed on this "
                                        "machine (gloo on CPU, NCCL on GPU); under torchrun the ranks come from it"),
) -> None:
    """Diagnose the model, data, loss and optimizer that CONFIG names, or that a training script (SCRIPT.py or
    -m MODULE, with its ARGS after --) builds and trains: it is run until its first optimizer steps."""
    # -- capture: a training script instead of a config (nndoctor/capture does all of it) --------------------
    from .capture.command import is_script, run_script_command

    if module or is_script(config):
        run_script_command(config, module, script_args or [], format=format, fail_on=fail_on,
                           select=split_items(select), ignore=split_items(ignore), device=device, seed=seed,
                           max_batches=max_batches, quick=quick, output=output, time_box=time_box,
                           deadline=deadline, verbose=verbose)
        return
    if config is None:
        fail_usage("missing CONFIG: give a run config (YAML), a training script (.py) or -m MODULE")
    if script_args:
        fail_usage(f"unexpected arguments {' '.join(script_args)}: arguments after -- are a training script's "
                   "(nndoctor run SCRIPT.py -- ARGS)")
    # -- end of capture ------------------------------------------------------------------------------------------
    # -- many ranks: --nproc N starts them; each rank (or torchrun's) runs nndoctor.distributed -------------------
    from .distributed.environment import rank_env

    if nproc is not None and nproc > 1 and rank_env() is None:
        from .config import load
        from .distributed.launch import child_argv, launch

        try:  # a bad config is one line now, not after N ranks have started
            load(config)
        except ConfigError as exc:
            fail_usage(str(exc))
        raise typer.Exit(launch(child_argv(sys.argv[1:]), nproc))
    if rank_env() is not None:
        run_ranked(config, format=format, fail_on=fail_on, select=split_items(select), ignore=split_items(ignore),
                   device=device, seed=seed, max_batches=max_batches, quick=quick, output=output,
                   time_box=time_box, deadline=deadline, verbose=verbose)
        return
    # -- end of many ranks ---------------------------------------------------------------------------------------
    from .api import run_config

    show_progress = format == Format.text or output is not None or os.environ.get("NNDOCTOR_PROGRESS")

    header = [f"nndoctor {__version__}: diagnosing {config}"]  # printed once the config has loaded

    def progress(event: str, name: str, info: dict) -> None:
        if header:
            err.print(header.pop(), style="dim", markup=False)
        if event == "end" and (err.is_terminal or show_progress):
            err.print(f"  {name}: {info['status']} ({info['seconds']:.1f} s)", style="dim", markup=False)

    try:
        # What the user's code prints goes to stderr: stdout carries the report alone (pure JSON with --format json).
        with contextlib.redirect_stdout(sys.stderr):
            report = run_config(config, device=device, seed=seed, max_batches=max_batches,
                                select=split_items(select), ignore=split_items(ignore), quick=quick,
                                time_box=time_box, deadline=deadline, fail_on=fail_on.value, progress=progress)
    except ConfigError as exc:
        fail_usage(str(exc))
        return
    emit(report, format, output, verbose, fail_on.value)
    raise typer.Exit(report.exit_code(fail_on.value))


def run_ranked(config: str, *, format: Format, fail_on: Severity, output: Optional[str], verbose: bool,
               **kwargs) -> None:
    """One rank of a run on several ranks: rank 0 prints the merged report and exits with its code; the other
    ranks print nothing on stdout and exit 0 (their own errors reach rank 0's report through the store)."""
    from .distributed.driver import run_rank
    from .distributed.environment import rank_env

    env = rank_env()
    show_progress = env.is_main and (format == Format.text or output is not None or os.environ.get("NNDOCTOR_PROGRESS"))

    def progress(event: str, name: str, info: dict) -> None:
        if event == "end" and show_progress:
            err.print(f"  {name}: {info['status']} ({info['seconds']:.1f} s)", style="dim", markup=False)

    if show_progress:
        err.print(f"nndoctor {__version__}: diagnosing {config} on {env.world_size} ranks", style="dim", markup=False)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            report = run_rank(config, env, fail_on=fail_on.value, progress=progress, **kwargs)
    except ConfigError as exc:
        if env.is_main:
            fail_usage(str(exc))
        raise typer.Exit(ExitCode.USAGE) from None
    if report is None:
        raise typer.Exit(ExitCode.OK)
    emit(report, format, output, verbose, fail_on.value)
    raise typer.Exit(report.exit_code(fail_on.value))


@app.command()
def curve(
    path: str = typer.Argument(..., help="a training log: CSV/TSV, JSON lines, or TensorBoard event file/folder"),
    train: Optional[str] = typer.Option(None, "--train", help="column of the training loss (default: by name)"),
    val: Optional[str] = typer.Option(None, "--val", help="column of the validation loss (default: by name)"),
    step: Optional[str] = typer.Option(None, "--step", help="column of the step (default: by name, else row number)"),
    lr: Optional[str] = typer.Option(None, "--lr", help="column of the learning rate (default: by name)"),
    epoch: Optional[str] = typer.Option(None, "--epoch", help="column of the epoch (sets the saw-tooth period)"),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text, json, markdown, junit or html"),
    fail_on: Severity = typer.Option(Severity.error, "--fail-on", help="exit 1 at or above this severity"),
    select: Optional[List[str]] = typer.Option(None, "--select", help="only these codes, prefixes (ND60) or analysers"),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="skip these codes, prefixes or analysers"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="also write the report (in --format) here"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="draw every plot"),
) -> None:
    """Diagnose the loss curves of a training log (codes ND601-ND611)."""
    from .common.selection import split
    from .curve import CurveError, diagnose_file

    try:  # --select a,b --select c -> [a, b, c], each checked against the curve analysers and their codes
        log, report = diagnose_file(path, train=train, val=val, step=step, lr=lr, epoch=epoch,
                                    select=split(select), ignore=split(ignore))
    except CurveError as exc:
        fail_usage(str(exc))
        return
    if format == Format.text or output is not None:
        err.print(f"nndoctor {__version__}: {path}: {log.rows} rows ({log.format}); {log.describe()}"
                  + "".join(f"; {note}" for note in log.notes), style="dim", markup=False, highlight=False)
    emit(report, format, output, verbose, fail_on.value)
    raise typer.Exit(report.exit_code(fail_on.value))


@app.command("checks")
def list_checks() -> None:
    """List the registered checks with their codes and cost."""
    from rich.table import Table

    from .engine.registry import all_checks, warn_load_errors

    warn_load_errors()
    table = Table("check", "codes", "cost", "what it catches")
    for name, cls in all_checks().items():
        table.add_row(name, " ".join(cls.codes), cls.cost, cls.summary())
    Console().print(table)


@app.command()
def explain(code: str = typer.Argument(..., help="a code (ND201) or its name (initial-loss-off)")) -> None:
    """Print what CODE means, why it matters, how to fix it, and which check emits it."""
    from .catalogue import CODES, GROUPS, lookup
    from .common.errors import did_you_mean

    c = lookup(code)
    if c is None:
        fail_usage(f"unknown code '{code}'{did_you_mean(code.upper(), CODES) or '; `nndoctor checks` lists them'}")
        return
    out = Console()
    out.print(f"[bold]{c.code} {c.name}[/bold] ({GROUPS[c.group]}, default severity {c.severity})")
    out.print(f"\n[bold]What it means[/bold]\n{c.meaning}")
    if c.why:
        out.print(f"\n[bold]Why it matters[/bold]\n{c.why}")
    if c.fix:
        out.print(f"\n[bold]How to fix it[/bold]\n{c.fix}")
    out.print(f"\n[bold]Source[/bold]\n{c.source}")
    if c.group == 6:  # loss-curve codes come from `nndoctor curve`'s analysers (no torch): not from run checks
        from .curve import ANALYSERS

        summaries = [(f"nndoctor curve: {a.name}", a.summary()) for a in ANALYSERS if c.code in a.codes]
    else:
        from .engine.registry import all_checks

        summaries = [(name, cls.summary()) for name, cls in all_checks().items() if c.code in cls.codes]
    out.print("\n[bold]Emitted by[/bold]")
    for name, summary in summaries or [("(no registered check)", "")]:
        out.print(f"  {name}: {summary}" if summary else f"  {name}", markup=False, highlight=False)


@app.command()
def init(
    path: str = typer.Argument("config.yaml", help="the file to write (a folder gets folder/config.yaml)"),
    source: Optional[str] = typer.Option(None, "--from", help="fill in from this module (mypkg.train or a .py "
                                         "file): it is imported, and its model, loader, loss and optimizer found"),
    model: Optional[str] = typer.Option(None, "--model", help="module:attr of the model class or factory"),
    data: Optional[str] = typer.Option(None, "--data", help="module:attr of the loader function or iterable"),
    loss: Optional[str] = typer.Option(None, "--loss", help="module:attr of the loss class or function"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="module:attr of the optimizer class or factory"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
    from_run: Optional[str] = typer.Option(None, "--from-run", help="fill in from what this training script "
                                           "(SCRIPT.py, its ARGS after --) builds: it is run to its first steps"),
    script_args: Optional[List[str]] = typer.Argument(None, metavar="-- ARGS",
                                                      help="after --: the --from-run script's own arguments"),
) -> None:
    """Write a commented config template (every key of the contract) to PATH."""
    from .config.scaffold import ScaffoldError, write

    # -- capture: a config from what a training script builds (nndoctor/capture does all of it) -----------------
    if from_run is not None:
        from .capture.command import init_from_run_command

        init_from_run_command(path, from_run, script_args or [], force=force)
        return
    if script_args:
        fail_usage(f"unexpected arguments {' '.join(script_args)}: arguments after -- are a training script's "
                   "(nndoctor init FILE --from-run SCRIPT.py -- ARGS)")
    # -- end of capture ------------------------------------------------------------------------------------------

    try:
        written, summary = write(path, force=force, model=model, data=data, loss=loss, optimizer=optimizer,
                                 source=source)
    except ScaffoldError as exc:
        fail_usage(str(exc))
        return
    report_written(written, summary)


def report_written(written: str, summary: list[str]) -> None:
    """What `nndoctor init` found and wrote, on stderr (also for `init --from-run`)."""
    for line in summary:
        err.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    err.print(f"wrote {written}: fill in the TODO lines, then run `nndoctor run {written}`", markup=False,
              highlight=False, soft_wrap=True)


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="print the version and exit")) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


def main() -> None:
    """Console-script entry: maps every way out to the documented exit codes."""
    try:
        # Without standalone mode, an Exit raised inside a command comes back as the return value.
        rc = app(standalone_mode=False)
        sys.exit(int(rc) if isinstance(rc, int) else ExitCode.OK)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        err.print(f"nndoctor: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(ExitCode.USAGE)
    except KeyboardInterrupt:
        err.print("nndoctor: interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # click usage errors come through here too
        # Duck-typed: typer >= 0.2x vendors click as typer._click, older typer uses click itself.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):  # a ClickException
            exc.show()
            sys.exit(ExitCode.USAGE)
        if type(exc).__name__ == "Abort":
            sys.exit(ExitCode.INTERRUPTED)
        if os.environ.get("NNDOCTOR_DEBUG"):
            raise
        err.print(f"nndoctor: internal error: {type(exc).__name__}: {exc} "
                  "(set NNDOCTOR_DEBUG=1 for the traceback, and please report it)", markup=False)
        sys.exit(ExitCode.INTERNAL)
