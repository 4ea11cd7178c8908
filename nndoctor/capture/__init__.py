"""Capture: diagnose the user's own training script, unmodified (`nndoctor run train.py [-- ARGS]`,
`nndoctor run -m pkg.train [-- ARGS]`).

The script runs in this process under PyTorch's global hooks until its first few optimizer steps, and is stopped
there; every hook is removed; the model, loss, loader and optimizer it trained become the subject of the same
checks as a config run, and its loop's order (zero_grad, backward, step, train mode) gives the train-step codes.

- `recorder`: the hooks and what they record (`records`), the operations followed between loader, model and loss
  (`ops`), the torch attributes wrapped for the time of the run (`patches`);
- `script`: running the script or module (argv, sys.path, deadline, its exit and errors);
- `build`: from the recording to a `Subject` (`adapters`: the loss and the data as the checks take them;
  `describe`: the `captured:` summary);
- `loop`: the loop's own findings (ND409, ND408, ND310);
- `api`: `capture` and `diagnose_script`; `command`: the command line's side.
"""
from .errors import CaptureError

__all__ = ["CaptureError", "capture", "diagnose_script"]


def capture(*args, **kwargs):
    """Run a script until its first optimizer steps and build its subject; see `nndoctor.capture.api.capture`."""
    from .api import capture as _capture

    return _capture(*args, **kwargs)


def diagnose_script(*args, **kwargs):
    """Capture a script and diagnose it; see `nndoctor.capture.api.diagnose_script`."""
    from .api import diagnose_script as _diagnose

    return _diagnose(*args, **kwargs)
