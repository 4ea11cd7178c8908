"""The public vocabulary: the diagnosis codes (their meaning, why they matter, how to fix them) and the causal
table (which code explains which). Importable without torch."""
from .causes import EXPLAINS, explaining_cause
from .codes import CODES, GROUPS, Code, lookup

__all__ = ["CODES", "GROUPS", "Code", "EXPLAINS", "explaining_cause", "lookup"]
