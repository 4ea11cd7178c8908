"""`DoctorCallback` for the Hugging Face `Trainer`: diagnose the run's first optimizer steps from inside `train()`.

    Trainer(model=model, args=args, train_dataset=data, callbacks=[DoctorCallback(fail_on="error", steps=3)])

The hooks go in at `on_train_begin` and come out at the `on_step_end` of the `steps`-th optimizer step, where the
checks run on copies; the run itself is untouched. At a finding at or above `fail_on` the callback sets
`control.should_training_stop = True` and raises `DoctorFailed` from `on_step_end`, which ends `train()` (the
report stays in `callback.report`). A run with fewer optimizer steps is diagnosed at `on_train_end`.
"""
from __future__ import annotations

from typing import Iterable

from transformers import TrainerCallback

from ._common import DoctorFailed, Observer, print_report

__all__ = ["DoctorCallback", "DoctorFailed"]


class DoctorCallback(TrainerCallback):
    """Observe the first `steps` optimizer steps, then run nndoctor's checks on copies of what they trained."""

    def __init__(self, fail_on: str = "error", steps: int = 3, select: Iterable[str] | str | None = None,
                 ignore: Iterable[str] | str | None = None, quick: bool = True, deadline: float | None = None) -> None:
        self._observer = Observer(fail_on=fail_on, steps=steps, select=select, ignore=ignore, quick=quick,
                                  deadline=deadline)
        self.report = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._observer.start()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self._observer.watching and self._observer.due:
            self._diagnose(state, control, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self._observer.watching:  # fewer optimizer steps than the budget
            self._diagnose(state, control, model)

    def _diagnose(self, state, control, model) -> None:
        self.report = self._observer.finish(model)
        if state.is_world_process_zero:
            print_report(self.report)
        failed = self._observer.failed(self.report)
        if failed is not None:
            control.should_training_stop = True
            raise failed
