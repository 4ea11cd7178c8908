"""From what the hooks recorded to the subject the checks run on, and its description.

- the model: among the modules the loop called with autograd on, the one whose parameters the stepped optimizer
  holds (a frozen teacher or an EMA copy is called too, but not trained); unwrapped from DistributedDataParallel,
  DataParallel and torch.compile; a copy with its weights as they were before its first forward;
- the loss: the loss call in the graph of a backward() whose first argument is that model's output (through the
  reshapes and casts the loop applied, which the loss applies again);
- the data: the loader whose batch the model was given, mapped as the loop mapped it (`adapters`);
- the optimizer: a factory of the same class and param-group settings as at its first step (with a learning rate
  scheduler, its `initial_lr`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..engine.subject import Subject, optimizer_factory
from . import adapters, ops
from .recorder import unwrap
from .records import LossCall, Origin, Recording, RootCall
from .script import CaptureError, ScriptRun

DIRECT_TARGET_KEYS = ("targets", "target", "labels", "label", "y")  # what `probes.batches.unpack` finds itself


@dataclass
class Captured:
    """The subject built from a script, where each part came from, and the records the loop check reads."""

    subject: Subject
    run: ScriptRun
    recording: Recording
    model: nn.Module  # the user's trained module (unwrapped), as the script left it
    optimizer: torch.optim.Optimizer
    loss_call: LossCall
    training_calls: list  # RootCall: the model's calls whose output went into a backward()
    device: str
    parts: dict = field(default_factory=dict)  # name -> description, for the report's `captured` key
    notes: list = field(default_factory=list)

    def lines(self) -> list[str]:
        """The `captured:` summary, one line per part."""
        head = f"captured: {self.run.target.display}: {self.parts['stopped']}"
        keys = ("model", "optimizer", "loss", "data", "val_data", "batch", "loop")
        out = [head] + [f"  {k}: {self.parts[k]}" for k in keys if self.parts.get(k)]
        return out + [f"  note: {n}" for n in self.notes]

    def to_dict(self) -> dict:
        return {"script": self.run.target.path, **({"module": self.run.target.module} if self.run.target.module
                                                   else {}),
                **{k: v for k, v in self.parts.items()}, "notes": list(self.notes)}


# -- the parts --------------------------------------------------------------------------------------------------
def trained_optimizer(rec: Recording) -> torch.optim.Optimizer | None:
    """The optimizer stepped most (the first built, when none was stepped)."""
    stepped = [s.optimizer for s in rec.steps]
    if stepped:
        return max(dict.fromkeys(stepped), key=lambda o: rec.step_count(o))
    return rec.optimizers[0] if rec.optimizers else None


def _held(optimizer: torch.optim.Optimizer) -> set[int]:
    return {id(p) for g in optimizer.param_groups for p in g["params"]}


def trained_model(rec: Recording, optimizer: torch.optim.Optimizer) -> tuple[nn.Module | None, list[nn.Module]]:
    """The module the loop called with autograd on whose parameters the optimizer holds most; and the others
    (decoys: a frozen teacher, an EMA copy)."""
    held = _held(optimizer)
    modules = list({id(unwrap(c.module)): unwrap(c.module) for c in rec.roots if c.grad}.values())
    scored = [(sum(id(p) in held for p in m.parameters()), m) for m in modules]
    scored = [(n, m) for n, m in scored if n > 0]
    if not scored:
        return None, modules
    best = max(scored, key=lambda s: s[0])[1]
    return best, [m for m in modules if m is not best]


def _calls_of(rec: Recording, model: nn.Module) -> set[int]:
    return {c.index for c in rec.roots if unwrap(c.module) is model}


def loss_calls_on(rec: Recording, model: nn.Module) -> list[LossCall]:
    """The loss calls that a backward() covered and whose first argument is the model's output, loop-level first."""
    calls = _calls_of(rec, model)
    on_model = [c for c in rec.losses if c.input_origin is not None and c.input_origin.kind == "output"
                and c.input_origin.index in calls]
    covered = {i for b in rec.backwards for i in b.losses}
    found = [c for c in on_model if c.index in covered]
    if not found and not rec.steps:  # the script raised in its first loss or backward: the call it made
        found = [c for c in on_model if c.inside is None]
    return sorted(found, key=lambda c: (c.inside is not None, c.index))


def training_calls(rec: Recording, loss_calls: list[LossCall]) -> list[RootCall]:
    """The model calls whose outputs went into those losses, in order."""
    indices = sorted({c.input_origin.index for c in loss_calls})
    return [rec.roots[i] for i in indices]


def outputs_key(origin: Origin) -> str | None:
    """The config's `outputs` key for where the loss's input sits in the model's return value."""
    if not origin.path:
        return None
    if len(origin.path) > 1:
        raise CaptureError(f"the loss takes the model's output at {list(origin.path)}: nested deeper than one key; "
                           "use a config with an `outputs` key and a loss function")
    return str(origin.path[0])


# -- the data -----------------------------------------------------------------------------------------------------
def _batch_of(rec: Recording, origins: list[Origin | None]) -> Any | None:
    """The loader the origins all come from (batches of one DataLoader), else None."""
    if not origins or any(o is None or o.kind != "batch" for o in origins):
        return None
    loaders = {id(rec.batches[o.index].loader): rec.batches[o.index].loader for o in origins}
    return next(iter(loaders.values())) if len(loaders) == 1 else None


def _direct_spec(raw: Any, slots: dict[str, Origin], target: Origin) -> dict | None:
    """The config's `batch` spec when the loop passes the batch's own elements unchanged, else None."""
    if any(o.chain or len(o.path) != 1 for o in (*slots.values(), target)):
        return None
    tkey = target.path[0]
    if isinstance(raw, (tuple, list)) and list(slots) == ["args.0"]:
        ikey = slots["args.0"].path[0]
        return {} if (ikey, tkey) == (0, 1) else {"inputs": ikey, "targets": tkey}
    if isinstance(raw, dict):
        if all(s.startswith("kwargs.") and o.path[0] == s.split(".", 1)[1] for s, o in slots.items()) \
                and set(raw) - {tkey} == {o.path[0] for o in slots.values()}:
            auto = next((k for k in DIRECT_TARGET_KEYS if k in raw), None)
            return {} if auto == tkey else {"targets": tkey}
        if list(slots) == ["args.0"]:
            return {"inputs": slots["args.0"].path[0], "targets": tkey}
    return None


def _recorded(calls: list[RootCall], losses: list[LossCall]) -> adapters.RecordedBatches:
    """The (inputs, targets) each training call of the model was given, with its loss call's targets."""
    by_call = {}
    for lc in losses:
        by_call.setdefault(lc.input_origin.index, lc)
    out = adapters.RecordedBatches()
    for c in calls:
        lc = by_call.get(c.index)
        if lc is None:
            continue
        target = lc.args[1] if len(lc.args) > 1 else lc.kwargs.get("target")
        if c.kwargs and not c.args:
            inputs: Any = {k: v for k, v in c.kwargs.items()
                           if not _same_element(c.origins.get(f"kwargs.{k}"), lc.target_origin) and v is not None}
        elif len(c.args) == 1 and not c.kwargs:
            inputs = c.args[0]
        elif not c.kwargs:
            inputs = tuple(c.args)
        else:
            continue
        out.append((inputs, target))
    return out


def data_for(rec: Recording, call: RootCall, target: Origin | None, calls: list[RootCall], losses: list[LossCall]):
    """(data, batch spec, description) for the model's training batches; `target` is where the loss's targets
    come from, with the operations the data applies."""
    # The targets, when the model is given them too (`model(**batch)` with `labels`), are the loss's only.
    slots = {s: o for s, o in call.origins.items() if not (s.startswith("kwargs.") and _same_element(o, target))}
    if not slots:  # an autoencoder: its input is its target
        slots = dict(call.origins)
    constants = {s: v for s, v in call.constants.items() if v is not None}  # a None argument is the default
    if call.args and call.kwargs:
        slots = {}  # positional and keyword inputs together: call_model takes one or the other
    loader = _batch_of(rec, list(slots.values()) + [target]) if slots else None
    if loader is not None:
        raw = rec.batches[target.index].batch
        spec = None if constants else _direct_spec(raw, slots, target)
        if spec is not None:
            return loader, spec, "as it is"
        inputs = [(s, o.path, o.chain) for s, o in slots.items()]
        adapted = adapters.AdaptedLoader(loader, inputs, (target.path, target.chain), constants)
        steps = [f"inputs {', '.join(_path_text(o) for o in slots.values())}", f"targets {_path_text(target)}"]
        return adapted, {}, "each batch mapped as the loop maps it: " + ", ".join(steps)
    recorded = _recorded(calls, losses)
    if not recorded:
        raise CaptureError("the data: the model's inputs and the loss's targets could not be read from the loop")
    return recorded, {}, (f"the {len(recorded)} batch(es) the loop gave the model (they are not a DataLoader's "
                          "batches, or the loop computes them from its batches)")


def _same_element(o: Origin | None, target: Origin | None) -> bool:
    """`o` is the batch element the targets are made from (the targets as they are, or shifted from it)."""
    return o is not None and target is not None and o.kind == target.kind == "batch" and o.path == target.path \
        and target.chain[:len(o.chain)] == o.chain


def _path_text(o: Origin) -> str:
    return "batch" + "".join(f"[{k!r}]" for k in o.path) + ops.describe(o.chain)


def validation_data(rec: Recording, model: nn.Module, data: Any) -> Any | None:
    """Another DataLoader whose batches the script gave the model without autograd before it stopped (a
    validation pass before training, Lightning's sanity check), mapped as the training batches are."""
    train = getattr(data, "loader", data)
    if not isinstance(train, torch.utils.data.DataLoader):
        return None
    for call in rec.roots:
        if call.grad or unwrap(call.module) is not model:
            continue
        origins = [o for o in call.origins.values() if o is not None and o.kind == "batch"]
        loaders = {id(rec.batches[o.index].loader): rec.batches[o.index].loader for o in origins}
        if len(loaders) == 1:
            loader = next(iter(loaders.values()))
            if loader is not train:
                rewind(rec, loader)
                if isinstance(data, adapters.AdaptedLoader):
                    return adapters.AdaptedLoader(loader, data.inputs, data.target, data.constants)
                return loader
    return None


def rewind(rec: Recording, loader: Any) -> None:
    """Put the loader's random generators back where they were before the script first iterated it, so that the
    checks draw the batches a freshly built loader would (the script is over: nothing of it runs on)."""
    for generator, state in rec.generator_states.get(id(loader), []):
        generator.set_state(state)


# -- the optimizer ----------------------------------------------------------------------------------------------------
def factory_for(rec: Recording, optimizer: torch.optim.Optimizer, model: nn.Module):
    """A factory of the optimizer as it was at its first step; `initial_lr` (set by a scheduler) for the learning
    rate. Returns (factory, description)."""
    groups = rec.first_groups.get(id(optimizer)) or [
        ({k: v for k, v in g.items() if k != "params"}, list(g["params"])) for g in optimizer.param_groups]
    settings = []
    for s, _ in groups:
        s = dict(s)
        if "initial_lr" in s:
            s["lr"] = s.pop("initial_lr")
        settings.append(s)
    # An instance of the user's class carrying only what optimizer_factory reads (its groups and defaults): a
    # real constructor call could have side effects; this one touches no parameter.
    template = object.__new__(type(optimizer))
    template.__dict__.update(defaults=optimizer.defaults,
                             param_groups=[{**s, "params": ps} for s, (_, ps) in zip(settings, groups)])
    factory = optimizer_factory(template, model=model)
    return factory, describe_optimizer(optimizer, settings)


def describe_optimizer(optimizer: torch.optim.Optimizer, settings: list[dict]) -> str:
    keys = ("lr", "momentum", "weight_decay", "betas", "eps", "nesterov")
    defaults = optimizer.defaults

    def text(s):
        return ", ".join(f"{k}={s[k]!r}" for k in keys if k in s and (k == "lr" or s[k] != defaults.get(k, s[k])
                                                                         or k in ("momentum", "weight_decay")))

    first = text(settings[0]) if settings else ""
    more = f"; {len(settings)} param groups" if len(settings) > 1 else ""
    return f"{type(optimizer).__name__}({first}){more}"


# -- putting it together ----------------------------------------------------------------------------------------------
def model_copy(model: nn.Module, rec: Recording) -> tuple[nn.Module, str]:
    """A copy of the model with the weights it had before its first forward (the checks start from there)."""
    try:
        out = copy.deepcopy(model)
    except Exception as exc:
        raise CaptureError(f"the model {type(model).__name__} cannot be copied ({type(exc).__name__}: {exc}); "
                           "nndoctor runs its checks on copies") from None
    entry = rec.snapshots.get(id(model))
    if entry is None or entry[0]() is not model:
        return out, "weights as the script left them (no snapshot before its first forward)"
    try:
        out.load_state_dict(entry[1])
    except Exception:
        return out, "weights as the script left them (its state before the first forward did not load back)"
    return out, "weights as before its first step"


def build(run: ScriptRun, rec: Recording) -> Captured:
    """The Subject of a captured script; a CaptureError saying what was and was not seen when one part is missing."""
    optimizer = trained_optimizer(rec)
    if optimizer is None:
        raise CaptureError(missing(run, rec, "an optimizer"))
    model, decoys = trained_model(rec, optimizer)
    if model is None:
        raise CaptureError(missing(run, rec, "a module called with autograd on whose parameters the optimizer "
                                   f"({type(optimizer).__name__}) holds"))
    losses = loss_calls_on(rec, model)
    if not losses:
        raise CaptureError(missing(run, rec, f"a loss call on the output of {type(model).__name__} inside a "
                                   "backward() (nndoctor follows loss modules and torch.nn.functional losses, and "
                                   "the reshapes and casts between them and the model)"))
    loss_call = losses[0]
    calls = training_calls(rec, [c for c in losses if c.fn is loss_call.fn])
    first = rec.roots[loss_call.input_origin.index]
    target = loss_call.target_origin
    data_chain, loss_target_chain = adapters.split_target_chain(target.chain if target else (),
                                                                loss_call.input_origin.chain)
    if target is not None and target.kind == "batch":
        target = Origin(target.kind, target.index, target.path, data_chain)
    else:
        loss_target_chain = ()  # recorded targets are already as the loss took them
    fn, kwargs, as_mean = _mean_of_sum(rec, loss_call)
    loss = adapters.loss_from_call(fn, loss_call.args, kwargs, loss_call.input_origin.chain, loss_target_chain)
    data, spec, data_how = data_for(rec, first, target, calls, losses)
    rewind(rec, getattr(data, "loader", data))
    val_data = validation_data(rec, model, data)
    factory, opt_text = factory_for(rec, optimizer, model)
    copy_, weights = model_copy(model, rec)
    param = next(model.parameters(), None)
    device = str(param.device) if param is not None else "cpu"
    subject = Subject(model=copy_, data=data, loss=loss, optimizer=factory, val_data=val_data, task="auto",
                      batch_spec=spec,
                      outputs=outputs_key(loss_call.input_origin), optimizer_desc=opt_text)
    captured = Captured(subject, run, rec, model, optimizer, loss_call, calls, device)
    from .describe import describe

    describe(captured, first, decoys, weights, data_how)
    if as_mean:
        captured.notes.append("backward() takes the summed loss divided by a count (of tokens): the checks use "
                              "its mean (reduction='mean')")
    return captured


def _mean_of_sum(rec: Recording, call: LossCall) -> tuple[Any, dict, bool]:
    """(loss, kwargs, True) with reduction 'mean' when the loop divides a summed loss by a count before
    backward() (Hugging Face models divide by the number of tokens in the batch); else the call's own."""
    if not any(b.divided == call.index for b in rec.backwards):
        return call.fn, call.kwargs, False
    if isinstance(call.fn, nn.Module):
        if getattr(call.fn, "reduction", None) != "sum":
            return call.fn, call.kwargs, False
        fn = copy.deepcopy(call.fn)
        fn.reduction = "mean"
        return fn, call.kwargs, True
    if (adapters.bound_arguments(call.fn, call.args, call.kwargs) or {}).get("reduction") != "sum" or \
            "reduction" not in call.kwargs:
        return call.fn, call.kwargs, False
    return call.fn, {**call.kwargs, "reduction": "mean"}, True


def missing(run: ScriptRun, rec: Recording, what: str) -> str:
    """`train.py ran ... and nndoctor did not see X; it saw: ...`."""
    from .describe import seen_summary

    return f"{run.target.display}: {ended_text(run)}, and nndoctor did not see {what}; it saw {seen_summary(rec)}"


def ended_text(run: ScriptRun) -> str:
    if run.outcome == "steps":
        return f"stopped after its first optimizer steps ({run.seconds:.1f} s)"
    if run.outcome == "observed":  # a DoctorCallback (nndoctor.integrations): the run goes on after
        return f"observed in its first optimizer steps ({run.seconds:.1f} s)"
    if run.outcome == "deadline":
        return f"stopped at the capture deadline of {run.seconds:.0f} s (--time-box)"
    if run.outcome == "no-step":
        return "stopped after backward passes with no optimizer step"
    if run.outcome == "raised":
        return f"raised {run.error} at {run.error_at}"
    if run.outcome == "exit":
        return f"exited with sys.exit({run.exit_code!r})"
    return f"ran to its end ({run.seconds:.1f} s)"
