"""Where NaN and Inf are born: the first module whose forward output is non-finite while its inputs were finite,
and the first gradient that turns non-finite in backward.

    tracer = NonFiniteTracer(model)
    with tracer:                               # hooks on every module (execution order) and every parameter
        tracer.new_pass()                      # forget the last pass's forward event
        outputs = ctx.forward(model, x)
        loss = tracer.checked_loss(loss_fn)(outputs, y)   # the loss itself, when the outputs were finite
        loss.backward()
        tracer.end_backward()                  # reads the gradients of this backward, in the order they came
    tracer.forward                             # the first forward Event of the last pass, or None
    tracer.grad                                # the first gradient Event of any backward so far, or None

A forward event alone is not a fault: a module may write -inf on purpose (an attention mask before a softmax).
It matters when the value reaches the loss or the gradients, which the caller judges.

Forward: a hook after every module call (parents after their children, so the innermost module that produced the
value is named first) compares the module's inputs with its output. A module given non-finite inputs is never
blamed: the value was born upstream (or in the data). Backward: tensor hooks on each module's output and on
each parameter record the gradients in the order backward produces them: the loss broke it when the gradient of
the model's output is already non-finite; a module broke it when its parameters' gradient is non-finite while
its output's was finite; otherwise the ops that consume the first module output whose gradient broke did (sqrt
or log at 0, a division by zero). `locate_in_backward` replays one backward under anomaly mode to name the op and
the line of the user's forward that produced it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from .batches import tensors
from .hooks import module_label, on_forward
from .params import nonfinite


@dataclass
class Event:
    kind: str  # "forward" (a module's output), "loss" (the loss value) or "grad" (a parameter's gradient)
    where: str  # module label ("enc.3 (LogCompress)") or parameter name ("enc.0.weight")
    nonfinite: int  # how many values are NaN or Inf
    values: int  # how many values the tensor holds
    step: int = 0  # optimizer steps taken before it (set by the caller through `tracer.step`)
    batch: int = 0  # index of the batch (set by the caller through `tracer.batch`)
    detail: dict = field(default_factory=dict)


class NonFiniteTracer:
    def __init__(self, model: nn.Module, loss_name: str = "loss") -> None:
        self.model = model
        self.loss_name = loss_name
        self.root = type(model).__name__
        self.modules = {name or self.root: m for name, m in model.named_modules()}
        self.step = 0
        self.batch = 0
        self.forward: Event | None = None
        self.grad: Event | None = None
        self._grads: list[tuple[str, str, int, int]] = []  # (kind, name, non-finite, values) in backward order
        self._handles: list = []
        self._ctx = None

    def new_pass(self) -> None:
        """Forget the forward event of the previous pass (its non-finite values did not reach the loss)."""
        self.forward = None

    # -- hooks --------------------------------------------------------------------------------------------
    def __enter__(self) -> "NonFiniteTracer":
        self._ctx = on_forward(self.model, self._on_forward, all_modules=True)
        self._ctx.__enter__()
        for name, p in self.model.named_parameters():
            if p.requires_grad:
                self._handles.append(p.register_hook(self._recorder("param", name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._ctx.__exit__(*exc)

    def _recorder(self, kind: str, name: str) -> Callable:
        def hook(g):
            if isinstance(g, torch.Tensor):
                self._grads.append((kind, name, nonfinite(g), g.numel()))
        return hook

    def _on_forward(self, name: str, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        ins = [t for t in tensors(args) if t.is_floating_point()]
        if self.forward is None:
            bad = nonfinite(out)
            if bad and not any(nonfinite(t) for t in ins):
                params_bad = sum(nonfinite(p) for p in module.parameters())
                self.forward = Event(
                    "forward", module_label(name, module), bad, out.numel(), self.step, self.batch,
                    {"module_type": type(module).__name__,
                     "input_min": min((float(t.detach().min()) for t in ins if t.numel()), default=None),
                     "input_max_abs": max((float(t.detach().abs().max()) for t in ins if t.numel()), default=None),
                     "output_shape": list(out.shape), "nan": int(torch.isnan(out.detach()).sum()),
                     "parameters_non_finite": params_bad})
        if out.requires_grad:
            out.register_hook(self._recorder("output", name))

    # -- the loss -----------------------------------------------------------------------------------------
    def checked_loss(self, loss_fn: Callable) -> Callable:
        """`loss_fn` that also records an Event when the loss is non-finite while the outputs and targets are not."""
        def fn(outputs: Any, targets: Any):
            value = loss_fn(outputs, targets)
            if self.forward is None and isinstance(value, torch.Tensor) and nonfinite(value):
                given = tensors(outputs) + tensors(targets)
                if not any(nonfinite(t) for t in given):
                    outs = [t.detach() for t in tensors(outputs) if t.is_floating_point() and t.numel()]
                    self.forward = Event("loss", self.loss_name, nonfinite(value), value.numel(), self.step,
                                         self.batch, {"module_type": "loss",
                                                      "outputs_min": min((float(t.min()) for t in outs), default=None),
                                                      "outputs_max": max((float(t.max()) for t in outs), default=None)})
            return value
        return fn

    # -- backward -----------------------------------------------------------------------------------------
    def end_backward(self) -> None:
        """Read the gradients recorded during the last backward: the first non-finite parameter gradient, and the
        module (or the loss) where backward first produced a non-finite value."""
        grads, self._grads = self._grads, []
        if self.grad is not None:
            return
        first = next(((n, bad, size) for kind, n, bad, size in grads if kind == "param" and bad), None)
        if first is None:
            return
        name, bad, size = first
        # Where it broke: the gradient of the model's output (the loss's backward), a module whose own parameter
        # gradients broke while its output gradient was finite, or the ops applied to the first module output
        # whose gradient broke. (The gradient of a module's input would mislead: it sums every consumer's part.)
        out_bad: dict[str, bool] = {}
        born = None
        for kind, n, b, _ in grads:
            if kind == "output":
                out_bad[n] = out_bad.get(n, False) or bool(b)
                if b and n == self.root:
                    born = self.loss_name
                    break
            elif b and not out_bad.get(self._module_of(n), False):
                born = self._owner_label(n)
                break
        if born is None:
            m = next((n for kind, n, b, _ in grads if kind == "output" and b), None)
            if m is not None:
                born = "the operations applied to the output of " + (
                    module_label(m, self.modules[m]) if m in self.modules else m)
        self.grad = Event("grad", name, bad, size, self.step, self.batch,
                          {"born_in": born, "module": self._owner_label(name)})

    def _module_of(self, param: str) -> str:
        mod = param.rpartition(".")[0]
        return mod or self.root

    def _owner_label(self, param: str) -> str:
        m = self._module_of(param)
        return module_label(m, self.modules[m]) if m in self.modules else m


def locate_in_backward(backward: Callable[[], None]) -> dict | None:
    """Run `backward()` (a forward and backward of one batch) under anomaly mode: the autograd op whose backward
    first returned NaN and the user's line in forward that created it, or None when nothing was caught."""
    import re
    import warnings

    from ..common.errors import is_user_file

    op = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with torch.autograd.detect_anomaly(check_nan=True):
                backward()
        except RuntimeError as exc:
            m = re.search(r"Function '(\w+)' returned nan", str(exc))
            op = m.group(1) if m else None
    if op is None:
        return None
    frame = None
    for w in caught:
        text = str(w.message)
        if "Traceback of forward call" not in text:
            continue
        for f, line, fn, code in re.findall(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)', text):
            if is_user_file(f):
                frame = f"{f}:{line} in {fn}: {code.strip()}"
    return {"op": op, "user_frame": frame}
