"""Parameters by name and by the modules that hold them; finding's lists grouped by module.

    owners = param_owners(model)          # id(param) -> ["encoder.embed (Embedding)", "lm_head (Linear)"]
    group_by_module(names, model)         # {"encoder.proj (Linear)": ["weight", "bias"], ...}

A tied parameter (one tensor in two modules) has one name in `model.named_parameters()` and two owners here.
"""
from __future__ import annotations

import torch
from torch import nn

from .hooks import module_label


def param_owners(model: nn.Module) -> dict[int, list[str]]:
    """id(parameter) -> labels of the modules that hold it directly (two or more for tied weights)."""
    owners: dict[int, list[str]] = {}
    for mname, module in model.named_modules():
        for p in module.parameters(recurse=False):
            owners.setdefault(id(p), []).append(module_label(mname or type(module).__name__, module))
    return owners


def split_name(name: str) -> tuple[str, str]:
    """'encoder.proj.weight' -> ('encoder.proj', 'weight'); a root parameter has the module ''."""
    mod, _, leaf = name.rpartition(".")
    return mod, leaf


def group_by_module(names: list[str], model: nn.Module) -> dict[str, list[str]]:
    """Parameter names grouped under the label of the module that holds them, in the order given. A submodule
    whose parameters are all in `names` is one group, "all N" (the whole `encoder (Sequential)`)."""
    chosen = set(names)
    whole: dict[str, int] = {}  # module name -> parameter count, for submodules entirely in `names`
    for mname, m in model.named_modules():
        if not mname or any(mname.startswith(w + ".") for w in whole):
            continue
        own = [f"{mname}.{n}" for n, _ in m.named_parameters()]
        if len(own) > 1 and all(n in chosen for n in own) and list(m.children()):
            whole[mname] = len(own)
    modules = dict(model.named_modules())
    groups: dict[str, list[str]] = {}
    for name in names:
        top = next((w for w in whole if name.startswith(w + ".")), None)
        if top is not None:
            groups.setdefault(module_label(top, modules[top]), [f"all {whole[top]} parameters"])
            continue
        mod, leaf = split_name(name)
        m = modules.get(mod)
        label = module_label(mod or type(model).__name__, m) if m is not None else mod
        groups.setdefault(label, []).append(leaf)
    return groups


def describe_groups(groups: dict[str, list[str]], limit: int = 4) -> str:
    """'encoder.proj (Linear): weight, bias; head (Linear): weight' shortened to `limit` modules."""
    parts = [f"{label}: {', '.join(leaves)}" for label, leaves in list(groups.items())[:limit]]
    more = len(groups) - limit
    return "; ".join(parts) + (f"; and {more} more module(s)" if more > 0 else "")


# Optimizers whose update is the gradient divided by a running estimate of its own scale (Adam's sqrt(v), RMSprop's,
# Adagrad's sum of squares, Adadelta's ratio of RMS): a step of about lr per weight whatever the gradient's scale.
NORMALISING_OPTIMIZERS = ("Adam", "AdamW", "SparseAdam", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
                          "Adafactor")


def normalises_gradient(optimizer) -> bool:
    """Whether the optimizer divides the gradient by its own running scale, so that a loss multiplied by any
    constant (a `reduction='sum'`) leaves its updates as they are. SGD (with or without momentum), LBFGS and
    unknown optimizers are taken as applying the gradient's scale."""
    return any(cls.__name__ in NORMALISING_OPTIMIZERS for cls in type(optimizer).__mro__)


def nonfinite(t: torch.Tensor) -> int:
    """How many values of a floating tensor are NaN or Inf (0 for other dtypes)."""
    if not isinstance(t, torch.Tensor) or not (t.is_floating_point() or t.is_complex()):
        return 0
    return int((~torch.isfinite(t.detach())).sum())
