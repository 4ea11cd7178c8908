"""Tensors that receive gradients but are not parameters of the model.

What it catches: layers kept in a plain Python list or dict (`self.blocks = [nn.Linear(...)]` instead of
`nn.ModuleList`), or a trainable tensor stored as a plain attribute (`self.scale = torch.randn(4,
requires_grad=True)` instead of `nn.Parameter`) or as a global. It walks the autograd graph of one loss back from
`loss.grad_fn` through `next_functions` to the `AccumulateGrad` nodes, whose `.variable` is each leaf tensor that
will receive a gradient, and keeps those that are not in `model.parameters()` (nor in the loss module's). Each is
named by the attribute that holds it when one can be found in the model's modules (`blocks[1].weight`).

Why it matters: `model.parameters()` does not see them, so the optimizer never updates them, `model.to(device)`
does not move them and `state_dict()` does not save them; they still take part in forward and get gradients,
which hides the problem while those layers stay at their random initialisation.

How to fix it: hold submodules in `nn.ModuleList` / `nn.ModuleDict`, wrap trainable tensors in `nn.Parameter`,
and keep non-trainable state in `self.register_buffer`; then build the optimizer from `model.parameters()`.

Healthy and silent: `nn.ModuleList`, tied weights (one parameter in two modules), buffers, frozen parameters.
A tensor the optimizer does update although it is not registered (the optimizer factory adds it by hand) is a
warning: the checkpoint (`state_dict()`) still leaves it out. A tensor made anew in every forward with
`requires_grad=True` is not state and is left alone.
"""
from __future__ import annotations

import torch
from torch import nn

from nndoctor import Check


def graph_leaves(loss: torch.Tensor) -> list[torch.Tensor]:
    """Every leaf tensor that a backward from `loss` would write a gradient into (AccumulateGrad nodes)."""
    leaves, seen, stack = {}, set(), [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        var = getattr(fn, "variable", None)
        if isinstance(var, torch.Tensor):
            leaves[id(var)] = var
        stack.extend(nxt for nxt, _ in fn.next_functions)
    return list(leaves.values())


def held_tensors(model: nn.Module, depth: int = 4) -> dict[int, tuple[str, str]]:
    """id -> (attribute path, what holds it) for tensors held outside the parameter registry: plain tensor
    attributes, plain lists, tuples and dicts of each module, and the modules kept in them (`blocks[0].weight`)."""
    names: dict[int, tuple[str, str]] = {}

    def visit(obj, path, holder, level):
        if isinstance(obj, torch.Tensor):
            names.setdefault(id(obj), (path, holder))
        elif isinstance(obj, nn.Module):
            for n, p in obj.named_parameters():
                names.setdefault(id(p), (f"{path}.{n}", holder))
        elif level < depth and isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                visit(v, f"{path}[{i}]", holder, level + 1)
        elif level < depth and isinstance(obj, dict):
            for k, v in obj.items():
                visit(v, f"{path}[{k!r}]", holder, level + 1)

    for mname, module in model.named_modules():
        for attr, value in vars(module).items():
            if attr in ("_parameters", "_buffers", "_modules"):
                continue
            path = f"{mname}.{attr}" if mname else attr
            if isinstance(value, torch.Tensor):
                visit(value, path, f"{path} (a plain tensor attribute)", 0)
            elif isinstance(value, (list, tuple, dict)):
                visit(value, path, f"{path} (a plain Python {type(value).__name__})", 0)
    return names


class UnregisteredParams(Check):
    """Leaf tensors in the loss's autograd graph that are not parameters of the model (plain lists, attributes)."""

    name = "unregistered-params"
    codes = ("ND410",)
    cost = "low"
    options = {}

    def run(self, ctx):
        model = ctx.new_model(train=True)
        loss_fn = ctx.new_loss()
        batch = ctx.batches(1)[0]
        registered = {id(p) for p in model.parameters()}
        if isinstance(loss_fn, nn.Module):
            registered |= {id(p) for p in loss_fn.parameters()}

        # -- measure: the leaves of two losses (a tensor made anew in each forward is not state) -------------
        found = []
        for _ in range(2):
            _, loss = ctx.forward_loss(model, batch, loss_fn)
            if not isinstance(loss, torch.Tensor) or loss.grad_fn is None:
                return
            found.append([t for t in graph_leaves(loss) if t.requires_grad and id(t) not in registered])
        persistent = {id(t) for t in found[1]}
        leaves = [t for t in found[0] if id(t) in persistent]
        if not leaves:
            return
        names = held_tensors(model)
        order = {k: i for i, k in enumerate(names)}
        leaves.sort(key=lambda t: order.get(id(t), len(order)))  # in the order the model holds them
        try:
            optimizer = ctx.new_optimizer(model)
            in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
        except ValueError:  # "optimizer got an empty parameter list": nothing is registered at all
            in_opt = set()

        # -- judge -------------------------------------------------------------------------------------------
        missed = [t for t in leaves if id(t) not in in_opt]
        saved_only = [t for t in leaves if id(t) in in_opt]
        for group, severity in ((missed, "error"), (saved_only, "warning")):
            if not group:
                continue
            labels = [names[id(t)][0] if id(t) in names else "an unnamed tensor (a global?)" for t in group]
            holders = list(dict.fromkeys(names[id(t)][1] for t in group if id(t) in names))
            shapes = [list(t.shape) for t in group]
            numel = sum(t.numel() for t in group)
            where = ", ".join(holders[:3]) if holders else labels[0]
            held = f" in {where}" if holders else ""
            listing = ""
            if len(group) <= 2:
                listing = ": " + ", ".join(f"{lab} {tuple(sh)}" for lab, sh in zip(labels, shapes))
            count = f"{len(group)} tensor{'s' if len(group) > 1 else ''} ({numel} values){held}"
            one = len(group) == 1
            gets, isnt, them = ("gets", "is not a model parameter", "it") if one else \
                ("get", "are not model parameters", "them")
            if severity == "error":
                title = f"{count} {gets} gradients but {isnt}, so no optimizer updates {them}{listing}"
            else:
                title = (f"{count} {'is' if one else 'are'} trained but not registered in the model, so "
                         f"state_dict() and model.to() leave {them} out{listing}")
            yield self.finding(
                "ND410", title,
                {"tensors": len(group), "values": numel, "names": labels[:8], "shapes": shapes[:8],
                 "model_params": sum(p.numel() for p in model.parameters()), "in_optimizer": severity != "error"},
                where=where, severity=severity,
                fix="Hold submodules in nn.ModuleList / nn.ModuleDict (not a Python list or dict) and trainable "
                "tensors in nn.Parameter; then build the optimizer from model.parameters().")
