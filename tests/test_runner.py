"""The runner: user objects untouched, RNG restored, crashes isolated, time boxes, selection, ND308."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

import nndoctor
from nndoctor import Check
from nndoctor.engine import registry
from nndoctor.engine.runner import selected_checks

from conftest import codes, make_classification, mlp


class _Crashing(Check):
    """Always crashes (test double)."""
    name = "test-crashing"
    codes = ("ND102",)

    def run(self, ctx):
        raise RuntimeError("bug inside a check")


class _Slow(Check):
    """Loops until its time box ends (test double)."""
    name = "test-slow"
    codes = ("ND102",)

    def run(self, ctx):
        yield self.finding("ND102", "found before the time box", {"n": 1}, fix="none")
        while True:
            ctx.check_time()


@pytest.fixture
def extra_checks():
    reg = registry.all_checks()
    reg[_Crashing.name] = _Crashing
    reg[_Slow.name] = _Slow
    yield
    reg.pop(_Crashing.name, None)
    reg.pop(_Slow.name, None)


def test_user_objects_unchanged_and_rng_restored():
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt_state = repr(opt.state_dict())
    model.train()
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(7)
    expect = (torch.rand(3), np.random.rand(), random.random())
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(7)
    report = nndoctor.diagnose(model, make_classification(), nn.CrossEntropyLoss(), opt, device="cpu")
    assert report.complete, report.unfinished  # every check ran on its copies: the objects were really exercised
    got = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(expect[0], got[0]) and expect[1:] == got[1:]
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in model.parameters())
    assert repr(opt.state_dict()) == opt_state
    assert model.training


def test_crash_is_isolated_and_timeout_keeps_findings(extra_checks):
    r = nndoctor.diagnose(mlp(), make_classification(), nn.CrossEntropyLoss(), device="cpu",
                          select=["test-crashing", "test-slow", "input-sanity"], time_box=1.0)
    status = {c.name: c.status for c in r.checks}
    assert status["test-crashing"] == "crashed" and "bug inside a check" in \
        next(c.detail for c in r.checks if c.name == "test-crashing")
    assert status["test-slow"] == "timeout"
    assert status["input-sanity"] == "passed"
    assert "ND102" in codes(r)


def test_select_and_ignore_by_code_prefix_and_name():
    names = {c.name for c in selected_checks(select=["ND1"])}
    assert "input-sanity" in names and "forward-probe" not in names
    assert "input-sanity" not in {c.name for c in selected_checks(ignore=["input-sanity"])}
    x = torch.rand(32, 8) * 255
    data = [(x, torch.randint(0, 3, (32,)))]
    r = nndoctor.diagnose(mlp(), data, nn.CrossEntropyLoss(), device="cpu", select=["input-sanity"],
                          ignore=["ND103"])
    assert "ND103" not in codes(r)
    r = nndoctor.diagnose(mlp(), data, nn.CrossEntropyLoss(), device="cpu", select=["ND103"])
    assert codes(r) == ["ND103"]


def test_forward_failure_is_nd308_with_user_frame():
    model = nn.Sequential(nn.Linear(5, 3))  # the data has 8 features
    r = nndoctor.diagnose(model, make_classification(), nn.CrossEntropyLoss(), device="cpu")
    assert r.findings[0].code == "ND308"
    assert "mat1 and mat2" in r.findings[0].title
    needs_model = {name for name, cls in registry.all_checks().items() if cls.needs_model}
    assert all(c.status == "blocked" for c in r.checks if c.name in needs_model)  # could not run: incomplete


def test_loss_failure_shows_user_frame():
    def my_loss(out, y):
        return nn.functional.mse_loss(out, y)  # float vs long target: raises

    r = nndoctor.diagnose(mlp(), make_classification(), my_loss, device="cpu", select=["forward-probe"])
    (f,) = r.findings
    assert f.code == "ND308" and "test_runner.py" in f.where and "my_loss" in f.where


def test_plugin_entry_point_discovery(monkeypatch):
    """A third-party check registers through the entry-point group, the same way as the built-ins."""
    import sys
    import types
    from importlib.metadata import EntryPoint

    mod = types.ModuleType("nndoctor_test_plugin")
    exec('from nndoctor import Check\n'
         'class P(Check):\n'
         '    """A plugin check."""\n'
         '    name = "plugin-check"\n'
         '    codes = ("ND102",)\n'
         '    def run(self, ctx):\n'
         '        return []\n', mod.__dict__)
    monkeypatch.setitem(sys.modules, "nndoctor_test_plugin", mod)
    eps = registry._entry_points() + [EntryPoint("p", "nndoctor_test_plugin", registry.GROUP)]
    monkeypatch.setattr(registry, "_entry_points", lambda: eps)
    found = registry.all_checks(refresh=True)
    try:
        assert "plugin-check" in found and "input-sanity" in found
    finally:
        monkeypatch.undo()
        registry.all_checks(refresh=True)
