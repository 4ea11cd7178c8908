"""What capture records while the user's script runs: plain records that cross from the hooks (`recorder`) to
the code that builds the subject (`build`) and judges the loop (`loop`)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Site:
    """A line of the user's code: where an object was built or a call made."""

    file: str
    line: int
    func: str = ""  # the function the line is in (`<module>` at the top level)

    def __str__(self) -> str:
        path = os.path.abspath(self.file)
        rel = os.path.relpath(path)
        return f"{path if rel.startswith('..') else rel}:{self.line}"


@dataclass(frozen=True)
class Arguments:
    """The arguments an object was built with, when they are plain values (numbers, strings, tuples of those)."""

    args: tuple
    kwargs: dict


@dataclass(frozen=True)
class Origin:
    """Where a tensor came from: an output of a module call, or a batch of a loader, and the ops since.

    `path` is the place inside that structure (`(0,)` for the first element of a tuple batch, `("logits",)`, `()`
    for the value itself); `chain` the shape and type operations applied since (`ops.record`), which
    `adapters.replay` can apply again to a new output or batch."""

    kind: str  # "output" (of a RootCall), "batch" (of a BatchSeen), "inner" (of a module inside a forward)
    index: int  # which RootCall / BatchSeen
    path: tuple = ()
    chain: tuple = ()

    def then(self, op: tuple) -> "Origin":
        return Origin(self.kind, self.index, self.path, self.chain + (op,))


@dataclass
class RootCall:
    """One call of a module at the top of the module stack (the loop called it, not another module)."""

    index: int
    module: Any  # the nn.Module called
    seq: int  # position among all recorded events
    steps_before: int  # optimizer steps made before it
    training: bool  # the (unwrapped) module's `training` flag
    grad: bool  # autograd was on
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    origins: dict = field(default_factory=dict)  # "args.0" / "kwargs.k" -> Origin of that tensor input, when known
    constants: dict = field(default_factory=dict)  # "args.i" / "kwargs.k" -> an input that is not a tensor
    output: Any = None
    site: Site | None = None  # the line of the loop that called it


@dataclass
class LossCall:
    """A call of a loss: a loss module, a `torch.nn.functional` loss, or a module given another call's output."""

    index: int
    fn: Any  # the loss module, or the functional
    args: tuple
    kwargs: dict
    site: Site | None
    seq: int
    steps_before: int
    input_origin: Origin | None  # where its first argument came from
    target_origin: Origin | None  # where its second argument came from
    inside: int | None = None  # the RootCall index it ran inside (a loss computed in the model's forward)
    result: Any = None


@dataclass
class BatchSeen:
    """A batch a DataLoader yielded to the script."""

    index: int
    loader: Any
    batch: Any
    seq: int


@dataclass
class BackwardCall:
    """One backward() on a tensor: which loss calls its graph holds, and the gradients it found."""

    index: int
    seq: int
    steps_before: int  # optimizer steps (any optimizer) since the previous backward
    losses: list  # LossCall indices in the tensor's graph
    is_loss: int | None  # the LossCall whose result is the tensor itself
    leftover: dict  # id(optimizer) -> True when its parameters already held a non-zero gradient
    site: Site | None = None
    divided: int | None = None  # the LossCall whose result the tensor is, divided by something
    scale: float | None = None  # the tensor's value over its one loss call's (a loss scale, an accumulation)


@dataclass
class StepCall:
    """One optimizer.step()."""

    index: int
    seq: int
    optimizer: Any
    grad_norm: float  # of that optimizer's gradients at the step
    backwards_before: int  # backward() calls since that optimizer's previous step
    closure: bool  # step(closure): the backward runs inside the step


@dataclass
class LoopEvent:
    """One event of the user's loop, for the order of the first steps."""

    seq: int
    kind: str  # forward, loss, backward, zero_grad, clip, step
    label: str
    step: int  # optimizer steps made before it


@dataclass
class Recording:
    """Everything the hooks saw."""

    roots: list = field(default_factory=list)  # RootCall
    losses: list = field(default_factory=list)  # LossCall
    batches: list = field(default_factory=list)  # BatchSeen
    backwards: list = field(default_factory=list)  # BackwardCall
    steps: list = field(default_factory=list)  # StepCall
    events: list = field(default_factory=list)  # LoopEvent
    optimizers: list = field(default_factory=list)  # every Optimizer built, in order
    loaders: list = field(default_factory=list)  # every DataLoader iterated, in order
    snapshots: dict = field(default_factory=dict)  # id(module) -> its state_dict before its first forward
    first_groups: dict = field(default_factory=dict)  # id(optimizer) -> its param groups at its first step
    # id(object) -> (weakref, Site, its constructor's Arguments, the Arguments of the function that built it)
    sites: dict = field(default_factory=dict)
    generator_states: dict = field(default_factory=dict)  # id(loader) -> [(generator, state before its first batch)]
    hook_errors: list = field(default_factory=list)  # nndoctor's own errors inside a hook (recording stopped)

    def site_of(self, obj: Any) -> Site | None:
        entry = self.sites.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[1]

    def arguments_of(self, obj: Any, factory: bool = False) -> "Arguments | None":
        """The plain arguments `obj` was built with (or, with `factory`, those of the function that built it)."""
        entry = self.sites.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[3 if factory else 2]

    def step_count(self, optimizer: Any) -> int:
        return sum(1 for s in self.steps if s.optimizer is optimizer)
