"""nndoctor: a command-line doctor for PyTorch training runs.

The package, by layer (arrows point one way: entry points -> engine -> probes; engine -> report; curve -> report):
- entry points: `cli` (the command line), `api` (`diagnose`, `run_config`), `testing` (the pytest helper);
- `config`: the run config's keys, reading, validation and building;
- `engine`: the check base, the registry, the context, the runner; `probes`: the mechanics checks share;
- `curve`: `nndoctor curve`, loss-curve analysers over training logs (no torch);
- `report`: findings, ranking, the formats (no torch); `catalogue`: the codes and the causal table;
- `common`: what engine and curve share (the diagnostic base, options, selection, isolation, confidence, error text);
- `capture`: `nndoctor run train.py` (an unmodified script, diagnosed at its first optimizer steps);
- `distributed`: `--nproc N` and torchrun (the ranks, their exchanges through the store, the merged report);
- `integrations`: the Lightning and Hugging Face callbacks (optional extras).
`batching` and `hooks` are the stable plugin API promised in CONTRIBUTING.
"""
from ._version import __version__
from .common.options import Option
from .engine.check import Check
from .report import ExitCode, Finding, Report


def diagnose(*args, **kwargs):
    """Diagnose a model, its data, loss and optimizer in memory; see `nndoctor.api.diagnose`."""
    from .api import diagnose as _diagnose

    return _diagnose(*args, **kwargs)


__all__ = ["Check", "ExitCode", "Finding", "Option", "Report", "diagnose", "__version__"]
