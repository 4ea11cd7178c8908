"""TensorBoard event files (one file, or a folder of runs), read through the optional `tensorboard` package:
one column per (run folder, tag), `validation/epoch_loss`, each with its own steps."""
from __future__ import annotations

import os

import numpy as np

from ..log import CurveError
from . import Column, Table

TB_MARK = "tfevents"


def _event_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    found = []
    for root, _dirs, files in os.walk(path):
        found += [os.path.join(root, f) for f in files if TB_MARK in f]
    return sorted(found)


def read_tensorboard(path: str) -> Table:
    """Scalars of every event file under `path`, one column per (run folder, tag): `validation/epoch_loss`."""
    try:
        from tensorboard.backend.event_processing import event_accumulator as ea
    except ImportError:
        raise CurveError(f"{path}: reading TensorBoard event files needs the tensorboard package: pip install "
                         f"'nndoctor[tensorboard]' (or export the scalars to CSV)") from None
    files = _event_files(path)
    if not files:
        raise CurveError(f"{path}: no TensorBoard event files (events.out.tfevents.*) here; give a CSV or "
                         f"JSON-lines log, or a TensorBoard log folder")
    root = path if os.path.isdir(path) else os.path.dirname(path)
    by_folder: dict[str, list[str]] = {}
    for f in files:
        by_folder.setdefault(os.path.dirname(f), []).append(f)
    cols: dict[str, Column] = {}
    for folder, fs in by_folder.items():
        run = os.path.relpath(folder, root)
        prefix = "" if run in (".", "") else run.replace(os.sep, "/") + "/"
        source = fs[0] if os.path.isfile(path) else folder
        try:
            acc = ea.EventAccumulator(source, size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
            acc.Reload()
        except Exception as exc:  # a corrupt or truncated file: tensorboard raises its own errors
            raise CurveError(f"{path}: cannot read the TensorBoard events in {folder}: {exc}") from None
        tags = acc.Tags()
        for tag in tags.get("scalars", []):
            events = acc.Scalars(tag)
            cols[prefix + tag] = Column(np.array([e.value for e in events], float),
                                        steps=np.array([e.step for e in events], float))
        for tag in tags.get("tensors", []):  # TF2 summaries store scalars as tensors
            if prefix + tag in cols:
                continue
            from tensorboard.util import tensor_util

            steps, vals = [], []
            for e in acc.Tensors(tag):
                arr = tensor_util.make_ndarray(e.tensor_proto)
                if getattr(arr, "size", 0) == 1 and np.issubdtype(arr.dtype, np.number):
                    steps.append(e.step)
                    vals.append(float(arr.reshape(())))
            if vals:
                cols[prefix + tag] = Column(np.array(vals, float), steps=np.array(steps, float))
    rows = max((c.count() for c in cols.values()), default=0)
    return Table("tensorboard", list(cols), cols, rows)
