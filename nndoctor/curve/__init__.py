"""`nndoctor curve`: read a training log and diagnose its loss curves (ND601-ND610), with numpy alone (no torch)."""
from .analysers import ANALYSERS, check_selectors, diagnose_file, diagnose_log
from .log import CurveError, CurveLog, Series, read_log

__all__ = ["ANALYSERS", "CurveError", "CurveLog", "Series", "check_selectors", "diagnose_file", "diagnose_log",
           "read_log"]
