"""The capture hooks: what the user's script does with torch, recorded without touching its code.

Installed for the time the script runs, and all removed before anything else happens (`Recorder.installed()`):
- PyTorch's global module hooks (`register_module_forward_pre_hook` / `register_module_forward_hook`): the calls
  of modules at the top of the module stack (the loop called them, no module did), their inputs and outputs;
  a snapshot of each trainable module's state before its first forward;
- PyTorch's global optimizer step hooks: every `optimizer.step()`, the gradients it is given, and its param
  groups at the first step; the post-hook stops the script once the step budget is spent;
- a `TorchFunctionMode`: `backward()`, the functional losses (`F.cross_entropy(...)`), and the reshapes and casts
  between the loader, the model and the loss (`ops.CHAIN_OPS`), to know where each tensor came from;
- wraps of `DataLoader.__iter__` and of its iterator's `__next__` (the loader and the batches it yields), of
  `zero_grad` (optimizer and module) and of gradient clipping (the order of the loop), and of the constructors
  of modules, optimizers and loaders (where each was built).

No hook ever raises into the user's code except `StopCapture`, the private BaseException that ends the script at
the step budget (or the deadline); an error of nndoctor's inside a hook stops the recording and is kept.
"""
from __future__ import annotations

import functools
import math
import sys
import threading
import weakref
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader
from torch.utils.data.dataloader import _BaseDataLoaderIter

from ..common.errors import is_user_file
from . import ops
from .records import (Arguments, BackwardCall, BatchSeen, LoopEvent, LossCall, Origin, Recording, RootCall, Site,
                      StepCall)

MAX_ROOT_CALLS = 256  # module calls whose inputs and outputs are kept (a validation pass before training is long)
MAX_LOSS_CALLS = 256
MAX_BATCHES = 64  # loader batches kept
GRAPH_NODES = 200_000  # autograd nodes walked to find which loss calls a backward() covers
PRUNE_AT = 4096  # tracked tensors before the dead ones are dropped
SCALINGS = ("DivBackward", "MulBackward", "CloneBackward", "AliasBackward")  # autograd nodes that only scale


class StopCapture(BaseException):
    """Ends the user's script: the step budget is spent, the deadline has passed, or the loop never steps.
    A BaseException, so that the script's own `except Exception` cannot swallow it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def unwrap(module: nn.Module) -> nn.Module:
    """The module a wrapper trains: DistributedDataParallel/DataParallel `.module`, torch.compile `_orig_mod`."""
    parallel = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    for _ in range(8):
        inner = getattr(module, "_orig_mod", None)
        if isinstance(inner, nn.Module):
            module = inner
        elif isinstance(module, parallel) and isinstance(getattr(module, "module", None), nn.Module):
            module = module.module
        else:
            break
    return module


_USER_FILES: dict[str, bool] = {}


def _is_user(filename: str) -> bool:
    if filename not in _USER_FILES:
        _USER_FILES[filename] = is_user_file(filename)
    return _USER_FILES[filename]


def user_site(frame=None) -> Site | None:
    """The innermost frame of the user's code on the stack (not nndoctor's, not torch's)."""
    f = frame or sys._getframe(1)
    while f is not None:
        if _is_user(f.f_code.co_filename):
            return Site(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


def _plain(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return len(value) < 16 and all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def plain_arguments(args: tuple, kwargs: dict) -> Arguments | None:
    """The constructor's arguments when all are plain values (what a config's `*_kwargs` can hold)."""
    if _plain(args) and _plain(tuple(kwargs.values())):
        return Arguments(tuple(args), dict(kwargs))
    return None


def construction_frame(obj: Any, frame):
    """The frame that built `obj`: the first user frame above the chain of its own `__init__`s."""
    f = frame
    while f is not None and f.f_code.co_name == "__init__" and f.f_locals.get("self") is obj:
        f = f.f_back
    while f is not None and not _is_user(f.f_code.co_filename):
        f = f.f_back
    return f


def _call_arguments(frame, first: int = 1) -> Arguments | None:
    """The arguments a frame's function was called with (its parameters' values, by name; from `first`: 1 skips
    an `__init__`'s self), when they are plain values."""
    code = frame.f_code
    names = code.co_varnames[first:code.co_argcount + code.co_kwonlyargcount]
    values = frame.f_locals
    kwargs = {n: values[n] for n in names if n in values}
    if code.co_flags & 0x04 and values.get(code.co_varnames[code.co_argcount + code.co_kwonlyargcount]):
        return None  # *args given (nn.Sequential's modules): not a config's kwargs
    if code.co_flags & 0x08:  # **kwargs
        extra = values.get(code.co_varnames[code.co_argcount + code.co_kwonlyargcount
                                            + (1 if code.co_flags & 0x04 else 0)], {})
        kwargs.update(extra if isinstance(extra, dict) else {})
    return plain_arguments((), kwargs)


def walk(obj: Any, path: tuple = (), depth: int = 0) -> Iterator[tuple[tuple, torch.Tensor]]:
    """(path, tensor) for every tensor in nested tuples, lists and dicts (a ModelOutput is a dict)."""
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif depth < 3 and isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk(v, path + (k,), depth + 1)
    elif depth < 3 and isinstance(obj, (tuple, list)):
        for i, v in enumerate(obj):
            yield from walk(v, path + (i,), depth + 1)


def _graph(root: Any, limit: int = GRAPH_NODES) -> set:
    """The autograd nodes reachable from `root` (a grad_fn), at most `limit`."""
    seen, todo = set(), [root]
    while todo and len(seen) < limit:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        todo.extend(n for n, _ in getattr(node, "next_functions", ()))
    return seen


def _guarded(fn):
    """A hook body: inert once recording stopped, or on another thread; nndoctor's own errors are kept, never
    raised into the script (StopCapture is the one exception that goes through)."""

    @functools.wraps(fn)
    def hook(self, *args, **kwargs):
        if torch.compiler.is_compiling():  # traced by torch.compile: the compiled module's wrapper is recorded
            return None
        if self.dead or threading.get_ident() != self.thread or self.busy:
            return None
        self.busy = True
        try:
            return fn(self, *args, **kwargs)
        except StopCapture:
            raise
        except Exception as exc:  # nndoctor's bug: stop recording, let the script run on to its stop
            self.dead = True
            self.rec.hook_errors.append(f"{fn.__name__}: {type(exc).__name__}: {exc}")
            return None
        finally:
            self.busy = False

    return hook


class _Mode(TorchFunctionMode):
    """Sees backward(), the functional losses and the chain operations; everything else passes through."""

    def __init__(self, recorder: "Recorder") -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        r = self.recorder
        if r.busy or r.dead:
            return func(*args, **kwargs)
        try:
            chain = func in ops.CHAIN_OPS
            loss = not chain and func in ops.LOSS_FUNCTIONS
        except TypeError:  # an unhashable callable
            return func(*args, **kwargs)
        if func in (torch.Tensor.backward, torch.autograd.backward):
            return r.on_backward(func, args, kwargs)
        call = r.on_loss_function(func, args, kwargs) if loss else None  # recorded first: it may raise
        out = func(*args, **kwargs)
        if chain:
            r.on_chain(func, args, kwargs, out)
        elif call is not None:
            call.result = out
        return out


class Recorder:
    """Records the script's model calls, losses, backward passes, optimizer steps and loader batches.

    `steps`: optimizer steps after which the script is stopped; `max_backwards`: backward passes with no optimizer
    step after which it is stopped (a loop that never steps)."""

    def __init__(self, steps: int = 3, max_backwards: int = 16) -> None:
        self.rec = Recording()
        self.steps = steps
        self.max_backwards = max_backwards
        self.stop_reason: str | None = None
        self.thread = threading.get_ident()
        self.dead = False
        self.busy = False
        self.seq = 0
        self._stack: list[nn.Module] = []  # modules in forward, outermost first
        self._open: list[RootCall | None] = []  # the RootCall of each module on the stack (None below the top)
        self._in_backward = False
        self._origins: dict[int, tuple[Any, Origin]] = {}  # id(tensor) -> (weakref, where it came from)
        self._iterators: dict[int, Any] = {}  # id(loader iterator) -> its DataLoader
        self._pending: list[LossCall] = []  # loss calls since the previous backward
        self._since_step: dict[int, int] = {}  # id(optimizer) -> backward() calls since its previous step
        self._steps_at_backward = 0  # optimizer steps made before the previous backward
        self._inner = 0  # tensors tracked as outputs of modules inside a forward
        self._prune_at = PRUNE_AT
        self._handles: list = []
        self._mode: _Mode | None = None
        self._patches = None

    # -- installing and removing ------------------------------------------------------------------------------
    @contextmanager
    def installed(self):
        """Every hook and wrap in place for the body, and all removed after it, whatever happens."""
        from torch.nn.modules import module as module_hooks
        from torch.optim import optimizer as optimizer_hooks

        from .patches import Patches

        self._patches = Patches()
        try:
            self._handles = [
                module_hooks.register_module_forward_pre_hook(self._pre_forward),
                module_hooks.register_module_forward_hook(self._post_forward, with_kwargs=True, always_call=True),
                optimizer_hooks.register_optimizer_step_pre_hook(self._pre_step),
                optimizer_hooks.register_optimizer_step_post_hook(self._post_step),
            ]
            self._wrap_torch(self._patches)
            self._mode = _Mode(self)
            self._mode.__enter__()
            yield self
        finally:
            self.remove()

    def remove(self) -> None:
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self._mode = None
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._patches is not None:
            self._patches.restore()
        self._origins.clear()
        self._iterators.clear()
        self._pending = []

    def _wrap_torch(self, patches) -> None:
        recorder = self

        def after(original, note):
            @functools.wraps(original)
            def wrapper(*args, **kwargs):
                out = original(*args, **kwargs)
                note(args, kwargs, out)
                return out
            return wrapper

        def before(original, note):
            @functools.wraps(original)
            def wrapper(this, *args, **kwargs):
                note(this, sys._getframe(1))
                return original(this, *args, **kwargs)
            return wrapper

        def built(original):
            @functools.wraps(original)
            def __init__(this, *args, **kwargs):
                recorder._built(this, sys._getframe(1))
                return original(this, *args, **kwargs)
            return __init__

        for cls in (nn.Module, torch.optim.Optimizer, DataLoader):
            patches.patch(cls, "__init__", built)
        patches.patch(DataLoader, "__iter__", lambda orig: after(before(orig, lambda ld, f: recorder._first_iter(ld)),
                                                                 lambda a, k, it: recorder._iterated(a[0], it)))
        patches.patch(_BaseDataLoaderIter, "__next__",
                      lambda orig: after(orig, lambda a, k, batch: recorder._yielded(a[0], batch)))
        patches.patch(torch.optim.Optimizer, "zero_grad",
                      lambda orig: after(orig, lambda a, k, _: recorder._event("zero_grad", "optimizer.zero_grad()")))
        patches.patch(nn.Module, "zero_grad",
                      lambda orig: after(orig, lambda a, k, _: recorder._event("zero_grad", "model.zero_grad()")))
        for name in ("clip_grad_norm_", "clip_grad_value_"):
            patches.patch(torch.nn.utils, name,
                          lambda orig, name=name: after(orig, lambda a, k, _: recorder._event("clip", name)))

    # -- small helpers ----------------------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _stop(self, reason: str) -> None:
        self.stop_reason = reason
        raise StopCapture(reason)

    def _recording_loop(self) -> bool:
        """The loop's order is kept for the first steps only (the budget, and one more for the last backward)."""
        return len(self.rec.steps) <= self.steps

    @_guarded
    def _event(self, kind: str, label: str) -> None:
        if self._recording_loop():
            self.rec.events.append(LoopEvent(self._next_seq(), kind, label, len(self.rec.steps)))

    def _track(self, t: torch.Tensor, origin: Origin) -> None:
        if len(self._origins) > self._prune_at:  # drop the dead; prune again once the live ones have doubled
            self._origins = {k: v for k, v in self._origins.items() if v[0]() is not None}
            self._prune_at = max(PRUNE_AT, 2 * len(self._origins))
        try:
            self._origins[id(t)] = (weakref.ref(t), origin)
        except TypeError:
            pass

    def origin(self, t: Any) -> Origin | None:
        entry = self._origins.get(id(t)) if isinstance(t, torch.Tensor) else None
        return entry[1] if entry is not None and entry[0]() is t else None

    # -- where things were built ------------------------------------------------------------------------------
    @_guarded
    def _built(self, obj: Any, frame) -> None:
        """`obj`'s constructor runs (Module.__init__ is the last of the chain a subclass calls): where, and with
        what arguments, the outermost `__init__` of the chain was called."""
        sites = self.rec.sites
        if id(obj) in sites and sites[id(obj)][0]() is obj:
            return
        outer = frame
        while outer.f_back is not None and outer.f_back.f_code.co_name == "__init__" and \
                outer.f_back.f_locals.get("self") is obj:
            outer = outer.f_back
        arguments = None
        if outer.f_code.co_name == "__init__" and outer.f_locals.get("self") is obj:
            arguments = _call_arguments(outer)
        at = construction_frame(obj, frame)
        site = Site(at.f_code.co_filename, at.f_lineno, at.f_code.co_name) if at is not None else None
        # The arguments of the function that built it (a loader factory's batch_size), for `init --from-run`.
        factory = _call_arguments(at, first=0) if at is not None and at.f_code.co_name != "<module>" else None
        try:
            sites[id(obj)] = (weakref.ref(obj), site, arguments, factory)
        except TypeError:
            return
        if isinstance(obj, torch.optim.Optimizer):
            self.rec.optimizers.append(obj)

    # -- the loader --------------------------------------------------------------------------------------------
    @_guarded
    def _first_iter(self, loader: DataLoader) -> None:
        """The state of the loader's random generators before the script first iterates it: the checks read its
        batches from there, as from a loader just built."""
        if id(loader) in self.rec.generator_states:
            return
        generators = {id(g): g for g in (getattr(loader, "generator", None),
                                         getattr(getattr(loader, "sampler", None), "generator", None))
                      if isinstance(g, torch.Generator)}
        self.rec.generator_states[id(loader)] = [(g, g.get_state()) for g in generators.values()]

    @_guarded
    def _iterated(self, loader: DataLoader, iterator: Any) -> None:
        self._iterators[id(iterator)] = loader
        if not any(ld is loader for ld in self.rec.loaders):
            self.rec.loaders.append(loader)

    @_guarded
    def _yielded(self, iterator: Any, batch: Any) -> None:
        loader = self._iterators.get(id(iterator))
        if loader is None or len(self.rec.batches) >= MAX_BATCHES:
            return
        seen = BatchSeen(len(self.rec.batches), loader, batch, self._next_seq())
        self.rec.batches.append(seen)
        for path, t in walk(batch):
            self._track(t, Origin("batch", seen.index, path))

    # -- module calls ------------------------------------------------------------------------------------------
    @_guarded
    def _pre_forward(self, module: nn.Module, args: tuple) -> None:
        if self.stop_reason:
            raise StopCapture(self.stop_reason)
        if self._in_backward:
            return
        call = None
        if not self._stack and not isinstance(module, nn.modules.loss._Loss):
            inner = unwrap(module)
            call = RootCall(len(self.rec.roots), module, self._next_seq(), len(self.rec.steps),
                            bool(inner.training), torch.is_grad_enabled())
            if len(self.rec.roots) < MAX_ROOT_CALLS:
                call.site = user_site()
                self.rec.roots.append(call)
            self._snapshot(inner)
            if call.grad and self._recording_loop():
                self.rec.events.append(LoopEvent(call.seq, "forward", f"{type(inner).__name__}(...)",
                                                 len(self.rec.steps)))
        self._stack.append(module)
        self._open.append(call)

    def _snapshot(self, inner: nn.Module) -> None:
        """The state of a trainable module before its first forward: the weights the checks start from."""
        if id(inner) in self.rec.snapshots or not any(p.requires_grad for p in inner.parameters()):
            return
        if any(nn.parameter.is_lazy(p) for p in inner.parameters()):
            return  # lazy modules get their weights in this forward: snapshot after it
        state = {k: v.detach().clone() for k, v in inner.state_dict().items()}
        self.rec.snapshots[id(inner)] = (weakref.ref(inner), state)

    @_guarded
    def _post_forward(self, module: nn.Module, args: tuple, *rest) -> None:
        if self._in_backward or not self._stack:
            return
        kwargs, output = rest if len(rest) == 2 else ({}, rest[0] if rest else None)  # (args, result) on an error
        while len(self._stack) > 1 and self._stack[-1] is not module:  # out of step after an exception
            self._stack.pop()
            self._open.pop()
        self._stack.pop()
        call = self._open.pop()
        if self._stack:
            self._inner_output(output)
            return
        if isinstance(module, nn.modules.loss._Loss):
            self._loss_call(module, args, kwargs, output)
            return
        if call is None:
            return
        self._snapshot(unwrap(module))  # a lazy module, now built
        call.args, call.kwargs, call.output = args, dict(kwargs), output
        for slot, value in [(f"args.{i}", a) for i, a in enumerate(args)] + [(f"kwargs.{k}", v)
                                                                            for k, v in kwargs.items()]:
            origin = self.origin(value)
            if isinstance(value, torch.Tensor) and (origin is not None or value.dim() > 0):
                call.origins[slot] = origin
            elif not isinstance(value, torch.Tensor):  # a flag
                call.constants[slot] = value
            # else: a number the loop computed, as a tensor (a trainer's token count for the loss): left out
        first = self.origin(args[0]) if args else None
        if first is not None and first.kind == "output":  # a module given another module's output: a criterion
            self._loss_call(module, args, kwargs, output)
        self._root_output(call, output)

    def _inner_output(self, output: Any) -> None:
        """Outputs of modules inside the model's forward: a loss computed there (a model that returns `.loss`)
        takes them, and the model returns some of them (`.logits`)."""
        if not self._recording_loop() or not isinstance(self._top_call(), RootCall):
            return
        for _, t in walk(output):
            if self.origin(t) is None:
                self._inner += 1
                self._track(t, Origin("inner", self._inner))

    def _root_output(self, call: RootCall, output: Any) -> None:
        """Track the model's outputs; a loss computed inside its forward on one of them now takes that output."""
        inner = {}
        for path, t in walk(output):
            o = self.origin(t)
            if o is not None and o.kind == "inner" and not o.chain:
                inner[o.index] = path
            self._track(t, Origin("output", call.index, path))
        for lc in self.rec.losses[::-1]:
            if lc.inside != call.index:
                break
            o = lc.input_origin
            if o is not None and o.kind == "inner" and o.index in inner:
                lc.input_origin = Origin("output", call.index, inner[o.index], o.chain)

    def _top_call(self) -> RootCall | None:
        return self._open[0] if self._open else None

    # -- losses and the tensors they take ----------------------------------------------------------------------
    def _loss_call(self, fn: Any, args: tuple, kwargs: dict, result: Any,
                   inside: int | None = None) -> LossCall | None:
        first = args[0] if args else kwargs.get("input")
        second = args[1] if len(args) > 1 else kwargs.get("target")
        if len(self.rec.losses) >= MAX_LOSS_CALLS or first is None:
            return None
        call = LossCall(len(self.rec.losses), fn, tuple(args), dict(kwargs), user_site(), self._next_seq(),
                        len(self.rec.steps), self.origin(first), self.origin(second), inside=inside, result=result)
        self.rec.losses.append(call)
        self._pending.append(call)
        if self._recording_loop() and inside is None:
            name = type(fn).__name__ if isinstance(fn, nn.Module) else f"F.{fn.__name__}"
            self.rec.events.append(LoopEvent(call.seq, "loss", f"{name}(...)", len(self.rec.steps)))
        return call

    @_guarded
    def on_loss_function(self, func: Any, args: tuple, kwargs: dict) -> LossCall | None:
        """A functional loss, before it runs (its result is filled in after)."""
        top = self._top_call()
        if self._stack and (top is None or isinstance(self._stack[0], nn.modules.loss._Loss)):
            return None  # inside a loss module: the module is the loss
        return self._loss_call(func, args, kwargs, None, inside=top.index if self._stack else None)

    @_guarded
    def on_chain(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        source = self.origin(args[0]) if args else None
        if source is None:
            return
        try:
            op = ops.record(func, args, kwargs, out)
        except ops.NotReplayable:
            return
        self._track(out, source if op is None else source.then(op))

    # -- backward ---------------------------------------------------------------------------------------------
    def on_backward(self, func: Any, args: tuple, kwargs: dict) -> Any:
        tensor = args[0] if args else kwargs.get("tensors")
        if isinstance(tensor, (tuple, list)):
            tensor = tensor[0] if tensor else None
        self._before_backward(tensor)
        self._in_backward = True
        try:
            out = func(*args, **kwargs)
        finally:
            self._in_backward = False
        self._after_backward()
        return out

    @_guarded
    def _before_backward(self, tensor: Any) -> None:
        node = getattr(tensor, "grad_fn", None)
        covered = [c for c in self._pending if c.result is tensor]
        rest = [c for c in self._pending if c.result is not tensor and isinstance(c.result, torch.Tensor)]
        if rest and node is not None:
            graph = _graph(node)
            covered += [c for c in rest if c.result.grad_fn in graph]
        steps_before = len(self.rec.steps) - self._steps_at_backward
        self._steps_at_backward = len(self.rec.steps)
        call = BackwardCall(len(self.rec.backwards), self._next_seq(), steps_before,
                            sorted(c.index for c in covered),
                            next((c.index for c in covered if c.result is tensor), None),
                            {id(o): self._has_gradient(o) for o in self.rec.optimizers}, user_site(),
                            divided=self._divided(node, covered), scale=self._scale(tensor, covered))
        self.rec.backwards.append(call)
        for c in self._pending:
            c.result = None  # the graph is the script's to free
        self._pending = []
        for o in self.rec.optimizers:
            self._since_step[id(o)] = self._since_step.get(id(o), 0) + 1
        if self._recording_loop():
            self.rec.events.append(LoopEvent(call.seq, "backward", "backward()", len(self.rec.steps)))

    @staticmethod
    def _scale(tensor: Any, covered: list[LossCall]) -> float | None:
        """backward()'s tensor over the one loss it covers, both scalars: 0.25 for a loss divided over an
        accumulation of 4, 65536 for a float16 loss scale."""
        if len(covered) != 1 or not isinstance(tensor, torch.Tensor) or tensor.numel() != 1:
            return None
        loss = covered[0].result
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or loss is tensor:
            return None
        value = float(loss.detach())
        return float(tensor.detach()) / value if value else None

    @staticmethod
    def _divided(node: Any, covered: list[LossCall]) -> int | None:
        """The loss call whose result the backward() tensor is, divided by something (a summed loss over the
        number of tokens: a mean)."""
        results = {c.result.grad_fn: c.index for c in covered if isinstance(c.result, torch.Tensor)}
        for _ in range(4):  # through a few scalings after the division (a trainer's loss * world size)
            if node is None or not node.name().startswith(SCALINGS):
                return None
            inputs = [n for n, _ in node.next_functions if n is not None]
            if node.name().startswith("DivBackward") and inputs and inputs[0] in results:
                return results[inputs[0]]
            node = inputs[0] if len(inputs) == 1 or node.name().startswith("DivBackward") else None
        return None

    @_guarded
    def _after_backward(self) -> None:
        if not self.rec.steps and len(self.rec.backwards) >= self.max_backwards:
            self._stop("no-step")

    @staticmethod
    def _has_gradient(optimizer: torch.optim.Optimizer) -> bool:
        for g in optimizer.param_groups:
            for p in g["params"]:
                if p.grad is not None and bool(p.grad.detach().ne(0).any()):
                    return True
        return False

    # -- optimizer steps ----------------------------------------------------------------------------------------
    @_guarded
    def _pre_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        if self.stop_reason:
            raise StopCapture(self.stop_reason)
        if not any(o is optimizer for o in self.rec.optimizers):
            self.rec.optimizers.append(optimizer)
        if id(optimizer) not in self.rec.first_groups:
            self.rec.first_groups[id(optimizer)] = [
                ({k: v for k, v in g.items() if k != "params"}, list(g["params"])) for g in optimizer.param_groups]
        sq = 0.0
        for g in optimizer.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    sq += float(p.grad.detach().double().pow(2).sum())
        closure = (len(args) > 1 and callable(args[1])) or callable(kwargs.get("closure"))
        step = StepCall(len(self.rec.steps), self._next_seq(), optimizer, math.sqrt(sq),
                        self._since_step.get(id(optimizer), 0), closure)
        if self._recording_loop() and not closure:
            self._step_event(optimizer)
        self.rec.steps.append(step)
        self._since_step[id(optimizer)] = 0

    def _step_event(self, optimizer: torch.optim.Optimizer) -> None:
        self.rec.events.append(LoopEvent(self._next_seq(), "step", f"{type(optimizer).__name__}.step()",
                                         len(self.rec.steps)))

    @_guarded
    def _post_step(self, optimizer: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        last = next((s for s in reversed(self.rec.steps) if s.optimizer is optimizer), None)
        if last is not None and last.closure and len(self.rec.steps) <= self.steps + 1:
            self._step_event(optimizer)  # step(closure) runs the forward and backward inside: it ends here
        if self.rec.step_count(optimizer) >= self.steps:
            self._stop("steps")

    # -- the deadline --------------------------------------------------------------------------------------------
    def deadline_passed(self) -> None:
        """Called from the alarm: stop the script where it is."""
        self._stop("deadline")
