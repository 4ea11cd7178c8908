"""The Python API: the same checks and report as `nndoctor run`, on objects already in memory.

    report = nndoctor.diagnose(model=net, data=loader, loss=nn.CrossEntropyLoss(), optimizer=opt)
    assert report.ok, report.to_json()
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterable

from torch import nn

from .engine.subject import Subject, optimizer_factory
from .report import Report
from .report import router  # noqa: F401  rich draws from `random` when first imported: never after a run restored it
from .engine.runner import DEFAULT_TIME_BOX, UsageError, run


def diagnose(model: nn.Module, data: Iterable, loss: Callable, optimizer: Any = None, *,
             val_data: Iterable | None = None, optimizer_kwargs: dict | None = None, task: str = "auto",
             num_classes: int | None = None, batch: dict | None = None, outputs: str | int | dict | None = None,
             train_step: Callable | None = None, device: str = "auto", seed: int = 0, max_batches: int = 8,
             select: Iterable[str] = (), ignore: Iterable[str] = (), options: dict | None = None,
             quick: bool = False, time_box: float = DEFAULT_TIME_BOX, deadline: float | None = None,
             fail_on: str = "error") -> Report:
    """Diagnose a model, its data, loss and optimizer. Nothing passed in is modified.

    `loss` is a loss module instance (or class, instantiated with no arguments), a function
    `loss(outputs, targets)`, or "model" for a model that computes its own loss when handed the targets
    (`logits, loss = model(x, y)`, a Hugging Face model given `labels`): `batch={"targets_arg": ...}` says where
    forward takes them, `outputs={"logits": KEY, "loss": KEY}` where it returns each. `optimizer` is an
    Optimizer instance built for `model`, an Optimizer class
    (with `optimizer_kwargs`), a factory `fn(model, **optimizer_kwargs)`, or None for Adam(lr=1e-3).
    `options` holds per-check options by check name, as the config's `checks:` section does. `select` and
    `ignore` take codes, code prefixes (ND4) or check names, as `--select`/`--ignore` do. `quick=True` is the
    `--quick` profile. `deadline` bounds the whole run in seconds (default by profile; checks it leaves no time
    for are reported `blocked` and the report is `incomplete`); `fail_on` is the severity the report's `status`
    and `exit_code()` are judged at. A bad selector or option, or a selection that leaves no check, raises
    ValueError with the closest valid name.
    """
    select, ignore = _selectors(select, "select"), _selectors(ignore, "ignore")
    _validate_options(options)
    from .config.loader import seed_problem

    if seed_problem(seed):
        raise ValueError(f"nndoctor.diagnose(seed=...): {seed_problem(seed)}")
    loss = _loss_of(loss, batch, outputs)
    subject = Subject(model=model, data=data, loss=loss,
                      optimizer=optimizer_factory(optimizer, optimizer_kwargs, model=model), val_data=val_data,
                      task=task, num_classes=num_classes, batch_spec=dict(batch or {}), outputs=outputs,
                      train_step=train_step, optimizer_desc=repr(optimizer))
    return run(subject, device=device, seed=seed, max_batches=max_batches, select=select, ignore=ignore,
               options=options, quick=quick, time_box=time_box, deadline=deadline, title="nndoctor.diagnose",
               fail_on=fail_on)


def _loss_of(loss: Any, batch: dict | None, outputs: Any) -> Callable:
    """The loss as the Subject holds it: a class instantiated, "model" as a ModelLoss; a bad `batch`
    targets_arg or `outputs` mapping is a ValueError naming the argument."""
    from .config.loader import outputs_problem, targets_arg_problem
    from .config.schema import MODEL_LOSS
    from .probes.losses import ModelLoss

    if isinstance(loss, str) and loss != MODEL_LOSS:
        raise ValueError(f"nndoctor.diagnose(loss={loss!r}): a loss is a module, a class, a function, or \"model\" "
                         "for a model that computes its own loss")
    name = MODEL_LOSS if isinstance(loss, str) else None
    for arg, problem in (("batch", targets_arg_problem((batch or {}).get("targets_arg"), name)),
                         ("outputs", outputs_problem(outputs, name))):
        if problem:
            raise ValueError(f"nndoctor.diagnose({arg}=...): {problem}")
    if isinstance(loss, str):
        return ModelLoss()
    return loss() if isinstance(loss, type) else loss


def _selectors(items: Iterable[str] | str, what: str) -> list[str]:
    """Codes, prefixes or check names, validated as `--select`/`--ignore` are ("ND2,ND4" or a list)."""
    from .config import ConfigError, check_selector

    if isinstance(items, str):
        items = [items]
    parts = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
    try:
        return [check_selector(p) for p in parts]
    except ConfigError as exc:
        raise ValueError(f"nndoctor.diagnose({what}=...): {str(exc).split(': ', 1)[-1]}") from None


def _validate_options(options: dict | None) -> None:
    """Per-check options by check name: unknown checks and options are errors, as in the config file."""
    from .config import ConfigError, RunConfig, validate_checks_section

    if not options:
        return
    if not isinstance(options, dict):
        raise ValueError("nndoctor.diagnose(options=...): expected a dict of check name -> {option: value}")
    try:
        validate_checks_section(RunConfig(path=None, values={"checks": dict(options)}))
    except ConfigError as exc:
        raise ValueError(f"nndoctor.diagnose(options=...): {exc}") from None


def run_config(path: str, *, device: str | None = None, seed: int | None = None, max_batches: int | None = None,
               select: Iterable[str] = (), ignore: Iterable[str] = (), quick: bool = False,
               time_box: float = DEFAULT_TIME_BOX, deadline: float | None = None, fail_on: str = "error",
               progress=None) -> Report:
    """What `nndoctor run PATH` does, in-process: load and validate the config, seed, build, run.

    Arguments override the file as the command-line flags do. Raises `nndoctor.config.ConfigError` (one line)
    for a bad config, or a selection that leaves no check. While the user's code runs, `sys.argv` holds only the
    config's path, so a module that parses its arguments at import gets its own defaults, not nndoctor's.
    """
    from . import config as cfgmod
    from .config.loader import run_settings
    from .engine.isolation import RNGState

    settings = run_settings(path, seed, device, select, ignore)
    cfg, sel, ign, seed, options = settings.config, settings.select, settings.ignore, settings.seed, settings.options
    with _argv([path]):
        RNGState.seed(seed)  # the model's initialisation is part of the run: the same config gives the same weights
        subject = cfgmod.build(cfg)
        try:
            return run(subject, device=device or str(cfg.get("device", "auto")), seed=seed,
                       max_batches=max_batches or int(cfg.get("max_batches", cfgmod.DEFAULT_MAX_BATCHES)),
                       select=sel, ignore=ign, options=options, quick=quick, time_box=time_box, deadline=deadline,
                       progress=progress, config_path=path, fail_on=fail_on)
        except UsageError as exc:
            key = getattr(exc, "key", None)  # a wiring problem names the config key to set
            raise cfgmod.ConfigError(path, cfg.lines.get(key) if key else None, key, str(exc)) from None


@contextmanager
def _argv(argv: list[str]):
    """sys.argv as the user's code should see it while nndoctor runs it, restored after."""
    saved = sys.argv[:]
    sys.argv[:] = argv
    try:
        yield
    finally:
        sys.argv[:] = saved
