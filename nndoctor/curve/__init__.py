"""`nndoctor curve`: read a training log and diagnose its loss curves (ND601-ND611), with numpy alone (no torch).

The loss curve is the first tool for watching a training run (CS231n, "37 reasons"): a good curve drops fast, then
flattens. A flat curve learns nothing (ND601); a curve that stops has met a NaN (ND602); a rising one climbs the
gradient (ND603); a long plateau before a late drop points to too small an initialisation or bad data (ND604);
swings that do not settle mean a learning rate too high or a batch too small (ND605); a saw-tooth with the period
of an epoch means the data is not shuffled (ND606); a widening train/validation gap is overfitting (ND607); a very
noisy validation curve means the validation set is too small (ND608); a curve still falling when the log ends
wants more training (ND609); a learning rate decayed to near zero while the loss was still falling stalls the run
(ND610); a loss that jumps far above its trend and back, again and again, has steps that throw the model off
(ND611).

The package, in the order a log goes through it:
- `read` (`read_log`): the file, through `readers/` (csv, jsonl, tensorboard, pivot; numbers for fast parsing)
  and `roles` (which column is which), into a `log.CurveLog` of `Series`;
- `stats` (`measure`): each curve measured once (log scale, a grid of bin medians, its trend and noise);
- `analysers/`: one `analyser.Analyser` per module, each judging the measurement against its named options;
- `runner` (`diagnose_log`, `diagnose_file`): selection, each analyser's isolated turn, the ranked report.
"""
from .analysers import ANALYSERS
from .log import CurveError, CurveLog, Series
from .read import read_log
from .runner import check_selectors, diagnose_file, diagnose_log

__all__ = ["ANALYSERS", "CurveError", "CurveLog", "Series", "check_selectors", "diagnose_file", "diagnose_log",
           "read_log"]
