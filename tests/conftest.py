"""Shared fixtures: tiny models and data built in memory."""
from __future__ import annotations

import os
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


def make_classification(n=256, features=8, classes=3, seed=0, batch_size=32, shuffle=True):
    """A learnable problem: labels are a linear function of unit-scale inputs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)  # (N, F)
    w = torch.randn(features, classes, generator=g)
    y = (x @ w).argmax(dim=1)  # (N,)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed))


def mlp(features=8, classes=3, hidden=32):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


@pytest.fixture
def cls_loader():
    return make_classification()


@pytest.fixture
def cls_model():
    return mlp()


def codes(report, severity=None):
    """The codes of a report's findings, optionally only those of one severity or worse."""
    order = {"error": 0, "warning": 1, "info": 2}
    return [f.code for f in report.findings if severity is None or order[f.severity] <= order[severity]]


@pytest.fixture
def example_path():
    def path(name, file="config.yaml"):
        return os.path.join(EXAMPLES, name, file)
    return path


@pytest.fixture(autouse=True)
def _clean_sys_modules():
    """Examples import modules by short names (train, model): forget them between tests."""
    before = set(sys.modules)
    path_before = list(sys.path)
    yield
    for name in set(sys.modules) - before:
        mod = sys.modules.get(name)
        f = getattr(mod, "__file__", None) or ""
        if f.startswith(EXAMPLES):
            del sys.modules[name]
    sys.path[:] = path_before


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny models: one thread is faster and immune to other processes sharing the two cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_example(path, quick=False):
    """The example as `nndoctor run` sees it, in-process: load, seed, build, run every check."""
    from nndoctor.api import run_config

    return run_config(path, device="cpu", quick=quick)
