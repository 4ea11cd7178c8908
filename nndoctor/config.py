"""The run config (contract: ../shared/spec/config.md): read, validate, resolve `module:attr`, build objects.

Every problem ends as a `ConfigError`: one line naming the file, the line, the key and the fix, never a
traceback. YAML is read with the safe loader only.
"""
from __future__ import annotations

import difflib
import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from .basics import TASKS, exception_line, user_frame

if TYPE_CHECKING:  # torch is imported only when the config is built
    from .context import Subject

KEYS = (
    "model", "model_kwargs", "data", "data_kwargs", "val_data", "val_data_kwargs", "loss", "loss_kwargs",
    "optimizer", "optimizer_kwargs", "task", "num_classes", "batch", "train_step", "outputs", "pythonpath",
    "device", "seed", "checks", "max_batches",
)
REQUIRED = ("model", "data", "loss")
MAPPINGS = ("model_kwargs", "data_kwargs", "val_data_kwargs", "loss_kwargs", "optimizer_kwargs", "batch", "checks")
DEFAULT_MAX_BATCHES = 8  # batches read from each loader; the run's cost does not grow with the dataset


class ConfigError(Exception):
    """A usage or config problem: exit 2 with this one line."""

    def __init__(self, path: str | None, line: int | None, key: str | None, message: str) -> None:
        parts = []
        if path:
            parts.append(f"{path}:{line}" if line else path)
        if key:
            parts.append(f"key '{key}'")
        super().__init__(": ".join(parts + [message]))


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


@dataclass
class RunConfig:
    path: str | None
    values: dict
    lines: dict = field(default_factory=dict)  # top-level key -> line number
    option_lines: dict = field(default_factory=dict)  # (check, option) -> line

    @property
    def folder(self) -> str:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else os.getcwd()

    def error(self, key: str | None, message: str) -> ConfigError:
        return ConfigError(self.path, self.lines.get(key.split(".")[0]) if key else None, key, message)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def _node_lines(node) -> tuple[dict, dict]:
    lines: dict[str, int] = {}
    option_lines: dict = {}
    if not isinstance(node, yaml.MappingNode):
        return lines, option_lines
    for knode, vnode in node.value:
        if isinstance(knode, yaml.ScalarNode):
            lines[knode.value] = knode.start_mark.line + 1
            if knode.value == "checks" and isinstance(vnode, yaml.MappingNode):
                for ck, cv in vnode.value:
                    option_lines[(ck.value, None)] = ck.start_mark.line + 1
                    if isinstance(cv, yaml.MappingNode):
                        for ok, _ in cv.value:
                            option_lines[(ck.value, ok.value)] = ok.start_mark.line + 1
    return lines, option_lines


def load(path: str) -> RunConfig:
    """Read and validate the keys of a config file (nothing is imported yet)."""
    if not os.path.exists(path):
        raise ConfigError(path, None, None, "no such file; give the path of a YAML run config "
                          "(`nndoctor init` writes a template)")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, mark.line + 1 if mark else None, None,
                          f"invalid YAML: {problem}; check the indentation and quoting on that line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, None, f"cannot read the file: {exc}") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(path, 1, None, "the config must be a mapping of keys (model: ..., data: ..., loss: ...)")
    lines, option_lines = _node_lines(node)
    cfg = RunConfig(path=path, values=values, lines=lines, option_lines=option_lines)
    validate(cfg)
    return cfg


def from_dict(values: dict, path: str | None = None) -> RunConfig:
    cfg = RunConfig(path=path, values=dict(values))
    validate(cfg)
    return cfg


def validate(cfg: RunConfig) -> None:
    v = cfg.values
    for key in v:
        if key not in KEYS:
            raise cfg.error(key, f"unknown key{did_you_mean(key, KEYS) or '; valid keys: ' + ', '.join(KEYS)}")
    for key in REQUIRED:
        if key not in v or v[key] in (None, ""):
            raise ConfigError(cfg.path, None, key, f"missing required key; add `{key}: module:attr`")
    for key in ("model", "data", "loss", "optimizer", "val_data", "train_step"):
        if key in v and v[key] is not None:
            if not isinstance(v[key], str) or ":" not in v[key] or v[key].startswith(":") or v[key].endswith(":"):
                raise cfg.error(key, f"expected 'module:attr' (e.g. mypkg.models:Net), got {v[key]!r}")
    for key in MAPPINGS:
        if key in v and v[key] is not None and not isinstance(v[key], dict):
            raise cfg.error(key, f"expected a mapping (e.g. {key}: {{name: value}}), got {type(v[key]).__name__}")
    if "task" in v and v["task"] not in TASKS + ("auto",):
        raise cfg.error("task", f"must be one of {', '.join(TASKS + ('auto',))}{did_you_mean(v['task'], TASKS)}")
    if "num_classes" in v and not (isinstance(v["num_classes"], int) and v["num_classes"] >= 2):
        raise cfg.error("num_classes", "must be an integer of at least 2")
    if "seed" in v and not isinstance(v["seed"], int):
        raise cfg.error("seed", "must be an integer")
    if "max_batches" in v and not (isinstance(v["max_batches"], int) and v["max_batches"] >= 1):
        raise cfg.error("max_batches", "must be a positive integer")
    if "device" in v:
        validate_device(str(v["device"]), cfg)
    if "outputs" in v and not isinstance(v["outputs"], (str, int)):
        raise cfg.error("outputs", "must be an attribute or key name, e.g. logits")
    batch = v.get("batch") or {}
    for k in batch:
        if k not in ("inputs", "targets"):
            raise cfg.error("batch", f"unknown batch key '{k}'{did_you_mean(k, ('inputs', 'targets'))}")
    pp = v.get("pythonpath")
    if pp is not None and not (isinstance(pp, str) or (isinstance(pp, list) and all(isinstance(p, str) for p in pp))):
        raise cfg.error("pythonpath", "must be a folder or a list of folders, relative to the config file")
    validate_checks_section(cfg)


def validate_device(device: str, cfg: RunConfig | None = None) -> None:
    import torch

    ok = device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
    if not ok:
        msg = f"device must be cpu, cuda, cuda:N or auto, got {device!r}"
        raise cfg.error("device", msg) if cfg else ConfigError(None, None, "device", msg)
    if device.startswith("cuda") and not torch.cuda.is_available():
        msg = f"device {device!r} asked for but CUDA is not available here; use `device: auto` or `cpu`"
        raise cfg.error("device", msg) if cfg else ConfigError(None, None, "device", msg)


def validate_checks_section(cfg: RunConfig) -> None:
    from .registry import all_checks

    section = cfg.values.get("checks") or {}
    registry = all_checks()
    for name, value in section.items():
        line = cfg.option_lines.get((name, None), cfg.lines.get("checks"))
        if name in ("select", "ignore"):
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list):
                raise ConfigError(cfg.path, line, f"checks.{name}", "must be a list of codes, prefixes or check names")
            for item in items:
                check_selector(str(item), ConfigError(cfg.path, line, f"checks.{name}", ""))
            continue
        if name not in registry:
            raise ConfigError(cfg.path, line, f"checks.{name}", "no such check"
                              + (did_you_mean(name, list(registry) + ["select", "ignore"]) or
                                 "; `nndoctor checks` lists them"))
        if value is None:
            continue
        if not isinstance(value, dict):
            raise ConfigError(cfg.path, line, f"checks.{name}", "expected a mapping of options")
        known = registry[name].options
        for opt, val in value.items():
            oline = cfg.option_lines.get((name, opt), line)
            if opt not in known:
                raise ConfigError(cfg.path, oline, f"checks.{name}.{opt}", "unknown option"
                                  + (did_you_mean(opt, known) or f"; options: {', '.join(known) or 'none'}"))
            default = known[opt]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                if not isinstance(val, (int, float)) or isinstance(val, bool):
                    raise ConfigError(cfg.path, oline, f"checks.{name}.{opt}",
                                      f"expected a number (default {default}), got {val!r}")


def check_selector(item: str, err: ConfigError | None = None) -> str:
    """A --select/--ignore item: a code (ND201), a prefix (ND2, ND20) or a check name."""
    from .codes import CODES
    from .registry import all_checks

    up = item.upper()
    if up.startswith("ND") and any(c.startswith(up) for c in CODES):
        return up
    if item in all_checks():
        return item
    base = str(err).rstrip(": ") if err else "--select/--ignore"
    raise ConfigError(None, None, None, f"{base}: '{item}' is not a code, code prefix or check name"
                      + did_you_mean(item, list(CODES) + list(all_checks())))


# -- resolving module:attr -------------------------------------------------------------------------------------
def add_pythonpath(cfg: RunConfig) -> None:
    pp = cfg.values.get("pythonpath")
    folders = [pp] if isinstance(pp, str) else (pp or [])
    paths = [os.path.normpath(os.path.join(cfg.folder, p)) for p in folders] or [cfg.folder]
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)


def resolve(cfg: RunConfig, key: str) -> Any:
    ref = cfg.values[key]
    module_name, _, attr_path = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = (f"no module named '{exc.name}'" if exc.name else exception_line(exc))
        raise cfg.error(key, f"cannot import '{module_name}': {hint}; check the name and `pythonpath` "
                        f"(searched first: {cfg.values.get('pythonpath') or 'the config folder'})") from None
    except Exception as exc:
        raise cfg.error(key, f"importing '{module_name}' raised {exception_line(exc)} at {user_frame(exc)}") from None
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise cfg.error(key, f"'{module_name}' has no attribute '{attr_path}'{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    return obj


def _call(cfg: RunConfig, key: str, fn: Any, kwargs: dict, *args: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        raise cfg.error(key, f"calling {cfg.values[key]}(**{key}_kwargs) raised {exception_line(exc)} "
                        f"at {user_frame(exc)}") from None


def build(cfg: RunConfig) -> "Subject":
    """Import and call what the config names; every failure is a one-line ConfigError."""
    import torch
    from torch import nn

    from .context import Subject, optimizer_factory

    add_pythonpath(cfg)
    v = cfg.values
    model_fn = resolve(cfg, "model")
    model = model_fn if isinstance(model_fn, nn.Module) else _call(cfg, "model", model_fn, v.get("model_kwargs") or {})
    if not isinstance(model, nn.Module):
        raise cfg.error("model", f"{v['model']} returned a {type(model).__name__}, not an nn.Module")

    def data_of(key: str):
        obj = resolve(cfg, key)
        kwargs = v.get(f"{key}_kwargs") or {}
        if callable(obj) and not hasattr(obj, "__iter__"):
            obj = _call(cfg, key, obj, kwargs)
        elif kwargs:
            raise cfg.error(f"{key}_kwargs", f"{v[key]} is an iterable, not a callable: it takes no kwargs")
        if not hasattr(obj, "__iter__"):
            raise cfg.error(key, f"{v[key]} gave a {type(obj).__name__}, not an iterable of batches (a DataLoader)")
        return obj

    data = data_of("data")
    val_data = data_of("val_data") if v.get("val_data") else None

    loss_obj = resolve(cfg, "loss")
    if isinstance(loss_obj, type):
        loss = _call(cfg, "loss", loss_obj, v.get("loss_kwargs") or {})
    elif callable(loss_obj):
        if v.get("loss_kwargs"):
            import functools

            loss = functools.partial(loss_obj, **v["loss_kwargs"])
        else:
            loss = loss_obj
    else:
        raise cfg.error("loss", f"{v['loss']} is a {type(loss_obj).__name__}, not a loss class or function")

    if v.get("optimizer"):
        opt = resolve(cfg, "optimizer")
        if not callable(opt):
            raise cfg.error("optimizer", f"{v['optimizer']} is not an optimizer class or factory")
        desc = f"{v['optimizer']}({v.get('optimizer_kwargs') or {}})"
        kwargs = v.get("optimizer_kwargs") or {}
        factory = optimizer_factory(opt, kwargs)
        # Fail now, with the config line, rather than inside every check.
        try:
            probe = factory(model)
        except Exception as exc:
            raise cfg.error("optimizer", f"building it raised {exception_line(exc)}; check optimizer_kwargs") from None
        if not isinstance(probe, torch.optim.Optimizer):
            raise cfg.error("optimizer", f"{v['optimizer']} returned a {type(probe).__name__}, not an Optimizer")
        del probe
    else:
        if v.get("optimizer_kwargs"):
            kwargs = v["optimizer_kwargs"]
            factory = optimizer_factory(torch.optim.Adam, {"lr": 1e-3, **kwargs})
            desc = f"torch.optim:Adam({ {'lr': 1e-3, **kwargs} })"
        else:
            factory = optimizer_factory(None)
            desc = "torch.optim:Adam(lr=0.001)"

    train_step = None
    if v.get("train_step"):
        train_step = resolve(cfg, "train_step")
        if not callable(train_step) or isinstance(train_step, type):
            raise cfg.error("train_step", f"{v['train_step']} is not a function; it is called as "
                            "fn(model, batch, loss_fn, optimizer)")
        check_step_signature(cfg, train_step)
    return Subject(model=model, data=data, loss=loss, optimizer=factory, val_data=val_data,
                   task=v.get("task", "auto"), num_classes=v.get("num_classes"), batch_spec=v.get("batch") or {},
                   outputs=v.get("outputs"), train_step=train_step, optimizer_desc=desc)


def check_step_signature(cfg: RunConfig, fn: Any) -> None:
    """The user's `train_step` is called as fn(model, batch, loss_fn, optimizer): it must accept four arguments."""
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    try:
        sig.bind(None, None, None, None)
    except TypeError:
        raise cfg.error("train_step", f"{cfg.values['train_step']}{sig} cannot be called as "
                        "fn(model, batch, loss_fn, optimizer); give it these four parameters") from None
