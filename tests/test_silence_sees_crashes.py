"""A "stays silent on a healthy setup" test must fail when its check crashes: no finding is also what a check that
never ran reports. `assert_silent` (tests/conftest.py) is what every silence test asserts; here it is shown to see
crashes, time-outs and unexpected skips, and one real silence test per built-in check is run with every check's
`run` made to raise (the NNDOCTOR_TEST_BREAK_CHECKS switch) and must fail, naming its check.

By hand, the whole check suite: `NNDOCTOR_TEST_BREAK_CHECKS=1 python -m pytest tests/checks` (every silence test
fails; only tests that run no check pass).
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from nndoctor.engine.registry import all_checks
from nndoctor.report import CheckResult, Finding, Report

from conftest import BREAK_CHECKS, ROOT, assert_silent, broken_checks

# One silence test per built-in check: a healthy setup on which it runs alone and finds nothing.
REPRESENTATIVE = {
    "activations": "tests/checks/test_activations.py::test_silent_on_confident_output_sigmoid",
    "batch-independence": "tests/checks/test_batch_independence.py::test_silent_on_in_batch_negatives",
    "chance-loss": "tests/checks/test_chance_loss.py::test_silent_on_healthy_setups[class-weights]",
    "data-splits": "tests/checks/test_data_splits.py::test_nd110_silent_when_val_comes_from_the_same_distribution",
    "ddp-data": "tests/distributed/test_judging.py::test_silent_on_a_healthy_pair_of_ranks[ddp-data]",
    "ddp-model": "tests/distributed/test_judging.py::test_silent_on_a_healthy_pair_of_ranks[ddp-model]",
    "ddp-ranks": "tests/distributed/test_judging.py::test_silent_on_a_healthy_pair_of_ranks[ddp-ranks]",
    "ddp-sync": "tests/distributed/test_judging.py::test_silent_on_a_healthy_pair_of_ranks[ddp-sync]",
    "forward-probe": "tests/checks/test_forward_probe.py::test_silent_when_one_step_runs",
    "gradient-flow": "tests/checks/test_gradient_flow.py::test_silent_on_healthy[sgd-momentum]",
    "input-sanity": "tests/checks/test_input_sanity.py::test_silent_on_healthy_classification",
    "loss-inputs": "tests/checks/test_loss_inputs.py::test_silent_on_right_class_pairings[ce]",
    "nan-tracing": "tests/checks/test_nan_tracing.py::test_silent_on_healthy_and_on_an_attention_mask",
    "overfit-one-batch": "tests/checks/test_overfit_batch.py::test_silent_on_healthy[label-smoothing]",
    "random-input": "tests/checks/test_random_input.py::test_silent_on_healthy_setups[mlp]",
    "train-eval": "tests/checks/test_train_eval.py::test_silent_on_healthy_setups[batchnorm-dropout]",
    "train-step": "tests/checks/test_train_step.py::test_silent_on_correct_steps[correct]",
    "unregistered-params": "tests/checks/test_unregistered_params.py::test_silent_on_a_learnable_loss_module",
}


def builtin_names() -> set[str]:
    return {name for name, cls in all_checks().items() if cls.__module__.startswith("nndoctor.checks.")}


def report(*checks: CheckResult, findings=()) -> Report:
    return Report(findings=list(findings), checks=list(checks))


def finding(code: str, severity: str = "", check: str = "input-sanity") -> Finding:
    return Finding(code, "a title", {}, fix="a fix", severity=severity, check=check)


# -- the helper --------------------------------------------------------------------------------------------------
def test_a_check_that_ran_and_found_nothing_is_silent():
    r = report(CheckResult("input-sanity", "passed"))
    assert assert_silent(r, "input-sanity") is r
    assert_silent(r)  # every check in the report ran to its end


@pytest.mark.parametrize("status, detail", [("crashed", "RuntimeError: boom at checks/x.py:3 in run"),
                                            ("timeout", "stopped after its time box of 60 s"),
                                            ("interrupted", "interrupted")])
def test_a_check_that_did_not_finish_fails_with_its_detail(status, detail):
    r = report(CheckResult("input-sanity", status, detail=detail))
    with pytest.raises(AssertionError, match=f"input-sanity {status}: {detail}"):
        assert_silent(r, "input-sanity")
    with pytest.raises(AssertionError, match=f"input-sanity {status}"):
        assert_silent(r)  # unnamed, as in a whole-suite run


def test_every_check_in_the_report_must_finish_not_only_the_named_one():
    r = report(CheckResult("forward-probe", "crashed", detail="KeyError: 'x'"), CheckResult("input-sanity", "passed"))
    with pytest.raises(AssertionError, match="forward-probe crashed: KeyError"):
        assert_silent(r, "input-sanity")


def test_the_named_check_must_be_in_the_report():
    with pytest.raises(AssertionError, match="activations: not in the report"):
        assert_silent(report(CheckResult("input-sanity", "passed")), "activations")
    with pytest.raises(AssertionError, match="no check ran"):
        assert_silent(report())


def test_a_skip_passes_only_when_expected_and_for_its_reason():
    skipped = CheckResult("train-step", "skipped", detail="no train_step given (config key `train_step: module:fn`)")
    with pytest.raises(AssertionError, match="train-step skipped unexpectedly: no train_step given"):
        assert_silent(report(skipped))
    assert_silent(report(skipped), skipped={"train-step": "no train_step given"})
    with pytest.raises(AssertionError, match="skipped, but not because 'the forward step fails'"):
        assert_silent(report(skipped), skipped={"train-step": "the forward step fails"})
    with pytest.raises(AssertionError, match="expected to be skipped .* but it passed"):
        assert_silent(report(CheckResult("train-step", "passed")), skipped={"train-step": "no train_step given"})
    with pytest.raises(AssertionError, match="expected to be skipped .* but it crashed"):
        assert_silent(report(CheckResult("train-step", "crashed", detail="boom")),
                      skipped={"train-step": "no train_step given"})
    with pytest.raises(TypeError, match="both required to run and skipped"):
        assert_silent(report(skipped), "train-step", skipped={"train-step": "no train_step given"})


def test_an_interrupted_run_is_not_silence():
    r = Report(findings=[], checks=[CheckResult("input-sanity", "passed")], interrupted=True)
    with pytest.raises(AssertionError, match="interrupted"):
        assert_silent(r, "input-sanity")


def test_findings_at_or_above_fail_on_fail():
    ran = CheckResult("input-sanity", "failed")
    with pytest.raises(AssertionError, match="ND103 warning from input-sanity"):
        assert_silent(report(ran, findings=[finding("ND103", "warning")]), "input-sanity")
    note = report(CheckResult("input-sanity", "passed"), findings=[finding("ND107", "info")])
    assert_silent(note, "input-sanity")  # a note is not noise by default
    with pytest.raises(AssertionError, match="ND107 info"):
        assert_silent(note, "input-sanity", fail_on="info")
    assert_silent(report(ran, findings=[finding("ND103", "warning")]), "input-sanity", fail_on="error")
    with pytest.raises(ValueError, match="fail_on"):
        assert_silent(note, fail_on="warnings")


def test_codes_name_what_must_be_absent_at_any_severity():
    r = report(CheckResult("input-sanity", "failed"), findings=[finding("ND103", "error"), finding("ND107", "info")])
    assert_silent(r, "input-sanity", codes=["ND106"])  # other findings are the test's business
    with pytest.raises(AssertionError, match="ND107 info"):
        assert_silent(r, "input-sanity", codes=["ND106", "ND107"])
    with pytest.raises(TypeError, match="not both"):
        assert_silent(r, "input-sanity", codes=["ND106"], fail_on="info")


# -- the switch --------------------------------------------------------------------------------------------------
def test_the_switch_names_every_builtin_check_or_some():
    assert {cls.name for cls in broken_checks("1")} == builtin_names()
    assert [cls.name for cls in broken_checks("activations, train-step")] == ["activations", "train-step"]
    with pytest.raises(pytest.UsageError, match="no built-in check"):
        broken_checks("activation")


def test_every_builtin_check_has_a_representative_silence_test():
    assert set(REPRESENTATIVE) == builtin_names()


def test_silence_tests_fail_when_their_check_crashes(tmp_path):
    """Every check's `run` raises: each representative silence test must fail, naming its own check's crash."""
    junit = tmp_path / "junit.xml"
    env = {**os.environ, BREAK_CHECKS: "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                           *REPRESENTATIVE.values()], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    outcomes = outcomes_in(junit)
    for check, test_id in REPRESENTATIVE.items():
        assert test_id in outcomes, f"{test_id} did not run:\n{done.stdout[-2000:]}"
        failure = outcomes[test_id]
        assert failure is not None, f"{test_id} passed although {check} crashed"
        assert f"{check} crashed: BrokenOnPurpose" in failure, failure
    assert done.returncode == 1  # tests failed; not a usage or collection error


def outcomes_in(junit) -> dict[str, str | None]:
    """Test id -> the failure text (None: it passed), read from pytest's JUnit XML."""
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        path = case.get("classname").replace(".", "/") + ".py"
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        out[f"{path}::{case.get('name')}"] = None if bad is None else f"{bad.get('message')}\n{bad.text}"
    return out
