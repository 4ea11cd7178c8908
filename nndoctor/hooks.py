"""Stable plugin API (promised in CONTRIBUTING): the forward-hook helpers a third-party check may import. The
code lives in `nndoctor.probes.hooks`."""
from .probes.hooks import capture_forward, leaf_modules, module_label, on_forward

__all__ = ["capture_forward", "leaf_modules", "module_label", "on_forward"]
