"""The zoo's case registry: each case is a small function registered with its id, family and ground truth.

    @case("mlp-softmax-before-ce", "mlp", "nn.Softmax as the last layer, then CrossEntropyLoss",
          expect=("ND202",))
    def _():
        ...
        return dict(model=net, data=loader, loss=nn.CrossEntropyLoss(), optimizer=opt)

`expect` holds the codes that count as a right top-ranked diagnosis (several only where they are equally the
root cause); a healthy case has `healthy=True` and no expected code. The function returns the keyword arguments
of `nndoctor.diagnose` (model, data, loss, optimizer, and val_data / train_step / task where needed).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

FAMILIES = ("mlp", "cnn", "rnn", "transformer-lm", "regression", "binary")


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    description: str
    build: Callable[[], dict]
    expect: tuple[str, ...] = ()
    healthy: bool = False
    fast: bool = False  # cheap and stable: a candidate for the quick subset in the test suite


CASES: dict[str, Case] = {}


def case(id: str, family: str, description: str, expect: tuple[str, ...] = (), healthy: bool = False,
         fast: bool = False):
    """Register the decorated builder as a zoo case."""
    if family not in FAMILIES:
        raise ValueError(f"{id}: unknown family {family!r} (one of {', '.join(FAMILIES)})")
    if healthy == bool(expect):
        raise ValueError(f"{id}: a case is either healthy or has expected codes, not both or neither")

    def register(fn: Callable[[], dict]) -> Callable[[], dict]:
        if id in CASES:
            raise ValueError(f"duplicate zoo case id {id!r}")
        CASES[id] = Case(id, family, description, fn, tuple(expect), healthy, fast)
        return fn

    return register


def load_cases() -> dict[str, Case]:
    """Import every module in benchmarks/zoo/cases/ (each registers its cases) and return them by id."""
    from . import cases

    for info in pkgutil.iter_modules(cases.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{cases.__name__}.{info.name}")
    order = sorted(CASES.values(), key=lambda c: (c.healthy, FAMILIES.index(c.family)))  # stable: file order kept
    return {c.id: c for c in order}
