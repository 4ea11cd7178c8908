"""nndoctor: a command-line doctor for PyTorch training runs."""
__version__ = "0.1.0"

from .check import Check  # noqa: E402
from .report import ExitCode, Finding, Report  # noqa: E402


def diagnose(*args, **kwargs):
    """Diagnose a model, its data, loss and optimizer in memory; see `nndoctor.api.diagnose`."""
    from .api import diagnose as _diagnose

    return _diagnose(*args, **kwargs)


__all__ = ["Check", "ExitCode", "Finding", "Report", "diagnose", "__version__"]
