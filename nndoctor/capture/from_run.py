"""`nndoctor init FILE --from-run SCRIPT.py [-- ARGS]`: a run config written from what a captured script built.

Each key is filled where what the script built can be named as `module:attr`:
- model: its class, from its module (a class defined in the script itself when the script guards its training
  with `if __name__ == "__main__":`, so that importing it trains nothing), with the plain values it was built
  with as model_kwargs;
- data: the function that built the DataLoader, when one did (a loader built inline is a TODO, with where);
- loss and optimizer: their torch.nn / torch.optim class and the settings that differ from the defaults.
What cannot be named stays a TODO line saying what the script did. The config's header lists what was captured.
"""
from __future__ import annotations

import inspect
import os
from typing import Any

import torch
from torch import nn

from ..config.scaffold import Found, ScaffoldError, template
from .adapters import CalledLoss, LOSS_ATTRIBUTES
from .build import Captured
from .records import Site

OPTIMIZER_KEYS = ("lr", "momentum", "weight_decay", "betas", "eps", "nesterov", "alpha", "dampening", "amsgrad")


def _guarded(path: str) -> bool:
    """The script trains only under `if __name__ == "__main__":`: importing it defines, and runs nothing."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        return False
    return "__name__ == \"__main__\"" in text or "__name__ == '__main__'" in text


def _module_name(obj: Any, captured: Captured) -> str | None:
    """The importable module `obj` (a class or function) is defined in, or None."""
    module = getattr(obj, "__module__", None)
    if module == "__main__":
        script = captured.run.target
        if script.module or not _guarded(script.path):
            return None
        return os.path.splitext(os.path.basename(script.path))[0]
    return module


def _model(found: Found, captured: Captured) -> None:
    cls = type(captured.model)
    site = captured.recording.site_of(captured.model)
    module = _module_name(cls, captured)
    if module is None or "<locals>" in cls.__qualname__:
        found.notes["model"] = f"{cls.__name__}, built at {site}: defined where it cannot be imported from"
        return
    found.values["model"] = f"{module}:{cls.__qualname__}"
    arguments = captured.recording.arguments_of(captured.model)
    if arguments is not None and arguments.kwargs:
        found.values["model_kwargs"] = dict(arguments.kwargs)
    elif arguments is None:
        found.required["model"] = _required(cls)
    found.notes["model"] = f"built at {site}"


def _required(fn: Any) -> list[str]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.default is p.empty and p.name != "self"
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _data(found: Found, captured: Captured) -> None:
    loader = getattr(captured.subject.data, "loader", captured.subject.data)
    site: Site | None = captured.recording.site_of(loader)
    if not isinstance(loader, torch.utils.data.DataLoader) or site is None:
        found.notes["data"] = "the script's batches do not come from a DataLoader as they are"
        return
    if site.func in ("<module>", "main", "") or site.func.startswith("<"):
        found.notes["data"] = (f"the DataLoader is built at {site} (in {site.func}): give a function that "
                               "returns it")
        return
    fn = _function_at(site, captured)
    if fn is None:
        found.notes["data"] = f"the DataLoader is built at {site}, in {site.func}(), which cannot be imported"
        return
    found.values["data"] = fn
    found.notes["data"] = f"the function that builds the DataLoader at {site}"
    arguments = captured.recording.arguments_of(loader, factory=True)
    if arguments is not None and arguments.kwargs:
        found.values["data_kwargs"] = dict(arguments.kwargs)


def _function_at(site: Site, captured: Captured) -> str | None:
    """`module:func` for the module-level function `site` is in, when its file can be imported."""
    script = captured.run.target
    path = os.path.abspath(site.file)
    if path == script.path:
        if script.module or not _guarded(path):
            return None
        return f"{os.path.splitext(os.path.basename(path))[0]}:{site.func}"
    for name, module in list(__import__("sys").modules.items()):
        if getattr(module, "__file__", None) and os.path.abspath(module.__file__) == path:
            return f"{name}:{site.func}" if callable(getattr(module, site.func, None)) else None
    return None


def _loss(found: Found, captured: Captured) -> None:
    loss = captured.subject.loss
    if isinstance(loss, CalledLoss) or hasattr(loss, "nndoctor_chain") or not isinstance(loss, nn.Module) \
            or not type(loss).__module__.startswith("torch.nn"):
        found.notes["loss"] = f"the script's loss: {captured.parts['loss']}"
        return
    cls = type(loss)
    found.values["loss"] = f"torch.nn:{cls.__name__}"
    fresh = cls()
    changed = {k: getattr(loss, k) for k in LOSS_ATTRIBUTES + ("beta", "delta", "log_target")
               if hasattr(loss, k) and not isinstance(getattr(loss, k), torch.Tensor)
               and getattr(loss, k) != getattr(fresh, k, None)}
    if changed:
        found.values["loss_kwargs"] = changed


def _optimizer(found: Found, captured: Captured) -> None:
    opt = captured.subject.optimizer(captured.subject.model)
    cls = type(opt)
    if not cls.__module__.startswith("torch.optim"):
        found.notes["optimizer"] = f"the script's {captured.parts['optimizer']}"
        return
    found.values["optimizer"] = f"torch.optim:{cls.__name__}"
    group, defaults = opt.param_groups[0], cls([torch.zeros(1, requires_grad=True)]).defaults
    kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()
              if k in OPTIMIZER_KEYS and (k == "lr" or v != defaults.get(k))}
    found.values["optimizer_kwargs"] = kwargs
    if len(opt.param_groups) > 1:
        found.notes["optimizer_kwargs"] = (f"the script has {len(opt.param_groups)} param groups; a config's "
                                           "optimizer takes one (write a factory fn(model) for the groups)")


def config_text(captured: Captured, config_path: str) -> tuple[str, list[str]]:
    """The config and the summary lines of what was filled in."""
    found = Found()
    _model(found, captured)
    _data(found, captured)
    _loss(found, captured)
    _optimizer(found, captured)
    if captured.subject.outputs:
        found.values["outputs"] = captured.subject.outputs
    folder = os.path.dirname(os.path.abspath(config_path))
    script_folder = os.getcwd() if captured.run.target.module else os.path.dirname(captured.run.target.path)
    rel = os.path.relpath(script_folder, folder).replace(os.sep, "/")
    if rel.startswith("../.."):  # far away: the absolute folder reads better
        rel = script_folder.replace(os.sep, "/")
    text = template(found, pythonpath=None if rel == "." else rel)
    # The template writes kwargs lines for required parameters only: the values the script used go in here.
    for key in ("model_kwargs", "data_kwargs"):
        if key in found.values:
            text = _set_line(text, key, found.values[key], "as the script called it")
    if captured.subject.outputs:
        text = _set_line(text, "outputs", captured.subject.outputs, "the model's return value the loss takes")
    for key in ("model", "data", "loss"):  # what the script did, on the TODO lines
        if key not in found.values and key in found.notes:
            text = _todo_note(text, key, found.notes[key])
    header = [f"# Written by `nndoctor init --from-run {captured.run.target.display}` from what the script built:"]
    header += [f"#   {line.strip()}" for line in captured.lines()[1:]]
    filled = [f"{k}: {found.values[k]}" for k in ("model", "data", "loss", "optimizer") if k in found.values]
    todo = [f"{k}: TODO ({found.notes.get(k, 'not found')})" for k in ("model", "data", "loss")
            if k not in found.values]
    return "\n".join(header) + "\n\n" + text, filled + todo


def _set_line(text: str, key: str, value: Any, note: str) -> str:
    """Make the template's (commented-out) line for `key` a live one with `value`."""
    from ..config.scaffold import _yaml_value

    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith((f"# {key}:", f"{key}:")):
            lines[i] = f"{key}: {_yaml_value(value)}  # {note}\n"
            break
    return "".join(lines)


def _todo_note(text: str, key: str, note: str) -> str:
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(f"{key}:") and "# TODO" in line:
            lines[i] = line.split("# TODO")[0] + f"# TODO: {note}\n"
            break
    return "".join(lines)


def write_from_run(path: str, script: str | None, module: str | None, args: list[str], force: bool = False):
    """Capture the script and write its config to `path`. Returns (path written, summary lines)."""
    from .api import capture

    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        path = os.path.join(path, "config.yaml")
    if os.path.exists(path) and not force:
        raise ScaffoldError(f"{path} already exists; use --force to overwrite it")
    captured = capture(script, module=module, args=args)
    text, summary = config_text(captured, path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path, summary
