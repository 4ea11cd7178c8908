"""The context every check gets: copies of the user's objects (a `Subject`), bounded batches, and the one
forward pass, loss and short training loop that every check shares.

Checks never touch the user's objects. `ctx.new_model()` is a deep copy on the run's device (without the user's
hooks; a lazy model's copy is materialised by one forward pass on the first batch), `ctx.new_optimizer` builds a
fresh optimizer of the user's kind for that copy, `ctx.batches()` is a bounded list of batches read once and
copied to the device (the loader's generators are left as they were). `ctx.forward`, `ctx.loss`, `ctx.train`
are the one forward pass, loss and short training loop that every check shares.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable

import torch
from torch import nn

from ..common.isolation import TimeBoxExceeded as CheckTimeout
from ..probes.batches import Batch, call_model, first_tensor, read_batches, take_output, to_device
from ..probes.output_parts import primary
from .subject import Subject, copy_module, defined_in_torch, strip_user_hooks
from .task import CLASS_LOSSES, guess_task


class Context:
    """What a check gets: copies of the user's objects, bounded batches and the shared mechanics."""

    def __init__(self, subject: Subject, device: str = "auto", seed: int = 0, max_batches: int = 8,
                 quick: bool = False) -> None:
        self.subject = subject
        self.device = torch.device(available_device(str(device)))
        self.seed = seed
        self.max_batches = max_batches
        self.quick = quick
        self.deadline: float | None = None
        self._batches: list[Batch] | None = None
        self._val_batches: list[Batch] | None = None
        # Copies come from here, not from the user's model (which is never run, materialised or moved).
        self._pristine = copy_module(subject.model).to(self.device)
        self._lazy = has_uninitialized_params(self._pristine)
        # The modes the user's model came in (a factory may return it in eval mode): recorded before train().
        self.user_training = bool(subject.model.training)
        self.user_modes = {name: m.training for name, m in self._pristine.named_modules()}
        self._pristine.train()
        self.task = subject.task
        self.num_classes = subject.num_classes
        self.output_shape: tuple | None = None
        self.probe_error: tuple[str, BaseException] | None = None  # (stage, exception) from the runner's probe
        self.cost = {"grad_samples": 0, "nograd_samples": 0}
        self.user_batch_size = 1

    # -- time box ----------------------------------------------------------------------------------------
    def check_time(self) -> None:
        """Called inside loops: raises CheckTimeout once the running check has used its time box."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise CheckTimeout("time box exceeded")

    # -- data ---------------------------------------------------------------------------------------------
    def batches(self, n: int | None = None) -> list[Batch]:
        """Up to `max_batches` training batches, read once, on the device. Do not write into them."""
        if self._batches is None:
            raw = read_batches(self.subject.data, self.max_batches, self.subject.batch_spec)
            self._batches = [Batch(to_device(b.inputs, self.device), to_device(b.targets, self.device))
                             for b in raw]
            if not self._batches:
                raise ValueError("the data loader yielded no batch")
            self.user_batch_size = self._batches[0].size
        return self._batches[:n] if n else self._batches

    def val_batches(self, n: int | None = None) -> list[Batch]:
        """Up to `max_batches` validation batches; empty when the config names no `val_data`."""
        if self.subject.val_data is None:
            return []
        if self._val_batches is None:
            raw = read_batches(self.subject.val_data, self.max_batches, self.subject.batch_spec)
            self._val_batches = [Batch(to_device(b.inputs, self.device), to_device(b.targets, self.device))
                                 for b in raw]
        return self._val_batches[:n] if n else self._val_batches

    # -- copies of the user's objects ------------------------------------------------------------------------
    def new_model(self, train: bool | None = True) -> nn.Module:
        """A fresh copy in train mode (True), eval mode (False), or in the modes the user's model came in (None)."""
        self._materialise()
        model = copy.deepcopy(self._pristine)
        model.register_forward_pre_hook(self._count_forward)
        if train is None:
            for name, m in model.named_modules():
                m.training = self.user_modes.get(name, m.training)
            return model
        return model.train(train)

    def _materialise(self) -> None:
        """A lazy model (LazyLinear...) gets its shapes from one eval-mode, no-grad forward pass of the pristine copy
        on the first batch, so every copy starts from the same initialised weights. A batch or forward that fails
        leaves it lazy: the runner's probe meets the same error and reports it (ND308)."""
        if not self._lazy:
            return
        self._lazy = False  # tried once
        try:
            inputs = self.batches(1)[0].inputs
        except Exception:
            return
        self._pristine.eval()
        try:
            with torch.no_grad():
                call_model(self._pristine, inputs)
        except Exception:
            pass
        finally:
            self._pristine.train()

    def parameter_count(self) -> int:
        """Parameters of the model (its copy), not counting a lazy module's uninitialised ones."""
        return sum(p.numel() for p in self._pristine.parameters() if not nn.parameter.is_lazy(p))

    def _count_forward(self, module: nn.Module, args: tuple, kwargs: dict | None = None) -> None:
        """Cost accounting: samples through the root module, with and without autograd."""
        t = first_tensor((args, kwargs))
        n = int(t.shape[0]) if t is not None and t.dim() > 0 else 1
        self.cost["grad_samples" if torch.is_grad_enabled() else "nograd_samples"] += n

    def step_equivalents(self) -> float:
        """The cost so far in training steps over the user's batch: a forward with autograd is counted with its
        backward (3 units: a backward costs about two forwards), a forward without autograd as 1 unit."""
        units = 3 * self.cost["grad_samples"] + self.cost["nograd_samples"]
        return units / (3 * max(1, self.user_batch_size))

    def new_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return self.subject.optimizer(model)

    def new_loss(self) -> Callable:
        loss = self.subject.loss
        return strip_user_hooks(copy.deepcopy(loss)).to(self.device) if isinstance(loss, nn.Module) else loss

    # -- one forward pass, one loss, a short training loop -------------------------------------------------
    def forward(self, model: nn.Module, inputs: Any) -> torch.Tensor:
        # torch's losses take a tensor: an output no rule maps to one is a wiring error, not a crash in torch
        return take_output(call_model(model, inputs), self.subject.outputs,
                           need_tensor=defined_in_torch(self.subject.loss))

    def loss(self, outputs: torch.Tensor, targets: Any, loss_fn: Callable | None = None) -> torch.Tensor:
        fn = loss_fn if loss_fn is not None else self.new_loss()
        value = fn(outputs, targets)
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(float(value))
        return value

    def forward_loss(self, model: nn.Module, batch: Batch, loss_fn: Callable | None = None):
        outputs = self.forward(model, batch.inputs)
        return outputs, self.loss(outputs, batch.targets, loss_fn)

    def train(self, model: nn.Module, optimizer: torch.optim.Optimizer, batches: list[Batch], steps: int,
              stop: Callable[[list[float]], bool] | None = None, loss_fn: Callable | None = None) -> list[float]:
        """A plain training loop on `model` (a copy), cycling through `batches`. Returns the loss per step.

        Stops early at a non-finite loss or when `stop(losses)` says the evidence is conclusive.
        """
        loss_fn = loss_fn if loss_fn is not None else self.new_loss()
        model.train()
        losses: list[float] = []
        for step in range(steps):
            self.check_time()
            batch = batches[step % len(batches)]
            optimizer.zero_grad(set_to_none=True)
            _, loss = self.forward_loss(model, batch, loss_fn)
            losses.append(float(loss.detach()))
            if not math.isfinite(losses[-1]):
                break
            loss.backward()
            optimizer.step()
            if stop is not None and stop(losses):
                break
        return losses

    def user_step(self, model: nn.Module, batch: Batch, loss_fn: Callable, optimizer) -> float:
        """One call of the user's own `train_step(model, batch, loss_fn, optimizer)`, with a (inputs, targets)
        batch. Returns the loss it reports as a float (NaN when it returns nothing usable, e.g. None)."""
        if self.subject.train_step is None:
            raise ValueError("no train_step was given (config key `train_step: module:fn`)")
        out = self.subject.train_step(model, (batch.inputs, batch.targets), loss_fn, optimizer)
        if isinstance(out, (tuple, list)) and out:  # (loss, extras...)
            out = out[0]
        if isinstance(out, torch.Tensor):
            return float(out.detach().float().mean()) if out.numel() else math.nan
        try:
            return float(out)
        except (TypeError, ValueError):
            return math.nan

    # -- what kind of problem this is ------------------------------------------------------------------------
    def infer_task(self, outputs: torch.Tensor, targets: Any) -> None:
        """Fill `task` and `num_classes` from the loss type, the output and the target shapes. Of an output the loss
        takes whole (a VAE's (recon, mu, logvar)), its primary tensor is read (`probes.output_parts`)."""
        t = targets if isinstance(targets, torch.Tensor) else first_tensor(targets)
        outputs = primary(outputs, t) if outputs is not None else None
        self.output_shape = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else None
        if self.task == "auto":
            self.task = guess_task(self.subject.loss, outputs, t)
        if self.num_classes is None and isinstance(outputs, torch.Tensor) and outputs.dim() >= 2:
            if self.task == "classification":
                # CrossEntropyLoss takes (N, C) or (N, C, d1, ...); a function loss usually takes (..., C)
                self.num_classes = int(outputs.shape[1] if isinstance(self.subject.loss, CLASS_LOSSES)
                                       else outputs.shape[-1])
            elif self.task == "language-modeling":
                self.num_classes = int(outputs.shape[-1])
            elif self.task in ("multilabel", "binary"):
                self.num_classes = int(outputs.shape[-1])


def available_device(device: str) -> str:
    """`auto` resolved (cuda when available, else cpu); a CUDA device this machine lacks is a ValueError."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for but CUDA is not available here; use device='auto' or 'cpu'")
        index, count = device.partition(":")[2], torch.cuda.device_count()
        if index.isdigit() and int(index) >= count:
            raise ValueError(f"device {device!r} asked for but this machine has {count} CUDA device(s) "
                             f"(cuda:0 to cuda:{count - 1}); use device='cuda' or 'auto'")
    return device


def has_uninitialized_params(model: nn.Module) -> bool:
    return any(nn.parameter.is_lazy(p) for p in model.parameters()) or \
        any(nn.parameter.is_lazy(b) for b in model.buffers())
