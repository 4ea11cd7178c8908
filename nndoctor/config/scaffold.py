"""`nndoctor init`: a commented config template, optionally filled in from the user's own module.

The template names every key of the config contract (../shared/spec/config.md) with a comment; the three
required keys (model, data, loss) are live, the optional ones are commented out, so the file runs as written
once the three names are the user's. `--from mypkg.train` imports that module (its top-level code runs, as
`python -c "import mypkg.train"` would) and looks for a model class or factory, a loader function, a loss, an
optimizer and a training step; what it cannot find stays a placeholder that fails with a one-line error.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDERS = {"model": "mypkg.models:Net", "data": "mypkg.data:train_loader", "loss": "torch.nn:CrossEntropyLoss"}
MODEL_FACTORY = re.compile(r"^(build|make|get|create|new)?_?(model|net|network)$"  # model, build_model, net...
                           r"|^(build|make|get|create)_\w*(model|net)$")  # build_resnet_model, make_tiny_net...
LOADER = re.compile(r"loader|batches|dataloader", re.I)
VAL = re.compile(r"(^|_)(val|valid|validation|eval|dev)(_|$)", re.I)
LOSS_FN = re.compile(r"^(loss|loss_fn|criterion|\w+_loss)$")
STEP_FN = re.compile(r"^(train_step|training_step|train_one_step|step)$")
SRC_LOSS = re.compile(r"\bnn\.(\w+Loss)\s*\(([^()]*)\)")
SRC_FLOSS = re.compile(r"\b(?:F|functional)\.(cross_entropy|nll_loss|mse_loss|l1_loss|binary_cross_entropy_with_logits|"
                       r"binary_cross_entropy|smooth_l1_loss|huber_loss)\s*\(")
SRC_OPT = re.compile(r"\boptim\.(\w+)\s*\(([^()]*(?:\([^()]*\)[^()]*)*)\)")


def literal_kwargs(args: str) -> tuple[dict, list[str]]:
    """The keyword arguments of a call's source text whose values are literals, and the names of the others."""
    try:
        call = ast.parse(f"f({args})", mode="eval").body
    except SyntaxError:
        return {}, []
    found, other = {}, []
    for kw in getattr(call, "keywords", []):
        if kw.arg is None:
            continue
        try:
            found[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            other.append(kw.arg)
    return found, other


class ScaffoldError(Exception):
    """A one-line usage problem (the module cannot be imported, a name is not module:attr)."""


@dataclass
class Found:
    """What `--from` found (or the command line gave): config values and notes for the comments."""

    values: dict = field(default_factory=dict)  # key -> value written live
    required: dict = field(default_factory=dict)  # "model"/"data" -> parameter names without defaults
    notes: dict = field(default_factory=dict)  # key -> a comment put on its line
    summary: list = field(default_factory=list)  # what init reports on stderr


# -- looking inside the user's module ----------------------------------------------------------------------------
def _required_params(fn: Any) -> list[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]


def _positional(fn: Any) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
        return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    except (TypeError, ValueError):
        return -1


def _defined_here(module, obj) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def _pick_model(module) -> tuple[str, Any] | None:
    from torch import nn
    from torch.nn.modules.loss import _Loss

    members = inspect.getmembers(module)
    factories = [(n, o) for n, o in members if inspect.isfunction(o) and _defined_here(module, o)
                 and (MODEL_FACTORY.match(n) or _returns_module(o))]
    if factories:
        return factories[0]
    classes = [(n, o) for n, o in members if inspect.isclass(o) and _defined_here(module, o)
               and issubclass(o, nn.Module) and not issubclass(o, _Loss) and not n.endswith("Loss")]
    if not classes:
        return None
    # The top-level model is the class no other class of the module builds: the others are its parts.
    sources = {n: _source(o) for n, o in classes}
    top = [(n, o) for n, o in classes if not any(re.search(rf"\b{n}\b", s) for m, s in sources.items() if m != n)]
    ranked = sorted(top or classes, key=lambda item: _line(item[1]))
    return ranked[-1]


def _returns_module(fn) -> bool:
    from torch import nn

    ann = inspect.signature(fn).return_annotation
    return inspect.isclass(ann) and issubclass(ann, nn.Module)


def _source(obj) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ""


def _line(obj) -> int:
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return 0


def _pick_data(module, val: bool) -> tuple[str, Any] | None:
    from torch.utils.data import DataLoader

    found = []
    for n, o in inspect.getmembers(module):
        if n.startswith("_") or bool(VAL.search(n)) != val:
            continue
        if isinstance(o, DataLoader) or (inspect.isfunction(o) and _defined_here(module, o) and LOADER.search(n)):
            found.append((("train" not in n.lower(), _line(o) if inspect.isfunction(o) else 0), n, o))
    return (sorted(found)[0][1], sorted(found)[0][2]) if found else None


def _pick_loss(module, source: str) -> tuple[str, dict, str | None]:
    """(value for `loss`, its literal kwargs, the call in the source for a comment); "" when nothing is found."""
    from torch import nn
    from torch.nn.modules.loss import _Loss

    for n, o in inspect.getmembers(module):
        if n.startswith("_"):
            continue
        if inspect.isclass(o) and _defined_here(module, o) and (issubclass(o, _Loss) or
                                                                (issubclass(o, nn.Module) and n.endswith("Loss"))):
            return f"{module.__name__}:{n}", {}, None
        if isinstance(o, nn.Module) and isinstance(o, _Loss):  # criterion = nn.CrossEntropyLoss()
            return f"{module.__name__}:{n}", {}, None
        if inspect.isfunction(o) and _defined_here(module, o) and LOSS_FN.match(n) and _positional(o) == 2:
            return f"{module.__name__}:{n}", {}, None
    calls = {(m.group(1), m.group(2).strip()) for m in SRC_LOSS.finditer(source) if hasattr(nn, m.group(1))}
    if len({c for c, _ in calls}) == 1:
        cls, args = sorted(calls)[0]
        kwargs, other = literal_kwargs(args) if len(calls) == 1 else ({}, [])
        return f"torch.nn:{cls}", kwargs, (f"found in {module.__name__}: nn.{cls}({args})" if args else None)
    funcs = {m.group(1) for m in SRC_FLOSS.finditer(source)}
    if len(funcs) == 1:
        return f"torch.nn.functional:{funcs.pop()}", {}, None
    return "", {}, None


def _pick_optimizer(module, source: str) -> tuple[str, dict, str | None]:
    import torch

    for n, o in inspect.getmembers(module):
        if inspect.isfunction(o) and _defined_here(module, o) and "optim" in n.lower() and _positional(o) >= 1 \
                and len(_required_params(o)) == 1:
            return f"{module.__name__}:{n}", {}, None
    calls = [(m.group(1), m.group(2)) for m in SRC_OPT.finditer(source)
             if inspect.isclass(getattr(torch.optim, m.group(1), None))
             and issubclass(getattr(torch.optim, m.group(1)), torch.optim.Optimizer)]
    if len({c for c, _ in calls}) == 1:
        cls, args = calls[0]
        kwargs, _ = literal_kwargs(args)
        return f"torch.optim:{cls}", kwargs, f"found in {module.__name__}: optim.{cls}({' '.join(args.split())})"
    return "", {}, None


def _pick_step(module) -> str:
    for n, o in inspect.getmembers(module):
        if inspect.isfunction(o) and _defined_here(module, o) and STEP_FN.match(n) and _positional(o) == 4:
            return f"{module.__name__}:{n}"
    return ""


def import_target(target: str) -> tuple[Any, str]:
    """Import `mypkg.train` or `path/to/train.py`; returns (module, the folder its import is rooted at)."""
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = os.path.abspath(target)
        if not os.path.isfile(path):
            raise ScaffoldError(f"--from {target}: no such file")
        root, name = os.path.dirname(path), os.path.splitext(os.path.basename(path))[0]
    else:
        root, name = os.getcwd(), target
    if root not in sys.path:
        sys.path.insert(0, root)
    from ..common.errors import exception_line, user_frame

    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ScaffoldError(f"--from {target}: cannot import '{name}': no module named '{exc.name}' "
                            f"(run `nndoctor init` from the folder your imports start from)") from None
    except BaseException as exc:  # SystemExit from a script without a __main__ guard, too
        raise ScaffoldError(f"--from {target}: importing '{name}' raised {exception_line(exc)} at "
                            f"{user_frame(exc)}") from None
    return module, root


def inspect_module(target: str) -> tuple[Found, str]:
    """Look for the model, data, loss, optimizer and training step in `target`; returns (found, import root)."""
    module, root = import_target(target)
    source = _source(module)
    found = Found()
    name = module.__name__
    model = _pick_model(module)
    if model:
        found.values["model"] = f"{name}:{model[0]}"
        found.required["model"] = _required_params(model[1])
    for key, val in (("data", False), ("val_data", True)):
        data = _pick_data(module, val)
        if data:
            found.values[key] = f"{name}:{data[0]}"
            if inspect.isfunction(data[1]):
                found.required[key] = _required_params(data[1])
    for key, (value, kwargs, call) in (("loss", _pick_loss(module, source)),
                                       ("optimizer", _pick_optimizer(module, source))):
        if value:
            found.values[key] = value
            if kwargs:
                found.values[f"{key}_kwargs"] = kwargs
            if call:
                found.notes[key] = call
    step = _pick_step(module)
    if step:
        found.values["train_step"] = step
    found.summary = [f"{k}: {_yaml_value(v)}" for k, v in found.values.items()]
    missing = [k for k in ("model", "data", "loss") if k not in found.values]
    if missing:
        found.summary.append(f"not found in {name}: {', '.join(missing)} (placeholders left: fill them in)")
    return found, root


# -- writing the template ------------------------------------------------------------------------------------------
def _yaml_value(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def _kwargs_line(key: str, required: list[str], example: str) -> str:
    if required:
        body = ", ".join(f"{p}: null" for p in required)
        return f"{key}: {{{body}}}  # TODO: required arguments, fill in their values"
    return f"# {key}: {example}"


def template(found: Found | None = None, pythonpath: str | None = None) -> str:
    """The commented config text: every key of the contract, required ones live, optional ones commented out."""
    found = found or Found()
    v, req, notes = found.values, found.required, found.notes

    def live(key: str) -> str:
        value = v.get(key) or PLACEHOLDERS[key]
        todo = "" if key in v else f"  # TODO: {'the loss you train with' if key == 'loss' else 'your own module:attr'}"
        note = f"  # {notes[key]}" if key in notes else ""
        return f"{key}: {value}{todo or note}"

    def optional(key: str, example: str) -> str:
        if key in v:
            note = f"  # {notes[key]}" if key in notes else ""
            return f"{key}: {_yaml_value(v[key])}{note}"
        return f"# {key}: {example}"

    opt_kwargs = optional("optimizer_kwargs", "{lr: 3.0e-4, weight_decay: 0.01}")
    loss_kwargs = optional("loss_kwargs", "{label_smoothing: 0.1}")
    val_kwargs = (_kwargs_line("val_data_kwargs", req.get("val_data", []), "{batch_size: 64}")
                  if "val_data" in v else "# val_data_kwargs: {batch_size: 64}")
    pp = (f"pythonpath: [{_yaml_value(pythonpath)}]  # where the names above import from" if pythonpath
          else "# pythonpath: [../src]")
    lines = f"""\
# nndoctor run config: `nndoctor run config.yaml` (add --quick for a few-second CI smoke step).
# Every name is `module:attr`, importable from `pythonpath` (default: this file's folder). Required keys are
# live below; optional ones are commented out: remove the `# ` to use one. `nndoctor checks` lists the
# checks, `nndoctor explain CODE` explains a finding.

# --- required --------------------------------------------------------------------------------------------------
# Your model: an nn.Module class or a factory returning one, called with model_kwargs.
{live("model")}
{_kwargs_line("model_kwargs", req.get("model", []), "{num_classes: 10}")}

# Your training data: a function returning an iterable of batches (usually a DataLoader), called with
# data_kwargs, or the name of such an iterable. Only the first max_batches batches are read.
{live("data")}
{_kwargs_line("data_kwargs", req.get("data", []), "{batch_size: 64}")}

# Your loss: a loss class (built with loss_kwargs), or a function called as loss(outputs, targets).
{live("loss")}
{loss_kwargs}

# --- optional --------------------------------------------------------------------------------------------------
# The optimizer you train with: an Optimizer class, called as cls(model.parameters(), **optimizer_kwargs), or a
# factory fn(model, **optimizer_kwargs). Default: Adam with lr 1e-3.
{optional("optimizer", "torch.optim:AdamW")}
{opt_kwargs}

# Validation data, the same form as `data`: enables the train/validation checks.
{optional("val_data", "mypkg.data:val_loader")}
{val_kwargs}

# Your own training step, fn(model, batch, loss_fn, optimizer) -> loss. Checks that train also run it, so loop
# bugs (no zero_grad, step never called, model left in eval mode) show up.
{optional("train_step", "mypkg.train:train_step")}

# The task: classification, binary, multilabel, regression, language-modeling or auto (inferred from the loss
# and the output and target shapes); num_classes overrides the inferred class count.
# task: auto
# num_classes: 10

# How to unpack one batch: the index (or dict key) of the inputs and of the targets. A dict of inputs is passed
# to the model as keyword arguments.
# batch: {{inputs: 0, targets: 1}}

# The attribute or key to take from the model's return value (e.g. a HuggingFace output's `logits`).
# outputs: logits

# Folders, relative to this file, put first on sys.path before importing (default: this file's folder).
{pp}

# cpu, cuda, cuda:N or auto (cuda when available).
# device: auto

# Seed for torch, numpy and random for the whole run (model init included).
# seed: 0

# Batches read from each loader: the run's cost does not grow with the dataset.
# max_batches: 8

# On several ranks (--nproc N, or under torchrun): a function wrap(model) -> model that wraps the model for data
# parallel training as your code does. Default: nndoctor wraps it in DistributedDataParallel.
# wrap: mypkg.train:wrap_ddp

# Which checks run, by code (ND201), code prefix (ND4) or check name, and per-check options by check name.
# checks:
#   ignore: [ND107]
#   input-sanity: {{warn_scale: 10.0}}
"""
    return lines


def write(path: str, force: bool = False, model: str | None = None, data: str | None = None,
          loss: str | None = None, optimizer: str | None = None, source: str | None = None) -> tuple[str, list[str]]:
    """Write the template to `path` (a file, or a folder for folder/config.yaml). Returns (path, summary lines)."""
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        path = os.path.join(path, "config.yaml")
    if os.path.exists(path) and not force:
        raise ScaffoldError(f"{path} already exists; use --force to overwrite it")
    for key, value in (("--model", model), ("--data", data), ("--loss", loss), ("--optimizer", optimizer)):
        if value is not None and (":" not in value or value.startswith(":") or value.endswith(":")):
            raise ScaffoldError(f"{key}: expected 'module:attr' (e.g. mypkg.models:Net), got {value!r}")
    found, root = (inspect_module(source) if source else (Found(), os.getcwd()))
    for key, value in (("model", model), ("data", data), ("loss", loss), ("optimizer", optimizer)):
        if value:  # the command line wins over what --from found
            found.values[key] = value
            found.notes.pop(key, None)
            found.required.pop(key, None)
            found.values.pop(f"{key}_kwargs", None)
    folder = os.path.dirname(os.path.abspath(path))
    rel = os.path.relpath(root, folder)
    text = template(found, pythonpath=None if rel == "." else rel.replace(os.sep, "/"))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path, found.summary


def _option_line(name: str, option) -> str:
    """`    name: default  # help [unit; allowed values]`, from the option's declaration."""
    from .loader import allowed

    value = list(option.default) if isinstance(option.default, tuple) else option.default
    facts = "; ".join(part for part in (option.unit, allowed(option)) if part)
    comment = " ".join(part for part in (option.help, f"[{facts}]") if part)
    return f"    {name}: {_yaml_value(value)}  # {comment}"


def options_reference() -> str:
    """Every registered check's options as declared (default, help, unit, allowed range), as a `checks:` section a
    config can hold (what `configs/checks.yaml` ships; `make configs` rewrites it)."""
    from ..engine.registry import all_checks

    out = ["# Every check's options: default, what it sets, then [unit; allowed values], as the `checks:` section of a",
           "# run config takes them: copy the lines you want to change into your config. Written by `make configs`",
           "# from the checks' Option declarations; `nndoctor checks` lists the checks, and each check's docstring",
           "# says what its options measure.",
           "checks:"]
    for name, cls in sorted(all_checks().items()):
        declared = cls.declared_options()
        out.append(f"  {name}:" + ("" if declared else " {}  # no options"))
        out += [_option_line(option, decl) for option, decl in declared.items()]
    return "\n".join(out) + "\n"
