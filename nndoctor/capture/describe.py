"""What capture says about what it found: the `captured:` lines on stderr and the report's `captured` key."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from . import adapters, ops
from .recorder import unwrap
from .records import Recording, RootCall

if TYPE_CHECKING:
    from .build import Captured


def describe(captured: "Captured", first: RootCall, decoys: list[nn.Module], weights: str, data_how: str) -> None:
    """Fill `captured.parts` and `captured.notes`."""
    from .build import ended_text

    rec, run, parts = captured.recording, captured.run, captured.parts
    parts["stopped"] = (f"{ended_text(run)}; {len(rec.steps)} optimizer step(s), {len(rec.backwards)} backward "
                        "pass(es) seen")
    parts["steps"], parts["backwards"], parts["seconds"] = len(rec.steps), len(rec.backwards), round(run.seconds, 3)
    parts["model"] = _model_text(captured, first, weights)
    parts["optimizer"] = f"{captured.subject.optimizer_desc} built at {_site(rec, captured.optimizer)}"
    parts["loss"] = _loss_text(captured)
    parts["data"] = _data_text(captured, data_how)
    parts["batch"] = structure(first_batch(captured))
    val = captured.subject.val_data
    if val is not None:
        loader = getattr(val, "loader", val)
        parts["val_data"] = (f"{type(loader).__name__} built at {_site(rec, loader)}, {_batch_size(loader)} per batch: "
                             "the model was given its batches without autograd")
    parts["loop"] = loop_order(rec, captured.optimizer)
    _notes(captured, decoys)


def _site(rec: Recording, obj: Any) -> str:
    site = rec.site_of(obj)
    return str(site) if site else "an unknown line"


def _model_text(captured: "Captured", first: RootCall, weights: str) -> str:
    model = captured.model
    n = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    text = f"{type(model).__name__} built at {_site(captured.recording, model)}, {n:,} parameters"
    if trainable != n:
        text += f" ({trainable:,} trainable)"
    text += f", {weights}"
    if first.module is not model:
        text += f"; called through {type(first.module).__name__}"
    if first.site:
        text += f"; called at {first.site}"
    return text


def _loss_text(captured: "Captured") -> str:
    call = captured.loss_call
    loss = captured.subject.loss
    if isinstance(call.fn, nn.Module):
        seen = adapters.describe_module_loss(call.fn)
    else:
        bound = adapters.bound_arguments(call.fn, call.args, call.kwargs)
        seen = adapters.describe_call(call.fn, (), call.kwargs if bound is None else bound)
    key = captured.subject.outputs
    where = "the model's output" + (f"[{key!r}]" if key else "") + ops.describe(call.input_origin.chain)
    text = f"{seen} called at {call.site or 'an unknown line'} on {where}"
    if isinstance(loss, nn.Module) and not isinstance(call.fn, nn.Module):
        text += f" (checked as nn.{adapters.describe_module_loss(loss)})"
    covering = [b for b in captured.recording.backwards if call.index in b.losses]
    if covering and covering[0].is_loss != call.index:
        scale = covering[0].scale
        if scale is None or len(covering[0].losses) > 1:
            text += "; backward() is called on a tensor computed from it (with other terms, or scaled)"
        elif abs(scale - 1) > 1e-6:
            text += f"; backward() is called on the loss x {scale:.4g}"
    return text


def _data_text(captured: "Captured", how: str) -> str:
    data = captured.subject.data
    loader = getattr(data, "loader", data)
    if isinstance(loader, torch.utils.data.DataLoader):
        sampler = loader.sampler
        inner = getattr(getattr(loader, "batch_sampler", None), "sampler", None)
        if inner is not None and inner is not sampler:  # a batch sampler of its own (Hugging Face's loaders)
            sampler = inner
        order = "shuffled" if isinstance(sampler, torch.utils.data.RandomSampler) else \
            "in order" if isinstance(sampler, torch.utils.data.SequentialSampler) else "its own order"
        return (f"{type(loader).__name__} built at {_site(captured.recording, loader)}: {type(sampler).__name__} "
                f"({order}), batch_size {_batch_size(loader)}, {len(loader.dataset) if _sized(loader.dataset) else '?'}"
                f" samples; {how}")
    return how


def _batch_size(loader: Any) -> Any:
    return loader.batch_size if loader.batch_size is not None else \
        getattr(getattr(loader, "batch_sampler", None), "batch_size", "?")


def _sized(obj: Any) -> bool:
    try:
        len(obj)
    except TypeError:
        return False
    return True


def first_batch(captured: "Captured") -> Any:
    origin = captured.loss_call.target_origin
    rec = captured.recording
    if origin is not None and origin.kind == "batch":
        return rec.batches[origin.index].batch
    return captured.subject.data[0] if isinstance(captured.subject.data, list) and captured.subject.data else None


def structure(obj: Any, depth: int = 0) -> str:
    """`tuple(float32[32, 8], int64[32])`: a batch's structure, briefly."""
    if isinstance(obj, torch.Tensor):
        return f"{str(obj.dtype).replace('torch.', '')}{list(obj.shape)}"
    if depth > 2:
        return "..."
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k!r}: {structure(v, depth + 1)}" for k, v in list(obj.items())[:8]) + "}"
    if isinstance(obj, (tuple, list)):
        return f"{type(obj).__name__}(" + ", ".join(structure(v, depth + 1) for v in obj[:8]) + ")"
    return type(obj).__name__


def loop_order(rec: Recording, optimizer: torch.optim.Optimizer, shown: int = 3) -> str:
    """`zero_grad -> forward -> loss -> backward -> step, the same in steps 1-3`, or one line per step. An
    iteration ends at a step (at a backward in a loop that never steps)."""
    end = "step" if rec.steps else "backward"
    iterations: list[list[str]] = [[]]
    for e in sorted(rec.events, key=lambda e: e.seq):
        iterations[-1].append(e.kind)
        if e.kind == end:
            iterations.append([])
    iterations = [it for it in iterations if it and end in it][:shown]
    if not iterations:
        return ""
    name = "steps" if rec.steps else "iterations"
    texts = [" -> ".join(it) for it in iterations]
    if len(set(texts)) == 1:
        return texts[0] + (f", the same in {name} 1-{len(texts)}" if len(texts) > 1 else "")
    return "; ".join(f"{name[:-1]} {i + 1}: {t}" for i, t in enumerate(texts))


def _notes(captured: "Captured", decoys: list[nn.Module]) -> None:
    rec, run, notes = captured.recording, captured.run, captured.notes
    for m in decoys:
        notes.append(f"{type(m).__name__} (built at {_site(rec, m)}) is called too, and not diagnosed: the optimizer "
                     "holds none of its parameters (a frozen teacher, an EMA copy)")
    others = [o for o in rec.optimizers if o is not captured.optimizer and rec.step_count(o)]
    for o in others:
        notes.append(f"another optimizer, {type(o).__name__} (built at {_site(rec, o)}), is stepped too; the checks "
                     f"use {type(captured.optimizer).__name__}")
    held = {id(p) for g in captured.optimizer.param_groups for p in g["params"]}
    outside = held - {id(p) for p in captured.model.parameters()}
    if outside:
        notes.append(f"the optimizer also holds {len(outside)} parameter tensor(s) outside "
                     f"{type(captured.model).__name__}; the checks train the model alone")
    if any("initial_lr" in s for s, _ in rec.first_groups.get(id(captured.optimizer), [])):
        notes.append("a learning-rate scheduler is attached: the checks use its initial_lr, without the schedule")
    if run.failed:
        from .build import ended_text

        when = "then " if rec.steps else "before its first optimizer step "
        notes.append(f"the script {when}{ended_text(run)}")
    for err in rec.hook_errors:
        notes.append(f"nndoctor stopped recording after an error of its own: {err}")


def seen_summary(rec: Recording) -> str:
    """What the hooks saw, for an error that says what was missing."""
    modules = list(dict.fromkeys(type(unwrap(c.module)).__name__ for c in rec.roots))
    loaders = [type(ld).__name__ for ld in rec.loaders]
    losses = list(dict.fromkeys(adapters.describe_call(c.fn) for c in rec.losses))
    parts = [f"{len(rec.roots)} model call(s)" + (f" ({', '.join(modules[:4])})" if modules else ""),
             f"{len(rec.losses)} loss call(s)" + (f" ({', '.join(losses[:4])})" if losses else ""),
             f"{len(rec.backwards)} backward()", f"{len(rec.steps)} optimizer step(s)",
             f"{len(rec.optimizers)} optimizer(s) built", f"{len(loaders)} DataLoader(s) iterated"]
    return ", ".join(parts)
