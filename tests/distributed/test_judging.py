"""The ND7xx checks on evidence made by hand: each code from the measurement that shows it, silence on a healthy
pair of ranks, and the thresholds from the options. (The measurements themselves: test_ranks.py, on 2 gloo ranks.)"""
from __future__ import annotations

import pytest

from nndoctor.distributed.driver import judge, merge
from nndoctor.report.model import UNFINISHED
from nndoctor.distributed.evidence import RankOutcome, differing, overlap, relative_gap

from conftest import assert_silent
from ddp_helpers import healthy_rank, ranks_ctx


def judged(ctx, select=(), options=None):
    """The merged report of the ND7xx checks alone on `ctx` (no single-process part); every check ran to its end,
    so that an empty list of findings is a verdict, not a crash."""
    report = merge(None, judge(ctx, list(select), [], options or {}, False, 0, 30.0, None), ctx, "config.yaml",
                   "error", 0.1)
    unfinished = [f"{c.name} {c.status}: {c.detail}" for c in report.checks if c.status in UNFINISHED]
    assert not unfinished, "; ".join(unfinished)
    return report


def codes_of(report) -> list[str]:
    return [f.code for f in report.findings]


@pytest.mark.parametrize("check", ["ddp-data", "ddp-model", "ddp-ranks", "ddp-sync"])
def test_silent_on_a_healthy_pair_of_ranks(check):
    report = judged(ranks_ctx(healthy_rank(0), healthy_rank(1)), select=[check])
    assert_silent(report, check)
    assert [r["status"] for r in report.distributed["ranks"]] == ["reported", "reported"]


def test_fingerprint_arithmetic():
    assert relative_gap([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0.0
    assert relative_gap([1.0, 2.0, 3.0], [1.0, 2.0, 3.3]) == pytest.approx(0.3 / 3.3)
    assert differing([{"a": [1, 1, 1], "b": [2, 2, 2]}, {"a": [1, 1, 1], "b": [2, 2, 2.1]}], 1e-3) == \
        {"b": pytest.approx(0.1 / 2.1)}
    assert overlap([1, 2, 3, 4], [3, 4, 5, 6, 7, 8]) == 0.5 and overlap([], [1]) == 0.0


def test_nd701_from_the_sampler_indices_and_only_over_one_dataset():
    a, b = healthy_rank(0), healthy_rank(1)
    b.indices = list(a.indices)  # both ranks index the whole of one dataset
    assert codes_of(judged(ranks_ctx(a, b))) == ["ND701"]
    b.dataset_key = "96:other"  # ranks indexing datasets of their own: the indices say nothing; the samples decide
    assert codes_of(judged(ranks_ctx(a, b))) == []
    b.samples = list(a.samples)
    assert codes_of(judged(ranks_ctx(a, b))) == ["ND701"]


def test_nd701_threshold_is_the_option():
    a, b = healthy_rank(0), healthy_rank(1)
    b.indices = a.indices[:128] + b.indices[128:]  # half of rank 1's indices are rank 0's
    assert codes_of(judged(ranks_ctx(a, b), options={"ddp-data": {"max_overlap": 0.4}})) == ["ND701"]
    assert codes_of(judged(ranks_ctx(a, b), options={"ddp-data": {"max_overlap": 0.6}})) == []


def test_nd710_names_the_counts_per_rank():
    a, b = healthy_rank(0), healthy_rank(1)
    a.batches_per_epoch, b.batches_per_epoch = 11, 3
    (finding,) = judged(ranks_ctx(a, b)).findings
    assert finding.code == "ND710" and finding.evidence["batches_per_epoch"] == {"0": 11, "1": 3}


def test_nd702_only_where_an_endless_loader_repeats_its_epoch():
    a, b = healthy_rank(0), healthy_rank(1)
    for e in (a, b):
        e.batches_per_epoch, e.indices = None, None  # an endless stream: no len, no sampler to read
        e.samples = e.samples[:32] * 4  # its first epoch (one batch of 32 samples), again and again
    assert codes_of(judged(ranks_ctx(a, b))) == ["ND702"]
    a.batches_per_epoch = b.batches_per_epoch = 8  # a sized loader is never taken across an epoch: nothing said
    assert codes_of(judged(ranks_ctx(a, b))) == []


def test_nd703_at_the_start_is_decided_before_nd705():
    a, b = healthy_rank(0), healthy_rank(1)
    b.params_start["0.weight"] = [1.6, 3.2, 0.25]
    for e in (a, b):
        e.steps[0]["grad_sq"], e.steps[0]["grad_dot_reference"] = 1.25, 2.5  # k = 0.5: it would read as ND705
    report = judged(ranks_ctx(a, b))
    assert codes_of(report) == ["ND703"] and report.findings[0].where == "0.weight"


def test_nd703_after_the_steps_on_parameters_only():
    a, b = healthy_rank(0), healthy_rank(1)
    b.params_after["0.bias"] = [0.2, 0.4, 0.05]
    (finding,) = judged(ranks_ctx(a, b)).findings
    assert finding.code == "ND703" and finding.evidence["when"] == "after the training steps"


def test_nd704_names_the_step_and_the_gradients():
    a, b = healthy_rank(0), healthy_rank(1)
    b.steps[0]["grads"]["0.weight"] = [0.02, 0.004, 0.002]
    (finding,) = judged(ranks_ctx(a, b)).findings
    assert (finding.code, finding.where, finding.evidence["step"]) == ("ND704", "0.weight", 1)


@pytest.mark.parametrize("grad_sq, expected", [(5.0, ["ND705"]), (1.25, ["ND705"]), (2.5, []), (3.5, [])])
def test_nd705_at_n_or_one_over_n_only(grad_sq, expected):
    a, b = healthy_rank(0), healthy_rank(1)  # mean G . g_r = 2.5: k = grad_sq / 2.5
    for e in (a, b):
        e.steps[0]["grad_sq"] = grad_sq
    assert codes_of(judged(ranks_ctx(a, b))) == expected


def test_nd706_by_name_and_rank_and_a_note_when_ddp_looks_for_them():
    a, b = healthy_rank(0), healthy_rank(1)
    b.unused = ["aux.weight", "aux.bias"]
    (finding,) = judged(ranks_ctx(a, b)).findings
    assert (finding.code, finding.severity) == ("ND706", "error")
    assert finding.evidence["unused_on"] == {"aux.bias": [1], "aux.weight": [1]}
    a.find_unused = b.find_unused = True
    assert [(f.code, f.severity) for f in judged(ranks_ctx(a, b)).findings] == [("ND706", "info")]


@pytest.mark.parametrize("batch, severity", [(4, "error"), (12, "warning"), (32, None)])
def test_nd707_from_the_module_types_and_the_per_rank_batch(batch, severity):
    a, b = healthy_rank(0), healthy_rank(1)
    for e in (a, b):
        e.batch_norms, e.batch_sizes = ["1"], [batch, batch]
    found = [(f.code, f.severity) for f in judged(ranks_ctx(a, b)).findings]
    assert found == ([("ND707", severity)] if severity else [])


def test_nd708_when_a_generator_is_alike_on_every_rank():
    a, b = healthy_rank(0), healthy_rank(1)
    b.rng["torch"] = a.rng["torch"]
    (finding,) = judged(ranks_ctx(a, b)).findings
    assert finding.code == "ND708" and finding.evidence["generators"] == ["torch"]


def test_a_rank_whose_code_raised_is_nd308_naming_it_and_the_waits_are_not_nd709():
    a = healthy_rank(0)
    a.step_error, a.step_error_at, a.step_timed_out = "RuntimeError: Connection closed by peer at x.py:1", 0, True
    outcomes = [RankOutcome(0, "reported"), RankOutcome(1, "crashed", detail="forward: KeyError: 'x' at m.py:3")]
    report = judged(ranks_ctx(a, None, outcomes=outcomes))
    assert codes_of(report) == ["ND308"] and report.findings[0].where == "rank 1"
    assert [r["status"] for r in report.distributed["ranks"]] == ["reported", "crashed"]


def test_nd709_names_the_rank_that_got_least_far():
    a, b = healthy_rank(0), healthy_rank(1)
    a.step_error, a.step_error_at, a.step_timed_out = "RuntimeError: Timed out waiting 4000ms at t.py:20", 0, True
    b.step_error, b.step_error_at, b.step_timed_out = "RuntimeError: Timed out waiting 4000ms at ddp.py:9", 1, True
    (finding,) = judged(ranks_ctx(a, b)).findings
    assert (finding.code, finding.where) == ("ND709", "rank 0") and "step 1" in finding.title


def test_nd709_for_a_rank_that_sent_nothing():
    outcomes = [RankOutcome(0, "reported"), RankOutcome(1, "missing", detail="sent nothing within 4 s", stage="start")]
    (finding,) = judged(ranks_ctx(healthy_rank(0), None, outcomes=outcomes)).findings
    assert (finding.code, finding.where) == ("ND709", "rank 1")
