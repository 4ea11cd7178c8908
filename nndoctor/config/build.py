"""Building what a run config names: `module:attr` resolved, factories called, the user's objects gathered in a
`Subject`. Every failure is a one-line `ConfigError` naming the key."""
from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from ..common.errors import did_you_mean, exception_line, user_frame
from .loader import RunConfig
from .schema import MODEL_LOSS

if TYPE_CHECKING:  # torch is imported only when the config is built
    from ..engine.subject import Subject


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
    except SystemExit as exc:  # argparse at import, or a script body that ends with sys.exit
        raise cfg.error(key, f"importing '{module_name}' {_exit_text(exc)}; nndoctor imports your module: guard "
                        "the script's code (argument parsing, training) with `if __name__ == '__main__':`") from None
    except Exception as exc:
        raise cfg.error(key, f"importing '{module_name}' raised {exception_line(exc)} at {user_frame(exc)}") from None
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise cfg.error(key, f"'{module_name}' has no attribute '{attr_path}'{did_you_mean(part, names)}")
        obj = getattr(obj, part)
    return obj


def _exit_text(exc: SystemExit) -> str:
    """'called sys.exit(2) at train.py:12 in <module>: args = parser.parse_args()'."""
    return f"called sys.exit({exc.code!r}) at {user_frame(exc)}"


def _call(cfg: RunConfig, key: str, fn: Any, kwargs: dict, *args: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except SystemExit as exc:
        raise cfg.error(key, f"calling {cfg.values[key]}(**{key}_kwargs) {_exit_text(exc)}; a factory must return "
                        "its object, not end the process") from None
    except Exception as exc:
        raise cfg.error(key, f"calling {cfg.values[key]}(**{key}_kwargs) raised {exception_line(exc)} "
                        f"at {user_frame(exc)}") from None


def build_model(cfg: RunConfig) -> Any:
    """The config's `model`: an nn.Module instance, or what its factory returns, that can be deep-copied."""
    from torch import nn

    from ..engine.subject import ModelCopyError, check_copyable

    model_fn = resolve(cfg, "model")
    kwargs = cfg.values.get("model_kwargs") or {}
    model = model_fn if isinstance(model_fn, nn.Module) else _call(cfg, "model", model_fn, kwargs)
    if not isinstance(model, nn.Module):
        raise cfg.error("model", f"{cfg.values['model']} returned a {type(model).__name__}, not an nn.Module")
    try:  # every check runs on a deep copy: a model that cannot be copied is a config-level error
        check_copyable(model)
    except ModelCopyError as exc:
        raise cfg.error("model", str(exc)) from None
    return model


def build(cfg: RunConfig) -> "Subject":
    """Import and call what the config names; every failure is a one-line ConfigError."""
    import torch

    from ..engine.subject import Subject, optimizer_factory

    add_pythonpath(cfg)
    v = cfg.values
    model = build_model(cfg)

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

    loss = build_loss(cfg)

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


def build_loss(cfg: RunConfig) -> Any:
    """The config's `loss`: a class instantiated with `loss_kwargs`, a function (partial with them), or for
    `loss: model` a ModelLoss (the model computes its own loss)."""
    from ..probes.losses import ModelLoss

    v = cfg.values
    if v.get("loss") == MODEL_LOSS:
        return ModelLoss()
    loss_obj = resolve(cfg, "loss")
    if isinstance(loss_obj, type):
        return _call(cfg, "loss", loss_obj, v.get("loss_kwargs") or {})
    if not callable(loss_obj):
        raise cfg.error("loss", f"{v['loss']} is a {type(loss_obj).__name__}, not a loss class or function")
    if v.get("loss_kwargs"):
        import functools

        return functools.partial(loss_obj, **v["loss_kwargs"])
    return loss_obj


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
