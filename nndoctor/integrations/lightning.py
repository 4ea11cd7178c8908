"""`DoctorCallback` for PyTorch Lightning: diagnose the run's first optimizer steps from inside `Trainer.fit`.

    trainer = Trainer(callbacks=[DoctorCallback(fail_on="error", steps=3)])

or in a LightningCLI YAML:

    trainer:
      callbacks:
        - class_path: nndoctor.integrations.lightning.DoctorCallback
          init_args: {fail_on: error, steps: 3}

The hooks go in at `setup` (stage "fit", before the sanity check's validation pass and the first batch) and come
out at the end of the `steps`-th training batch, where the checks run on copies; the run itself is untouched. At a
finding at or above `fail_on` the callback raises `DoctorFailed` from `on_train_batch_end`, which ends `fit` (the
report stays in `callback.report`). A run with fewer optimizer steps is diagnosed at `on_train_end`.
"""
from __future__ import annotations

from typing import Iterable

try:
    from lightning.pytorch import Callback
except ImportError:  # the older package name
    from pytorch_lightning import Callback

from ._common import DoctorFailed, Observer, print_report

__all__ = ["DoctorCallback", "DoctorFailed"]


class DoctorCallback(Callback):
    """Observe the first `steps` optimizer steps, then run nndoctor's checks on copies of what they trained."""

    def __init__(self, fail_on: str = "error", steps: int = 3, select: Iterable[str] | str | None = None,
                 ignore: Iterable[str] | str | None = None, quick: bool = True, deadline: float | None = None) -> None:
        super().__init__()
        self._observer = Observer(fail_on=fail_on, steps=steps, select=select, ignore=ignore, quick=quick,
                                  deadline=deadline)
        self.report = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            self._observer.start()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._observer.watching and self._observer.due:
            self._diagnose(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        if self._observer.watching:  # fewer optimizer steps than the budget
            self._diagnose(trainer, pl_module)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self._observer.stop()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self._observer.stop()

    def _diagnose(self, trainer, pl_module) -> None:
        self.report = self._observer.finish(pl_module)
        if trainer.is_global_zero:
            print_report(self.report)
        failed = self._observer.failed(self.report)
        if failed is not None:
            raise failed
