"""Reading and validating a run config (the README's "The config" section is the contract, tested against
`nndoctor.config.schema`). Nothing is imported here: `nndoctor.config.build` does that.

Every problem ends as a `ConfigError`: one line naming the file, the line, the key and the fix, never a
traceback. YAML is read with the safe loader only, within bounds (`schema.MAX_BYTES`, `MAX_DEPTH`, `MAX_NODES`),
so that a wrong or hostile file fails in milliseconds; values echoed in an error are cut to `SHOW_CHARS`.
"""
from __future__ import annotations

import os
import reprlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..common import selection
from ..common.errors import did_you_mean
from ..common.options import Option
from .schema import (BATCH_KEYS, KEYS, LAYOUT_KEYS, MAPPINGS, MAX_BYTES, MAX_DEPTH, MAX_NODES, MODEL_LOSS,
                     OUTPUT_PARTS, REQUIRED, SEED_RANGE, SHOW_CHARS, TASKS)

MAX_MESSAGE = 600  # characters of a whole error line: a backstop, values are cut well before


def show(value: Any) -> str:
    """`value` as an error quotes it: its repr, on one line, at most SHOW_CHARS characters."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = SHOW_CHARS
    short.maxlist = short.maxdict = short.maxtuple = short.maxset = 6
    short.maxlevel = 3
    try:
        text = short.repr(value)
    except ValueError:  # an integer past Python's 4300-digit conversion limit
        return f"an integer of {value.bit_length()} bits"
    text = _one_line(text)
    return text if len(text) <= SHOW_CHARS else text[:SHOW_CHARS - 3] + "..."


def _one_line(text: str) -> str:
    """Characters that would break or hide the line (newlines, controls, bidi marks) escaped as \\n, \\x00, \\u202e."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


class ConfigError(Exception):
    """A usage or config problem: exit 2 with this one line."""

    def __init__(self, path: str | None, line: int | None, key: str | None, message: str) -> None:
        parts = []
        if path:
            parts.append(f"{path}:{line}" if line else path)
        if key:
            key = _one_line(str(key))
            parts.append(f"key '{key if len(key) <= SHOW_CHARS else key[:SHOW_CHARS - 3] + '...'}'")
        text = _one_line(": ".join(parts + [message]))
        super().__init__(text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "...")


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


# -- reading the file, within bounds --------------------------------------------------------------------------------
class _Refused(Exception):
    """A document past one of the bounds, at `mark`."""

    def __init__(self, mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, composing the node tree under three bounds: nesting depth, the number of values once
    aliases are expanded (counted, never expanded: an alias adds the size of the node it names), and duplicate
    keys in a mapping (YAML forbids them; PyYAML would keep the last one silently)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded
        self._open: list[int] = []  # values so far in each collection being composed, innermost last
        self._total = 0  # values in the document so far, aliases expanded

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise _Refused(event.start_mark, "this alias names a collection that contains it (a recursive "
                                                 "alias); a config cannot hold one")
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node), 1)
            self._count(size, event.start_mark)
        else:
            collection = isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent))
            if collection and len(self._open) >= MAX_DEPTH:
                raise _Refused(event.start_mark, f"mappings and lists nested more than {MAX_DEPTH} levels deep; a "
                                                 "run config needs a handful")
            self._count(1, event.start_mark)
            self._open.append(0)
            try:
                node = super().compose_node(parent, index)
            finally:
                size = 1 + self._open.pop()
            self._sizes[id(node)] = size
        if self._open:
            self._open[-1] += size
        return node

    def _count(self, values: int, mark) -> None:
        self._total += values
        if self._total > MAX_NODES:
            raise _Refused(mark, f"aliases expand the document past {MAX_NODES} values (a 'billion laughs'?); "
                                 "a run config holds a few dozen")

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        seen: dict[tuple, int] = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                name = (key.tag, key.value)
                if name in seen:
                    raise _Refused(key.start_mark, f"duplicate key {show(key.value)} (first on line {seen[name]}); "
                                                   "keep one")
                seen[name] = key.start_mark.line + 1
        return node

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, _Refused):
            raise
        except (ValueError, OverflowError) as exc:  # a date past the calendar, an integer of 5000 digits
            raise _Refused(node.start_mark, f"cannot read the value {show(node.value)}: "
                                            f"{str(exc).split(';')[0]}; quote it if it is text") from None
        except Exception:  # PyYAML's own constructors on odd input (`!!timestamp 'yesterday'` raises AttributeError)
            raise _Refused(node.start_mark, f"cannot read the value {show(node.value)} as "
                                            f"{node.tag.rsplit(':', 1)[-1]}; quote it if it is text") from None


def _read(path: str) -> str:
    """The file's text: at most MAX_BYTES of UTF-8."""
    try:
        exists = os.path.exists(path)
    except (TypeError, ValueError):  # a NUL byte in the name
        exists = False
    if not exists:
        raise ConfigError(path, None, None, "no such file; give the path of a YAML run config "
                          "(`nndoctor init` writes a template)")
    if os.path.isdir(path):
        raise ConfigError(path, None, None, "is a folder; give the path of a YAML run config file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)  # never more: the path may be a device or a huge file
    except OSError as exc:
        raise ConfigError(path, None, None, f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(path, None, None, f"the file is larger than {MAX_BYTES // 1024} KiB; a run config is a "
                          "few dozen lines of YAML (is this the right file?)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, None, f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                          "a run config is a YAML text file") from None


def _parse(path: str, text: str):
    """(the document's node tree, its values), or a ConfigError naming the line."""
    loader = None
    try:
        loader = _BoundedLoader(text)  # it reads the whole text first: a NUL or control byte fails here
        node = loader.get_single_node()
        values = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise ConfigError(path, exc.mark.line + 1, None, str(exc)) from None
    except yaml.reader.ReaderError as exc:  # no mark: the reader refuses the text before any token
        raise ConfigError(path, text.count("\n", 0, exc.position) + 1, None,
                          f"character #x{exc.character:04x} is not allowed in YAML; is this a binary file?") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, mark.line + 1 if mark else None, None,
                          f"invalid YAML: {problem}; check the indentation and quoting on that line") from None
    finally:
        if loader is not None:
            loader.dispose()
    return node, values


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
                    if not isinstance(ck, yaml.ScalarNode):
                        continue
                    option_lines[(ck.value, None)] = ck.start_mark.line + 1
                    if isinstance(cv, yaml.MappingNode):
                        for ok, _ in cv.value:
                            if isinstance(ok, yaml.ScalarNode):
                                option_lines[(ck.value, ok.value)] = ok.start_mark.line + 1
    return lines, option_lines


def _string_keys(path: str, node) -> None:
    """Every top-level key a name: `1: x`, `null: x` or `true: x` is a typo, not a key."""
    for knode, _ in node.value:
        if knode.tag != "tag:yaml.org,2002:str":
            raise ConfigError(path, knode.start_mark.line + 1, None,
                              f"the key {show(knode.value)} is not a name; config keys are names such as "
                              "model, data or loss (quote it if it is one)")


def load(path: str) -> RunConfig:
    """Read and validate the keys of a config file (nothing is imported yet)."""
    node, values = _parse(path, _read(path))
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(path, 1, None, "the config must be a mapping of keys (model: ..., data: ..., loss: ...)")
    if isinstance(node, yaml.MappingNode):
        _string_keys(path, node)
    lines, option_lines = _node_lines(node)
    cfg = RunConfig(path=path, values=values, lines=lines, option_lines=option_lines)
    validate(cfg)
    return cfg


def from_dict(values: dict, path: str | None = None) -> RunConfig:
    cfg = RunConfig(path=path, values=dict(values))
    validate(cfg)
    return cfg


def validate(cfg: RunConfig) -> None:
    """The keys (known names, the required ones), then each value, then the `checks:` section."""
    _validate_names(cfg)
    _validate_values(cfg)
    _validate_batch(cfg)
    v = cfg.values
    pp = v.get("pythonpath")
    if pp is not None and not (isinstance(pp, str) or (isinstance(pp, list) and all(isinstance(p, str) for p in pp))):
        raise cfg.error("pythonpath", "must be a folder or a list of folders, relative to the config file")
    validate_checks_section(cfg)


def _validate_batch(cfg: RunConfig) -> None:
    """`batch: {inputs: ..., targets: ...}`: inputs a position, a key or a list of them; targets one, or null."""
    v = cfg.values
    batch = v.get("batch") or {}
    for k in batch:
        if k not in BATCH_KEYS:
            raise cfg.error("batch", f"unknown batch key '{k}'{did_you_mean(k, BATCH_KEYS)}")
    _validate_layout(cfg, batch)
    inputs = batch.get("inputs")
    items = inputs if isinstance(inputs, list) else [inputs]
    if "inputs" in batch and not (items and all(isinstance(i, (int, str)) and not isinstance(i, bool) for i in items)):
        raise cfg.error("batch", "`inputs` must be a position, a key or a list of them "
                        f"(e.g. `batch: {{inputs: [0, 1], targets: 2}}`), got {inputs!r}")
    targets = batch.get("targets")
    if targets is not None and (not isinstance(targets, (int, str)) or isinstance(targets, bool)):
        raise cfg.error("batch", f"`targets` must be a position or a key (e.g. `targets: 2`), or null for none, "
                        f"got {targets!r}")
    problem = targets_arg_problem(batch.get("targets_arg"), v.get("loss"))
    if problem:
        raise cfg.error("batch", problem)


def targets_arg_problem(value: Any, loss: Any) -> str | None:
    """Why `batch: {targets_arg: ...}` cannot be (a keyword name or a position, for a model loss), or None."""
    if value is None:
        return None
    if not isinstance(value, (int, str)) or isinstance(value, bool):
        return f"`targets_arg` must be forward's keyword for the targets or a position (e.g. `targets_arg: labels`), " \
               f"got {show(value)}"
    if loss != MODEL_LOSS:
        return "`targets_arg` says where forward takes the targets of a model that computes its own loss: it needs " \
               "`loss: model`"
    return None


def outputs_problem(value: Any, loss: Any, given: bool = False) -> str | None:
    """Why `outputs` cannot be (a key, index or attribute name, or a mapping {logits: KEY, loss: KEY}), or None.
    `given`: the key is written in the config, where an empty value is a mistake (the API's default is None)."""
    def is_key(k: Any) -> bool:
        return isinstance(k, (str, int)) and not isinstance(k, bool)

    if (value is None and not given) or is_key(value):
        return None
    if not isinstance(value, dict):
        return "must be an attribute or key name, e.g. logits, or a mapping {logits: KEY, loss: KEY}"
    for part, key in value.items():
        if part not in OUTPUT_PARTS:
            return f"unknown part {show(part)}{did_you_mean(str(part), OUTPUT_PARTS)}; the mapping takes logits, loss"
        if not is_key(key):
            return f"`{part}` must be a key, index or attribute name of the model's return value, got {show(key)}"
    if "loss" in value and loss != MODEL_LOSS:
        return "`outputs: {loss: ...}` names the loss the model computes itself: it needs `loss: model`"
    return None


def _validate_layout(cfg: RunConfig, batch: dict) -> None:
    """`batch: {batch_axis: 1, time_axis: 0}`: small axis numbers of the inputs, different; `batch_axis: null` for
    unbatched sequences (one sample per batch)."""
    for k in LAYOUT_KEYS:
        value = batch.get(k)
        if k in batch and not (value is None or (_is_int(value) and 0 <= value <= 7)):
            raise cfg.error("batch", f"`{k}` must be an axis of the inputs, 0 to 7 (e.g. `batch: {{batch_axis: 1, "
                            f"time_axis: 0}}` for time-major (T, B) batches), got {show(value)}")
    if batch.get("batch_axis") is not None and batch.get("batch_axis") == batch.get("time_axis"):
        raise cfg.error("batch", f"`batch_axis` and `time_axis` are both {batch['batch_axis']}: they name two "
                        "different axes of the inputs (time-major (T, B): batch_axis 1, time_axis 0)")


def _validate_names(cfg: RunConfig) -> None:
    v = cfg.values
    for key in v:
        if not isinstance(key, str):
            raise ConfigError(cfg.path, None, None, f"the key {show(key)} is not a name; config keys are names such "
                              "as model, data or loss")
        if key not in KEYS:
            raise cfg.error(key, f"unknown key{did_you_mean(key, KEYS) or '; valid keys: ' + ', '.join(KEYS)}")
    for key in REQUIRED:
        if key not in v or v[key] in (None, ""):
            raise ConfigError(cfg.path, None, key, f"missing required key; add `{key}: module:attr`")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_values(cfg: RunConfig) -> None:
    v = cfg.values
    for key in ("model", "data", "loss", "optimizer", "val_data", "train_step", "wrap"):
        if key == "loss" and v.get(key) == MODEL_LOSS:  # `loss: model`: the model computes its own loss
            continue
        if key in v and v[key] is not None:
            if not isinstance(v[key], str) or ":" not in v[key] or v[key].startswith(":") or v[key].endswith(":"):
                raise cfg.error(key, f"expected 'module:attr' (e.g. mypkg.models:Net), got {show(v[key])}")
    for key in MAPPINGS:
        if key in v and v[key] is not None and not isinstance(v[key], dict):
            raise cfg.error(key, f"expected a mapping (e.g. {key}: {{name: value}}), got {type(v[key]).__name__}")
    if "task" in v and v["task"] not in TASKS + ("auto",):
        raise cfg.error("task", f"must be one of {', '.join(TASKS + ('auto',))}{did_you_mean(v['task'], TASKS)}")
    if "num_classes" in v and not (_is_int(v["num_classes"]) and v["num_classes"] >= 2):
        raise cfg.error("num_classes", "must be an integer of at least 2")
    if "seed" in v:
        problem = seed_problem(v["seed"])
        if problem:
            raise cfg.error("seed", problem)
    if "max_batches" in v and not (_is_int(v["max_batches"]) and v["max_batches"] >= 1):
        raise cfg.error("max_batches", "must be a positive integer")
    if "device" in v:
        validate_device(str(v["device"]) if isinstance(v["device"], str) else show(v["device"]), cfg)
    problem = outputs_problem(v["outputs"], v.get("loss"), given=True) if "outputs" in v else None
    if problem:
        raise cfg.error("outputs", problem)


def seed_problem(seed: Any) -> str | None:
    """Why `seed` cannot seed the run (torch.manual_seed takes 0 to 2**64 - 1), or None."""
    low, high = SEED_RANGE
    if _is_int(seed) and low <= seed <= high:
        return None
    return f"must be an integer from {low} to {high} (2**64 - 1, torch.manual_seed's range), got {show(seed)}"


def validate_seed(seed: Any) -> None:
    """`--seed` (or `run_config(seed=...)`): the same range as the config's `seed`."""
    problem = seed_problem(seed)
    if problem:
        raise ConfigError(None, None, None, f"--seed {problem}")


def validate_device(device: str, cfg: RunConfig | None = None) -> None:
    import torch

    ok = device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
    if not ok:
        msg = f"device must be cpu, cuda, cuda:N or auto, got {show(device)}"
        raise cfg.error("device", msg) if cfg else ConfigError(None, None, "device", msg)
    if device.startswith("cuda") and not torch.cuda.is_available():
        msg = f"device {show(device)} asked for but CUDA is not available here; use `device: auto` or `cpu`"
        raise cfg.error("device", msg) if cfg else ConfigError(None, None, "device", msg)


# -- the checks: section ------------------------------------------------------------------------------------------
def validate_checks_section(cfg: RunConfig) -> None:
    """`select`/`ignore` selectors, then per check name its options: known names, values in their declared range."""
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
        if not isinstance(name, str):
            raise ConfigError(cfg.path, line, "checks", f"{show(name)} is not a check name; `nndoctor checks` lists "
                              "them")
        if name not in registry:
            raise ConfigError(cfg.path, line, f"checks.{name}", "no such check"
                              + (did_you_mean(name, list(registry) + ["select", "ignore"]) or
                                 "; `nndoctor checks` lists them"))
        if value is None:
            continue
        if not isinstance(value, dict):
            raise ConfigError(cfg.path, line, f"checks.{name}", "expected a mapping of options")
        _validate_options(cfg, name, value, registry[name].declared_options(), line)


def _validate_options(cfg: RunConfig, name: str, given: dict, known: dict[str, Option], line: int | None) -> None:
    for opt, val in given.items():
        oline = cfg.option_lines.get((name, opt), line)
        if not isinstance(opt, str) or opt not in known:
            raise ConfigError(cfg.path, oline, f"checks.{name}.{opt}", "unknown option"
                              + (did_you_mean(opt, known) or f"; options: {', '.join(known) or 'none'}"))
        problem = option_problem(known[opt], val)
        if problem:
            raise ConfigError(cfg.path, oline, f"checks.{name}.{opt}", problem)


def allowed(option: Option) -> str:
    """The values `option` takes, in words; a tuple default (a band such as (0.5, 2.0)) takes a list as long."""
    if isinstance(option.default, tuple):
        each = Option(option.default[0], low=option.low, high=option.high).allowed() if option.default else ""
        order = " in increasing order" if _numeric_tuple(option.default) else ""
        return f"a list of {len(option.default)} values{order}, each {each}"
    return option.allowed()


def option_problem(option: Option, value: Any) -> str | None:
    """Why `value` is not allowed for `option`, or None: `Option.problem`'s verdict (and, for a tuple default, per
    item), with the value cut to SHOW_CHARS and a hint when YAML read a number as text."""
    if isinstance(option.default, tuple):
        ok = _tuple_ok(option, value)
    else:
        try:
            ok = option.problem(value) is None
        except (OverflowError, ValueError, TypeError):  # an integer too large for a float, an odd type
            ok = False
    if ok:
        return None
    hint = ""
    if isinstance(value, str) and option.kind in ("int", "float") and _number_text(value):
        hint = ("; YAML reads a number such as 1e-5 as text: write 1.0e-5 (a dot and a signed exponent)"
                if "e" in value.lower() else "; remove the quotes")
    default = list(option.default) if isinstance(option.default, tuple) else option.default
    return f"expected {allowed(option)} (default {show(default)}), got {show(value)}{hint}"


def _numeric_tuple(values) -> bool:
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values)


def _tuple_ok(option: Option, value: Any) -> bool:
    if not isinstance(value, (list, tuple)) or len(value) != len(option.default):
        return False
    try:
        items_ok = all(Option(d, low=option.low, high=option.high).problem(x) is None
                       for d, x in zip(option.default, value))
    except (OverflowError, ValueError, TypeError):
        return False
    if not items_ok:
        return False
    return not _numeric_tuple(option.default) or all(a <= b for a, b in zip(value, value[1:]))


def _number_text(text: str) -> bool:
    """'1e-4' and the like: numbers to a reader, strings to YAML 1.1 (PyYAML wants 1.0e-4)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_selector(item: str, err: ConfigError | None = None) -> str:
    """A --select/--ignore item: a code (ND201), a prefix (ND2, ND20) or a check name. Only the codes that a
    registered check emits count (and are suggested): the loss-curve codes ND6xx are `nndoctor curve`'s."""
    from ..engine.registry import all_checks

    base = str(err).rstrip(": ") if err else "--select/--ignore"
    if len(item) > SHOW_CHARS:  # no code or name is this long: say so without echoing all of it
        raise ConfigError(None, None, None, f"{base}: {show(item)} is not a code, code prefix or check name")
    checks = all_checks()
    codes = sorted({code for cls in checks.values() for code in cls.codes})
    try:
        return selection.normalise(item, codes, checks)
    except selection.SelectionError as exc:
        problem = str(exc)
        if item.upper().startswith("ND6"):
            problem = f"'{item}' is a loss-curve code: `nndoctor curve LOG` diagnoses those, no run check emits it"
        raise ConfigError(None, None, None, f"{base}: {problem}") from None


@dataclass
class RunSettings:
    """A config file read with the command line's overrides: what `nndoctor run` and every rank start from."""
    config: RunConfig
    select: list
    ignore: list
    seed: int
    options: dict


def run_settings(path: str, seed: int | None = None, device: str | None = None, select=(), ignore=()) -> RunSettings:
    """Load and validate `path`; `--seed` and `--device` are validated before anything is read, `--select` and
    `--ignore` join the file's `checks.select` / `checks.ignore`. Raises ConfigError (one line)."""
    if seed is not None:
        validate_seed(seed)  # --seed: the config's range, before anything is read
    cfg = load(path)
    if device is not None:
        validate_device(device)
    section = cfg.get("checks") or {}
    sel = [check_selector(str(s)) for s in list(select) + as_list(section.get("select"))]
    ign = [check_selector(str(s)) for s in list(ignore) + as_list(section.get("ignore"))]
    seed = seed if seed is not None else int(cfg.get("seed", 0))
    options = {k: v for k, v in section.items() if k not in ("select", "ignore")}
    return RunSettings(cfg, sel, ign, seed, options)


def as_list(value) -> list:
    """A selector's value as a list (one string, a list, or nothing)."""
    return [value] if isinstance(value, str) else list(value or [])
