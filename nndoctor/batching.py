"""Stable plugin API (promised in CONTRIBUTING): the batch helpers a third-party check may import. The code lives
in `nndoctor.probes.batches`."""
from .probes.batches import Batch, call_model, first_tensor, head, map_tensors, tensors, to_device, unpack

__all__ = ["Batch", "call_model", "first_tensor", "head", "map_tensors", "tensors", "to_device", "unpack"]
