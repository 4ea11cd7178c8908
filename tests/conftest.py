"""Shared fixtures: tiny models and data built in memory; `assert_silent`, what every "stays silent on a healthy
setup" test asserts; and the NNDOCTOR_TEST_BREAK_CHECKS switch that makes checks crash, to prove those tests see it.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nndoctor.report import SEVERITIES, SEVERITY_ORDER

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
BREAK_CHECKS = "NNDOCTOR_TEST_BREAK_CHECKS"  # "1" (every built-in check) or check names, comma-separated
FINISHED = ("passed", "failed")  # a check that ran to its end ("failed": it reported a warning or an error)


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


# -- silence that means something -------------------------------------------------------------------------------
def assert_silent(report, *checks: str, codes: Iterable[str] | None = None, fail_on: str | None = None,
                  skipped: dict[str, str] | None = None):
    """Assert a healthy setup was found healthy by checks that ran: a finding's absence means nothing when the
    check that would have made it crashed.

    - `checks`: the checks the test is about; each must be in the report and have run to its end, not skipped.
    - Every check in the report, named or not (the whole suite, where the test runs it), must have run to its end
      (passed, or failed on a finding the rule below lets through), or be one of `skipped`: {check name: a part
      of the reason it is expected to be skipped for}; each of those must be skipped, for that reason. A crashed,
      timed-out or interrupted check fails the test with its detail.
    - No finding at `fail_on` or above ("warning" by default, as `assert_healthy`; "info": no finding at all);
      or, with `codes`, no finding of those codes at any severity (the others are then the test's business).
    Returns the report.
    """
    __tracebackhide__ = True  # pytest shows the test's line
    skipped = dict(skipped or {})
    if codes is not None and fail_on is not None:
        raise TypeError("assert_silent: give `codes` or `fail_on`, not both")
    if fail_on is not None and fail_on not in SEVERITIES:
        raise ValueError(f"assert_silent: fail_on must be one of {SEVERITIES}, not {fail_on!r}")
    if set(checks) & set(skipped):
        raise TypeError(f"assert_silent: {sorted(set(checks) & set(skipped))} both required to run and skipped")
    problems = _unfinished(report, checks, skipped)
    noisy = _noisy(report.findings, codes, fail_on or "warning")
    if noisy:
        problems.append("findings on a healthy setup: " + "; ".join(
            f"{f.code} {f.severity} from {f.check} at {f.where}: {f.title}" for f in noisy))
    if problems:
        raise AssertionError("not silent, or silent without having looked:\n  " + "\n  ".join(problems))
    return report


def _unfinished(report, required: tuple[str, ...], skipped: dict[str, str]) -> list[str]:
    """What keeps a report's silence from counting: checks missing, skipped unexpectedly, or not run to the end."""
    results = {c.name: c for c in report.checks}
    problems = [f"{name}: not in the report (select it)" for name in [*required, *skipped] if name not in results]
    if not report.checks:
        problems.append("no check ran")
    if report.interrupted:
        problems.append("the run was interrupted")
    for c in report.checks:
        reason = skipped.get(c.name)
        if reason is not None and c.status != "skipped":
            problems.append(f"{c.name}: expected to be skipped ({reason!r}), but it {c.status}")
        elif reason is not None and reason not in (c.detail or ""):
            problems.append(f"{c.name}: skipped, but not because {reason!r}: {c.detail}")
        elif reason is None and c.status == "skipped":
            problems.append(f"{c.name} skipped unexpectedly: {c.detail}")
        elif reason is None and c.status not in FINISHED:
            problems.append(f"{c.name} {c.status}: {c.detail}")
    return problems


def _noisy(findings, codes: Iterable[str] | None, fail_on: str) -> list:
    if codes is not None:
        banned = set([codes] if isinstance(codes, str) else codes)
        return [f for f in findings if f.code in banned]
    return [f for f in findings if SEVERITY_ORDER[f.severity] <= SEVERITY_ORDER[fail_on]]


class BrokenOnPurpose(RuntimeError):
    """What a check raises under NNDOCTOR_TEST_BREAK_CHECKS."""


def _crash(self, ctx):
    raise BrokenOnPurpose(f"{self.name} broken on purpose by {BREAK_CHECKS}")


def broken_checks(value: str) -> list[type]:
    """The built-in checks NNDOCTOR_TEST_BREAK_CHECKS names: "1" or "all" for every one, else names by comma."""
    from nndoctor.engine.registry import all_checks

    builtin = {name: cls for name, cls in all_checks().items() if cls.__module__.startswith("nndoctor.checks.")}
    if value.strip() in ("1", "all"):
        return list(builtin.values())
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in builtin]
    if unknown:
        raise pytest.UsageError(f"{BREAK_CHECKS}: no built-in check {unknown}; one of {', '.join(builtin)}")
    return [builtin[n] for n in names]


@pytest.fixture(autouse=True)
def _break_checks(monkeypatch):
    """Under NNDOCTOR_TEST_BREAK_CHECKS, the named checks' `run` raises: every silence test of theirs must fail
    (tests/test_silence_sees_crashes.py runs a few so; the whole suite can be run so by hand)."""
    value = os.environ.get(BREAK_CHECKS, "")
    if value:
        for cls in broken_checks(value):
            monkeypatch.setattr(cls, "run", _crash)
