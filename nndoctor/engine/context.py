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
import inspect
import math
import time
import weakref
from typing import Any, Callable

import torch
from torch import nn

from ..common.isolation import TimeBoxExceeded as CheckTimeout
from ..probes.batches import (NO_TARGETS, Batch, WiringError, call_model, first_tensor, read_batches, take_parts,
                               to_device)
from ..probes.layout import Layout, infer_layout
from ..probes.losses import (ModelLossUnavailable, class_axis, classifier_axis, ignore_candidates, is_model_loss,
                              learn_ignored_target, shifts_targets, skipped_targets, stand_in_loss, unshifted)
from ..probes.output_parts import primary
from ..probes.state import remember_state, reset_state
from .subject import Subject, copy_module, defined_in_torch, independent_copy, strip_user_hooks
from .task import guess_task


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
        self.backward_error: BaseException | None = None  # forward-probe: the loss's backward raises (ND308)
        self.cost = {"grad_samples": 0, "nograd_samples": 0}
        self.user_batch_size = 1
        self._layout: Layout | None = None
        self.targets_key = None  # a dict batch's key of the targets: where a model loss takes them by default
        self._stand_in: Callable | None = None  # a function loss equal to a model loss (see `rescoring_loss`)
        self.target_shift = 0  # 1: the loss scores outputs[:, t] against targets[:, t + 1] (it shifts them itself)
        self.user_step_error: BaseException | None = None  # the user's train_step raised: the plain step stands in
        self.user_step_inert = False  # the user's train_step wrote no weight in INERT_CALLS calls: likewise
        self._user_calls_idle: int | None = 0  # calls in a row without a weight written; None once one was

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
            self.targets_key = raw[0].targets_key
        return self._batches[:n] if n else self._batches

    def layout(self) -> Layout:
        """Where the inputs hold the batch and the time (config `batch: {batch_axis, time_axis}`, else inferred from
        the data and the model once per run): `nndoctor.probes.layout`."""
        if self._layout is None:
            self._layout = infer_layout(self)
        return self._layout

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
        """A fresh copy in train mode (True), eval mode (False), or in the modes the user's model came in (None),
        independent of the pristine copy (its lambdas call its own modules, not the pristine's)."""
        self._materialise()
        model = independent_copy(self._pristine)
        model.register_forward_pre_hook(self._count_forward)
        remember_state(model)  # each of nndoctor's forwards starts from it (nndoctor.probes.state)
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

    def copy_model(self, model: nn.Module) -> nn.Module:
        """An independent copy of one of nndoctor's copies (a fitted model trained on further): a fresh copy of
        the user's model (`new_model`) given `model`'s parameters and buffers. Deep-copying the trained copy itself
        would copy what its forwards left behind (tensors inside a graph, nndoctor's own hooks)."""
        duplicate = self.new_model(train=model.training)
        with torch.no_grad():
            duplicate.load_state_dict(model.state_dict())
        return duplicate

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
    def forward(self, model: nn.Module, inputs: Any, targets: Any = NO_TARGETS) -> torch.Tensor:
        """The model's output on `inputs` (the logits part, as the config's `outputs` says). For a model that
        computes its own loss (`loss: model`) `targets` are handed to forward (`targets_arg`), and the loss it
        returns is what `ctx.loss` gives for these outputs; without targets the model runs as it does in use (a
        nanoGPT then returns the last position's logits only). A function or module loss ignores `targets` here:
        pass the batch's own targets also with changed inputs, never changed targets."""
        reset_state(model)  # state carried from the last call (self.hidden) back to the copy's initial state
        if is_model_loss(self.subject.loss) and targets is not NO_TARGETS and targets is not None:
            return self._forward_model_loss(model, inputs, targets)
        # torch's losses take a tensor: an output no rule maps to one is a wiring error, not a crash in torch
        logits, _ = take_parts(call_model(model, inputs), self.subject.outputs,
                               need_tensor=defined_in_torch(self.subject.loss),
                               model_loss=is_model_loss(self.subject.loss))
        return logits

    def _forward_model_loss(self, model: nn.Module, inputs: Any, targets: Any) -> torch.Tensor:
        """`logits, loss = model(inputs, targets)`: the logits, with the loss recorded in the ModelLoss."""
        logits, loss = self._model_parts(model, inputs, targets)
        copy_of = weakref.ref(model)  # a check's copy is not kept alive by the record of its outputs

        def rescore(other_targets: Any) -> torch.Tensor:
            if copy_of() is None:
                raise ModelLossUnavailable("the model computes its own loss (`loss: model`): the copy that made "
                                           "these outputs is gone")
            return self._model_parts(copy_of(), inputs, other_targets)[1]

        if isinstance(logits, torch.Tensor):
            self.subject.loss.remember(logits, targets, loss, rescore)
        return logits

    def _model_parts(self, model: nn.Module, inputs: Any, targets: Any) -> tuple[Any, torch.Tensor]:
        out = call_model(model, inputs, targets, self.targets_arg())
        logits, loss = take_parts(out, self.subject.outputs, need_tensor=False, model_loss=True)
        if loss is None:
            raise WiringError("outputs", "`loss: model`: the model returned no loss when handed the targets "
                              f"({self._targets_where()}); set `batch: {{targets_arg: ...}}` to where forward takes "
                              "them, and `outputs: {logits: KEY, loss: KEY}` to where it returns the loss")
        if not isinstance(loss, torch.Tensor):
            loss = torch.as_tensor(float(loss))
        return logits, loss

    def targets_arg(self) -> Any:
        """Where forward takes the targets of a model loss: the config's `batch: {targets_arg: ...}`, else a dict
        batch's own key of the targets as a keyword (`labels=`), else the next positional argument (None)."""
        spec = self.subject.batch_spec or {}
        if spec.get("targets_arg") is not None:
            return spec["targets_arg"]
        return self.targets_key if isinstance(self.targets_key, str) else None

    def _targets_where(self) -> str:
        where = self.targets_arg()
        return "as the next positional argument" if where is None else \
            f"as keyword `{where}`" if isinstance(where, str) and not where.lstrip("-").isdigit() else \
            f"as positional argument {where}"

    def loss(self, outputs: torch.Tensor, targets: Any, loss_fn: Callable | None = None) -> torch.Tensor:
        """The loss of `outputs` against `targets`. For a model loss: the loss the model returned with these
        outputs (they must come from `ctx.forward` with targets), or with other targets one more forward on the
        same inputs; outputs changed after the forward raise ModelLossUnavailable."""
        fn = loss_fn if loss_fn is not None else self.new_loss()
        value = fn(outputs, targets)
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(float(value))
        return value

    def forward_loss(self, model: nn.Module, batch: Batch, loss_fn: Callable | None = None):
        outputs = self.forward(model, batch.inputs, batch.targets)
        return outputs, self.loss(outputs, batch.targets, loss_fn)

    def rescoring_loss(self) -> Callable | None:
        """A loss that scores outputs nndoctor made or changed (constant outputs for chance levels, ideal ones for
        the loss floor): a fresh copy of the user's loss; for a model loss the function loss found equal to it on
        the first batch (`stand_in_loss`), over outputs and targets `aligned` by `target_shift` (a Hugging Face
        causal LM's shift taken out), or None when none is (the check then does not judge by re-scoring)."""
        if not is_model_loss(self.subject.loss):
            return self.new_loss()
        return self._stand_in

    def learn_loss(self, outputs: Any, batches: list[Batch]) -> None:
        """What the runner's probe learns about the loss once the loss ran on every batch: the target value it
        skips, for a model loss the function loss that stands in for it, and whether it shifts the targets by one
        itself (`target_shift`). `outputs` are the first batch's."""
        self.learn_ignored_target(outputs, batches)
        if not batches or not isinstance(batches[0].targets, torch.Tensor):
            return
        if is_model_loss(self.subject.loss):
            found = stand_in_loss(self.subject.loss, outputs, batches[0].targets)
            self.target_shift = getattr(found, "shift", 0)
            self._stand_in = unshifted(found) if found is not None else None
        elif self.task == "language-modeling" and self.num_classes:
            self.target_shift = int(shifts_targets(self.new_loss(), outputs, batches[0].targets, self.num_classes))

    # -- what the loss skips ------------------------------------------------------------------------------------
    def learn_ignored_target(self, outputs: Any, batches: list[Batch]) -> int | None:
        """Learn, once per run, which target value the user's loss skips (`ignore_index=-1`, a pad id), and record
        it for `probes.losses.ignored_target`. A function loss is asked (`skipped_targets`) on the first batch's
        outputs; a model loss cannot be fed other outputs, so a value outside the class range that it ran on
        without an error (the probe ran it on every batch read) is the skipped one. A loss with its own
        `ignore_index` (a torch loss module) is taken at its word. Returns the value, or None."""
        loss = self.subject.loss
        ys = [b.targets for b in batches if isinstance(b.targets, torch.Tensor) and not b.targets.is_floating_point()]
        if hasattr(loss, "ignore_index") or not ys or self.task not in ("classification", "language-modeling") \
                or not isinstance(outputs, torch.Tensor):
            return None
        try:
            value = self._accepted_out_of_range(ys) if is_model_loss(loss) else self._probed_ignore(outputs, ys[0])
        except Exception:  # a loss that cannot be copied or moved: nothing learned, the loss's own word stands
            value = None
        learn_ignored_target(loss, value)
        return value

    def _accepted_out_of_range(self, ys: list[torch.Tensor]) -> int | None:
        """The most frequent target value outside [0, C) in batches the model's loss ran on, or None."""
        y = torch.cat([t.reshape(-1) for t in ys])  # (all targets,)
        C = self.num_classes
        out_of_range = y[(y < 0) | (y >= C)] if C is not None else y[y < 0]
        if out_of_range.numel() == 0:
            return None
        values, counts = torch.unique(out_of_range, return_counts=True)
        return int(values[int(counts.argmax())])

    def _probed_ignore(self, outputs: torch.Tensor, targets: torch.Tensor) -> int | None:
        """The value the function loss skips, asked of a CPU copy of it; a value the targets hold comes first."""
        axis = class_axis(outputs, targets, self.subject.loss)
        if axis is None and outputs.dim() >= 2 and outputs.numel() == targets.numel() * outputs.shape[-1]:
            axis = outputs.dim() - 1  # (B, T, C) against flattened (B*T,) targets
        if axis is None:
            return None
        loss = self.subject.loss
        cpu_loss = strip_user_hooks(copy.deepcopy(loss)).cpu() if isinstance(loss, nn.Module) else loss
        skipped = skipped_targets(cpu_loss, outputs, targets, ignore_candidates(targets, self.num_classes), axis)
        present = [v for v in skipped if bool((targets == v).any())]
        return (present or skipped or [None])[0]

    def train(self, model: nn.Module, optimizer: torch.optim.Optimizer, batches: list[Batch], steps: int,
              stop: Callable[[list[float]], bool] | None = None, loss_fn: Callable | None = None,
              user: bool = True) -> list[float]:
        """The shared training loop on `model` (a copy), cycling through `batches`. Returns the loss per step.

        Each step is the user's own `train_step` when the config names one (and `user` is left True): clipping,
        gradient accumulation, a closure and whatever else lives in the user's step then shape the updates the
        checks measure, as in the user's training. Otherwise it is the plain step (`zero_grad`, forward, loss,
        `backward`, `step`), or, for an optimizer whose `step` needs a closure (LBFGS), `step(closure)` with a
        closure that zeroes the gradients, runs forward, loss and backward and returns the loss. The loss of a
        step is the one at the weights the step starts from. Stops early at a non-finite loss or when
        `stop(losses)` says the evidence is conclusive.
        """
        loss_fn = loss_fn if loss_fn is not None else self.new_loss()
        model.train()
        losses: list[float] = []
        for step in range(steps):
            self.check_time()
            batch = batches[step % len(batches)]
            if user and self.subject.train_step is not None and self.user_step_error is None and \
                    not self.user_step_inert:
                losses.append(self._user_or_plain_step(model, batch, loss_fn, optimizer))
            else:
                losses.append(self._plain_step(model, batch, loss_fn, optimizer))
            if not math.isfinite(losses[-1]):
                break
            if stop is not None and stop(losses):
                break
        return losses

    def _user_or_plain_step(self, model: nn.Module, batch: Batch, loss_fn: Callable, optimizer) -> float:
        """The user's step; once it raises, or once `INERT_CALLS` calls in a row have written no weight (no
        `optimizer.step()`: accumulation steps every few calls at most), the plain step from then on, for every
        check: the step's own fault is train-step's finding (ND308, ND408), and the other checks measure on
        without it. The optimizer's state, which a step that broke off half-way may have left inconsistent
        (LBFGS), starts afresh."""
        version = sum(p._version for p in model.parameters())
        try:
            value = self._user_step_loss(model, batch, loss_fn, optimizer)
        except CheckTimeout:
            raise
        except Exception as exc:
            self.user_step_error = exc
            optimizer.state.clear()
            return self._plain_step(model, batch, loss_fn, optimizer)
        if self._user_calls_idle is not None:  # None: the step has been seen to update the weights
            idle = sum(p._version for p in model.parameters()) == version
            self._user_calls_idle = self._user_calls_idle + 1 if idle else None
            self.user_step_inert = self._user_calls_idle is not None and self._user_calls_idle >= INERT_CALLS
        return value

    def _plain_step(self, model: nn.Module, batch: Batch, loss_fn: Callable, optimizer) -> float:
        """One step of the optimizer on one batch; the loss before it (a non-finite loss takes no step)."""
        if needs_closure(optimizer):
            return self._closure_step(model, batch, loss_fn, optimizer)
        optimizer.zero_grad(set_to_none=True)
        _, loss = self.forward_loss(model, batch, loss_fn)
        value = float(loss.detach())
        if math.isfinite(value):
            loss.backward()
            optimizer.step()
        return value

    def _closure_step(self, model: nn.Module, batch: Batch, loss_fn: Callable, optimizer) -> float:
        """`optimizer.step(closure)`, as LBFGS wants it: the closure zeroes the gradients, runs forward, loss and
        backward, and returns the loss; it is evaluated several times per step (the line search). A non-finite
        loss stops the step there (LBFGS would otherwise write NaN into every weight) and is returned."""
        first: list[float] = []

        def closure():
            optimizer.zero_grad(set_to_none=True)
            _, loss = self.forward_loss(model, batch, loss_fn)
            value = float(loss.detach())
            first.append(value)
            if not math.isfinite(value):
                raise _NonFiniteLoss(value)
            loss.backward()
            return loss

        try:
            optimizer.step(closure)
        except _NonFiniteLoss:
            pass
        return first[0] if first else math.nan

    def _user_step_loss(self, model: nn.Module, batch: Batch, loss_fn: Callable, optimizer) -> float:
        """One call of the user's step; its loss is the first value the step's loss function computed (the loss
        at the weights it started from), else what the step returns, else a no-grad forward on the batch after."""
        seen: list[float] = []

        def recording(*args, **kwargs):
            value = loss_fn(*args, **kwargs)
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                seen.append(float(value.detach().float()))
            return value

        returned = self.user_step(model, batch, recording, optimizer)
        if seen:
            return seen[0]
        if math.isfinite(returned):
            return returned
        with torch.no_grad():
            return float(self.forward_loss(model, batch, loss_fn)[1].detach().float())

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
                self.num_classes = int(outputs.shape[classifier_axis(outputs, t, self.subject.loss)])
            elif self.task == "language-modeling":
                self.num_classes = int(outputs.shape[-1])
            elif self.task in ("multilabel", "binary"):
                self.num_classes = int(outputs.shape[-1])


INERT_CALLS = 8  # calls of the user's step in a row that write no weight: it never updates (accumulation is shorter)


class _NonFiniteLoss(Exception):
    """Raised inside a closure to end an optimizer step at a non-finite loss."""


def needs_closure(optimizer) -> bool:
    """Whether `optimizer.step` requires a closure (LBFGS: `step(closure)`; the others take `closure=None`)."""
    try:
        params = list(inspect.signature(optimizer.step).parameters.values())
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0].name == "closure" and params[0].default is inspect.Parameter.empty


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
