"""A verdict a CI gate can trust: exit 0 means every selected check ran and found nothing at or above --fail-on.

Each case is a fault a user's setup (or nndoctor itself) can have; each asserts the status, the exit code, and
that the report names what did not finish, first.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from conftest import make_classification, mlp
from torch import nn

import nndoctor
from nndoctor import Check
from nndoctor.engine import registry
from nndoctor.report import CheckResult, ExitCode, Finding, Report

CHEAP = ["forward-probe", "loss-inputs", "chance-loss"]


def f(code, severity=""):
    return Finding(code=code, title="t", evidence={}, fix="x", severity=severity)


# -- the report model -----------------------------------------------------------------------------------------
def test_incomplete_is_never_healthy_and_exits_4():
    crashed = [CheckResult("a", "passed"), CheckResult("b", "crashed", detail="ZeroDivisionError at x.py:1")]
    r = Report([], crashed)
    assert r.status == "incomplete" and r.exit_code() == ExitCode.INCOMPLETE == 4 and not r.ok
    for status in ("timeout", "blocked", "interrupted"):
        assert Report([], [CheckResult("a", status)]).status == "incomplete"
    assert Report([], [CheckResult("a", "skipped", detail="no train_step")]).status == "healthy"


def test_a_finding_at_fail_on_outranks_incomplete():
    unfinished = [CheckResult("b", "crashed")]
    assert Report([f("ND401")], unfinished).exit_code() == ExitCode.FINDINGS  # 1 before 4
    warn = Report([f("ND103", "warning")], unfinished)
    assert warn.status == "incomplete" and warn.exit_code() == ExitCode.INCOMPLETE  # a warning is below --fail-on
    warn_gate = Report([f("ND103", "warning")], unfinished, fail_on="warning")
    assert warn_gate.status == "warnings" and warn_gate.exit_code() == ExitCode.FINDINGS


def test_verdict_line_names_the_unfinished_checks_first():
    r = Report([f("ND103", "warning")], [CheckResult("gradient-flow", "crashed", detail="ZeroDivisionError")])
    first = str(r).splitlines()[0]
    assert first.startswith("✗ incomplete: 1 of 1 checks did not finish: gradient-flow: crashed")
    assert json.loads(r.to_json())["status"] == "incomplete"


# -- the runner ----------------------------------------------------------------------------------------------
class _Broken(Check):
    """Always crashes (test double)."""
    name = "test-verdict-broken"
    codes = ("ND102",)

    def run(self, ctx):
        raise RuntimeError("bug inside nndoctor")


@pytest.fixture
def broken_check():
    reg = registry.all_checks()
    reg[_Broken.name] = _Broken
    yield _Broken.name
    reg.pop(_Broken.name, None)


def test_a_crashed_check_makes_the_run_incomplete(broken_check):
    r = nndoctor.diagnose(mlp(), make_classification(), nn.CrossEntropyLoss(), device="cpu",
                          select=["forward-probe", broken_check])
    assert r.status == "incomplete" and r.exit_code() == 4
    assert {c.name: c.status for c in r.checks} == {"forward-probe": "passed", broken_check: "crashed"}


class ThirdBatchFails(nn.Module):
    """Raises only on the third batch: the probe reads every batch, so this is ND308, not a silent pass."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls % 8 == 3:
            raise RuntimeError("bad sample in batch 3")
        return self.lin(x)


def test_forward_that_fails_on_a_later_batch_is_found():
    r = nndoctor.diagnose(ThirdBatchFails(), make_classification(), nn.CrossEntropyLoss(), device="cpu")
    assert r.findings[0].code == "ND308" and "bad sample in batch 3" in r.findings[0].title
    assert r.exit_code() == ExitCode.FINDINGS


@pytest.mark.parametrize("kwargs", [{"time_box": float("inf")}, {"time_box": 0}, {"deadline": float("nan")},
                                    {"deadline": -1}])
def test_time_limits_must_be_finite(kwargs):
    with pytest.raises(ValueError, match="finite number of seconds"):
        nndoctor.diagnose(mlp(), make_classification(), nn.CrossEntropyLoss(), device="cpu", **kwargs)


@pytest.mark.parametrize("select,ignore,words", [(["ND6"], [], "loss-curve code"), (["ND601"], [], "loss-curve code"),
                                                ([], ["ND"], "leaves no check to run"),
                                                (["input-sanity"], ["input-sanity"], "leaves no check to run")])
def test_an_empty_selection_is_a_usage_error(select, ignore, words):
    with pytest.raises(ValueError, match=words):
        nndoctor.diagnose(mlp(), make_classification(), nn.CrossEntropyLoss(), device="cpu", select=select,
                          ignore=ignore)


def test_a_run_selector_suggests_only_codes_a_check_emits():
    # the nearest emitted codes to ND999 are ND409 and the distributed checks' ND709, never a curve code (ND609)
    with pytest.raises(ValueError, match="did you mean 'ND[47]09'"):
        nndoctor.diagnose(mlp(), make_classification(), nn.CrossEntropyLoss(), device="cpu", select=["ND999"])


class Sleeps(nn.Module):
    def __init__(self, seconds):
        super().__init__()
        self.lin = nn.Linear(8, 3)
        self.seconds = seconds

    def forward(self, x):
        time.sleep(self.seconds)
        return self.lin(x)


def test_a_forward_that_never_returns_is_stopped_and_reported():
    t0 = time.monotonic()
    r = nndoctor.diagnose(Sleeps(1e6), make_classification(), nn.CrossEntropyLoss(), device="cpu", time_box=1,
                          deadline=5)
    took = time.monotonic() - t0
    assert took < 5, took  # the time box (1 s, plus a second of grace) stops it, well inside the deadline
    assert r.status == "incomplete" and r.exit_code() == 4
    assert all(c.status == "blocked" and "did not finish within 1 s" in c.detail for c in r.checks)
    assert not any(f.code == "ND308" for f in r.findings)  # nndoctor's own limit is never the user's exception


def test_the_deadline_blocks_the_checks_it_leaves_no_time_for():
    # Each forward takes 20 ms: the probe (8 batches) fits, the deadline then stops the run after a check or two.
    r = nndoctor.diagnose(Sleeps(0.02), make_classification(), nn.CrossEntropyLoss(), device="cpu", deadline=1.0)
    statuses = {c.name: c.status for c in r.checks}
    assert "blocked" in statuses.values() or "timeout" in statuses.values(), statuses
    assert r.status in ("incomplete", "errors", "warnings") and r.status != "healthy"
    blocked = [c for c in r.checks if c.status == "blocked"]
    assert all("deadline of 1 s" in c.detail for c in blocked)


class ExitsInEval(nn.Module):
    """Calls sys.exit, and raises KeyboardInterrupt, in eval mode only: the probe (train mode) passes."""

    def __init__(self, exc):
        super().__init__()
        self.lin = nn.Linear(8, 3)
        self.exc = exc

    def forward(self, x):
        if not self.training:
            raise self.exc
        return self.lin(x)


@pytest.mark.parametrize("exc,words", [(SystemExit(3), "sys.exit(3)"), (KeyboardInterrupt(), "KeyboardInterrupt")])
def test_user_code_cannot_end_the_run(exc, words):
    r = nndoctor.diagnose(ExitsInEval(exc), make_classification(), nn.CrossEntropyLoss(), device="cpu",
                          select=["train-eval", "forward-probe", "chance-loss"])
    statuses = {c.name: c.status for c in r.checks}
    assert statuses["train-eval"] == "crashed" and words in next(c.detail for c in r.checks if c.name == "train-eval")
    assert statuses["forward-probe"] == "passed" and not r.interrupted  # the run went on
    assert r.status != "healthy"


class SignalsItself(nn.Module):
    """Ctrl-C from the terminal, as the kernel delivers it, in the middle of a check."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 3)

    def forward(self, x):
        if not self.training:
            signal.raise_signal(signal.SIGINT)
        return self.lin(x)


def test_ctrl_c_gives_a_partial_incomplete_report():
    r = nndoctor.diagnose(SignalsItself(), make_classification(), nn.CrossEntropyLoss(), device="cpu",
                          select=["forward-probe", "train-eval", "overfit-one-batch"])
    assert r.interrupted and r.status == "incomplete" and r.exit_code() == ExitCode.INTERRUPTED
    statuses = {c.name: c.status for c in r.checks}
    assert statuses["train-eval"] == "interrupted"
    assert statuses["overfit-one-batch"] == "blocked"  # runs after train-eval: not run after Ctrl-C


# -- the command line ----------------------------------------------------------------------------------------
NOISY = textwrap.dedent("""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    print("hello from the user's module")

    def model():
        print("building the model")
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 3)

        def forward(self, x):
            print("forward!")
            return self.lin(x)

    def data():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 8, generator=g)
        return DataLoader(TensorDataset(x, (x[:, :3]).argmax(1)), batch_size=16, shuffle=True)
""")


def _cli(tmp_path, config: str, *args):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "nndoctor", "run", str(cfg), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_stdout_is_pure_json_whatever_the_users_code_prints(tmp_path):
    (tmp_path / "noisy.py").write_text(NOISY)
    p = _cli(tmp_path, "model: noisy:Net\ndata: noisy:data\nloss: torch.nn:CrossEntropyLoss\n",
             "--format", "json", "--select", "forward-probe,chance-loss")
    report = json.loads(p.stdout)  # nothing but the report
    assert report["status"] in ("healthy", "warnings") and "forward!" in p.stderr and "hello" in p.stderr


@pytest.mark.parametrize("args,words", [(["--select", "ND6"], "loss-curve code"),
                                        (["--ignore", "ND"], "leaves no check"),
                                        (["--time-box", "inf"], "finite number of seconds"),
                                        (["--deadline", "inf"], "finite number of seconds")])
def test_cli_usage_errors_are_one_line(tmp_path, args, words):
    (tmp_path / "noisy.py").write_text(NOISY)
    p = _cli(tmp_path, "model: noisy:model\ndata: noisy:data\nloss: torch.nn:CrossEntropyLoss\n", *args)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == ExitCode.USAGE, p.stderr
    assert words in lines[-1] and "Traceback" not in p.stderr and p.stdout == ""


def test_cli_exit_4_when_a_check_does_not_finish(tmp_path):
    """The gate: a forward too slow for the time box ends incomplete (exit 4), never healthy (exit 0)."""
    (tmp_path / "slow.py").write_text(NOISY + textwrap.dedent("""
        import time

        class Slow(Net):
            def forward(self, x):
                time.sleep(60)
                return self.lin(x)
    """))
    p = _cli(tmp_path, "model: slow:Slow\ndata: slow:data\nloss: torch.nn:CrossEntropyLoss\n",
             "--time-box", "1", "--format", "json")
    assert p.returncode == ExitCode.INCOMPLETE, p.stderr
    assert json.loads(p.stdout)["status"] == "incomplete"


def test_user_rng_untouched_by_the_first_assert_healthy():
    """Lazy imports happen before the RNG snapshot: the caller's `random` stream is the same after the run."""
    code = textwrap.dedent("""
        import random, sys
        sys.path.insert(0, %r)
        from conftest import make_classification, mlp
        from torch import nn
        from nndoctor.testing import assert_healthy
        random.seed(1); expected = [random.random() for _ in range(3)]
        random.seed(1)
        assert_healthy(mlp(), make_classification(), nn.CrossEntropyLoss(), select=["forward-probe"], device="cpu")
        print([random.random() for _ in range(3)] == expected)
    """) % os.path.dirname(os.path.abspath(__file__))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.stdout.strip() == "True", p.stderr


def test_torch_grad_mode_and_threads_restored_after_an_interrupt():
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    nndoctor.diagnose(SignalsItself(), make_classification(), nn.CrossEntropyLoss(), device="cpu",
                      select=["train-eval"])
    assert torch.get_num_threads() == threads and torch.is_grad_enabled() == grad


class _Steps(Check):
    """Records the number of steps it was given (test double)."""
    name = "test-verdict-steps"
    codes = ("ND501",)
    options = {"steps": nndoctor.Option(150, "training steps at most", unit="steps", low=1)}
    seen: list = []

    def run(self, ctx):
        _Steps.seen.append(self.opts["steps"])
        return ()


def test_step_counts_shrink_to_fit_the_deadline_when_a_step_is_slow():
    """A model whose forward takes 50 ms (a training step ~0.15 s): 300 step-equivalents would take 45 s, so a
    20 s deadline (half of it for steps) scales every option declared in steps by about 10/45."""
    reg = registry.all_checks()
    reg[_Steps.name] = _Steps
    _Steps.seen.clear()
    try:
        r = nndoctor.diagnose(Sleeps(0.05), make_classification(n=64), nn.CrossEntropyLoss(), device="cpu",
                              select=[_Steps.name], deadline=20)
        fast = nndoctor.diagnose(mlp(), make_classification(n=64), nn.CrossEntropyLoss(), device="cpu",
                                 select=[_Steps.name], deadline=20)
    finally:
        reg.pop(_Steps.name, None)
    slow_steps, fast_steps = _Steps.seen
    assert fast_steps == 150 and 10 <= slow_steps <= 60, _Steps.seen
    (result,) = r.checks
    assert result.status == "passed" and "shortened to fit the deadline" in result.detail and "steps 150 ->" in \
        result.detail
    assert fast.checks[0].detail is None


# -- the user's code cannot hijack the process ------------------------------------------------------------------
EXITS_AT_IMPORT = NOISY + "\nimport sys\nsys.exit(0)\n"
ARGPARSE_DEFAULTS = NOISY + textwrap.dedent("""
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=16)
    args = parser.parse_args()
""")
ARGPARSE_REQUIRED = NOISY + textwrap.dedent("""
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
""")
DICT_OUTPUT = NOISY + textwrap.dedent("""
    class DictNet(Net):
        def forward(self, x):
            return {"out": self.lin(x), "aux": x.mean()}
""")
BASE_CONFIG = "model: {m}:{attr}\ndata: {m}:data\nloss: torch.nn:CrossEntropyLoss\n"


@pytest.mark.parametrize("source,attr,words", [
    (EXITS_AT_IMPORT, "model", "called sys.exit(0) at"),
    (ARGPARSE_REQUIRED, "model", "called sys.exit(2) at"),
    (DICT_OUTPUT, "DictNet", "set `outputs: out`"),
])
def test_user_code_ending_the_process_or_miswired_is_a_one_line_config_error(tmp_path, source, attr, words):
    (tmp_path / "user_mod.py").write_text(source)
    p = _cli(tmp_path, BASE_CONFIG.format(m="user_mod", attr=attr), "--format", "json")
    assert p.returncode == ExitCode.USAGE, (p.returncode, p.stderr[-2000:])
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("nndoctor: error: ") and words in last and "Traceback" not in p.stderr, last
    assert p.stdout == ""


def test_argparse_at_import_gets_its_own_defaults_not_nndoctors_arguments(tmp_path):
    (tmp_path / "user_mod.py").write_text(ARGPARSE_DEFAULTS)
    p = _cli(tmp_path, BASE_CONFIG.format(m="user_mod", attr="model"), "--format", "json", "--select",
             "forward-probe")
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads(p.stdout)["status"] == "healthy"


def test_a_warning_from_the_users_loss_is_shown_once(capfd):
    """MSELoss on (N, 1) against (N,) warns on every call: once per distinct message during a run, not per check."""
    def loss(out, y):
        return nn.functional.mse_loss(out, y)  # (N, 1) vs (N,): torch warns about broadcasting

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1)), batch_size=32)
    model = nn.Sequential(nn.Linear(8, 1))
    import warnings as w
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("default")
        nndoctor.diagnose(model, data, loss, device="cpu", select=["loss-inputs", "chance-loss", "forward-probe"])
    texts = [str(c.message) for c in caught if "target size" in str(c.message)]
    assert texts and len(texts) == len(set(texts)), texts
