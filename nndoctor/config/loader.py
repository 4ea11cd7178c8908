"""Reading and validating a run config (the README's "The config" section is the contract, tested against
`nndoctor.config.schema`). Nothing is imported here: `nndoctor.config.build` does that.

Every problem ends as a `ConfigError`: one line naming the file, the line, the key and the fix, never a
traceback. YAML is read with the safe loader only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..common import selection
from ..common.errors import did_you_mean
from .schema import KEYS, MAPPINGS, REQUIRED, TASKS

class ConfigError(Exception):
    """A usage or config problem: exit 2 with this one line."""

    def __init__(self, path: str | None, line: int | None, key: str | None, message: str) -> None:
        parts = []
        if path:
            parts.append(f"{path}:{line}" if line else path)
        if key:
            parts.append(f"key '{key}'")
        super().__init__(": ".join(parts + [message]))


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
    inputs = batch.get("inputs")
    items = inputs if isinstance(inputs, list) else [inputs]
    if "inputs" in batch and not (items and all(isinstance(i, (int, str)) and not isinstance(i, bool) for i in items)):
        raise cfg.error("batch", "`inputs` must be a position, a key or a list of them "
                        f"(e.g. `batch: {{inputs: [0, 1], targets: 2}}`), got {inputs!r}")
    targets = batch.get("targets")
    if targets is not None and (not isinstance(targets, (int, str)) or isinstance(targets, bool)):
        raise cfg.error("batch", f"`targets` must be a position or a key (e.g. `targets: 2`), or null for none, "
                        f"got {targets!r}")
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
    from ..engine.registry import all_checks

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
        known = registry[name].declared_options()
        for opt, val in value.items():
            oline = cfg.option_lines.get((name, opt), line)
            if opt not in known:
                raise ConfigError(cfg.path, oline, f"checks.{name}.{opt}", "unknown option"
                                  + (did_you_mean(opt, known) or f"; options: {', '.join(known) or 'none'}"))
            default = known[opt].default
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                if not isinstance(val, (int, float)) or isinstance(val, bool):
                    raise ConfigError(cfg.path, oline, f"checks.{name}.{opt}",
                                      f"expected a number (default {default}), got {val!r}")


def check_selector(item: str, err: ConfigError | None = None) -> str:
    """A --select/--ignore item: a code (ND201), a prefix (ND2, ND20) or a check name."""
    from ..catalogue import CODES
    from ..engine.registry import all_checks

    try:
        return selection.normalise(item, CODES, all_checks())
    except selection.SelectionError as exc:
        base = str(err).rstrip(": ") if err else "--select/--ignore"
        raise ConfigError(None, None, None, f"{base}: {exc}") from None
