"""The zoo's case registry: each case is a small function registered with its id, family and ground truth.

    @case("mlp-softmax-before-ce", "mlp", "nn.Softmax as the last layer, then CrossEntropyLoss",
          expect=("ND202",))
    def _():
        ...
        return dict(model=net, data=loader, loss=nn.CrossEntropyLoss(), optimizer=opt)

`expect` holds the codes that count as a right top-ranked diagnosis (several only where they are equally the
root cause); a healthy case has `healthy=True` and no expected code. `shows` lists (cause, effect) pairs of the
causal table (nndoctor/catalogue/causes.py) that the case's report exhibits, the cause ranked above the effect:
tests/test_ranking_causes.py holds every case to them. The function returns the keyword arguments
of `nndoctor.diagnose` (model, data, loss, optimizer, and val_data / train_step / task where needed).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

FAMILIES = ("mlp", "cnn", "rnn", "transformer-lm", "regression", "binary")
# The second zoo (benchmarks/zoo/real/): setups modelled on how well-known public projects write and train their
# code (not copied from them), each family with a healthy case configured the way such a project trains and the
# bugs its users report (the public thread cited in a comment). It is the measure; the bundled zoo is the net.
REAL_FAMILIES = ("gpt", "huggingface", "word-lm", "tagger", "vae", "gcn", "unet", "resnet", "vit", "lbfgs",
                 "makemore", "regression-adam", "clipped-transformer")
ZOOS = {"bundled": ("benchmarks.zoo.cases", FAMILIES), "real": ("benchmarks.zoo.real", REAL_FAMILIES)}


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    description: str
    build: Callable[[], dict]
    expect: tuple[str, ...] = ()
    healthy: bool = False
    fast: bool = False  # cheap and stable: a candidate for the quick subset in the test suite
    zoo: str = "bundled"  # "bundled" (benchmarks/zoo/cases/) or "real" (benchmarks/zoo/real/)
    shows: tuple[tuple[str, str], ...] = ()  # (cause, effect) pairs of the causal table its report exhibits


CASES: dict[str, Case] = {}


def case(id: str, family: str, description: str, expect: tuple[str, ...] = (), healthy: bool = False,
         fast: bool = False, shows: tuple[tuple[str, str], ...] = ()):
    """Register the decorated builder as a zoo case."""
    if family not in FAMILIES + REAL_FAMILIES:
        raise ValueError(f"{id}: unknown family {family!r} (one of {', '.join(FAMILIES + REAL_FAMILIES)})")
    if healthy == bool(expect):
        raise ValueError(f"{id}: a case is either healthy or has expected codes, not both or neither")

    def register(fn: Callable[[], dict]) -> Callable[[], dict]:
        if id in CASES:
            raise ValueError(f"duplicate zoo case id {id!r}")
        zoo = "real" if fn.__module__.startswith(ZOOS["real"][0]) else "bundled"
        CASES[id] = Case(id, family, description, fn, tuple(expect), healthy, fast, zoo,
                         tuple(tuple(pair) for pair in shows))
        return fn

    return register


def load_cases(zoo: str = "bundled") -> dict[str, Case]:
    """Import every module of a zoo's package (each registers its cases) and return that zoo's cases by id:
    `bundled` is benchmarks/zoo/cases/, `real` is benchmarks/zoo/real/, `all` is both."""
    names = list(ZOOS) if zoo == "all" else [zoo]
    for name in names:
        package = importlib.import_module(ZOOS[name][0])
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package.__name__}.{info.name}")
    families = FAMILIES + REAL_FAMILIES
    chosen = [c for c in CASES.values() if c.zoo in names]
    order = sorted(chosen, key=lambda c: (c.zoo != "bundled", c.healthy, families.index(c.family)))  # file order kept
    return {c.id: c for c in order}
