"""nndoctor inside the user's own run: callbacks that observe its first optimizer steps and diagnose them.

- `nndoctor.integrations.lightning.DoctorCallback`: a Lightning `Callback` (lightning.pytorch or
  pytorch_lightning, whichever is installed);
- `nndoctor.integrations.huggingface.DoctorCallback`: a transformers `TrainerCallback`.

Both take `fail_on="error"`, `steps=3`, `select=None`, `ignore=None`, `quick=True`, `deadline=None`, keep the
report as `callback.report`, print it on rank zero to stderr, and raise `DoctorFailed` (a RuntimeError carrying
`.report`) from the hook after the diagnosis when a finding is at or above `fail_on`.
"""
from ._common import DoctorFailed

__all__ = ["DoctorFailed"]
