"""`nndoctor run CONFIG --nproc 2` on 2 gloo ranks, end to end: the healthy example exits 0, each broken example
exits 1 with its code first, a rank that raises is ND308 naming it, one that hangs is ND709 within the timeout,
no rank outlives the run, and torchrun starts the same ranks.

The broken examples run only the ND7xx checks (`--select` of the four): their single-process findings are the
other tests' business. Collectives time out after a few seconds here (NNDOCTOR_COLLECTIVE_TIMEOUT)."""
from __future__ import annotations

import os
import shutil
import sys

import pytest

from ddp_helpers import EXAMPLES, SETUPS, TIMEOUT, nndoctor, processes_of

DDP_CHECKS = "ddp-data,ddp-model,ddp-ranks,ddp-sync"
BROKEN = {  # example -> the code it must show first
    "no_sampler": "ND701",
    "endless_no_set_epoch": "ND702",
    "params_edited_after_wrap": "ND703",
    "no_sync_every_micro_step": "ND704",
    "loss_divided_by_world_size": "ND705",
    "branch_unused_on_some_ranks": "ND706",
    "batchnorm_small_per_rank": "ND707",
    "same_seed_every_rank": "ND708",
    "barrier_on_rank0": "ND709",
    "uneven_shards": "ND710",
}


def config(name: str) -> str:
    return os.path.join(EXAMPLES, name, "config.yaml")


def test_the_healthy_example_is_healthy_on_two_ranks_with_every_check():
    ran = nndoctor("run", config("healthy"), "--nproc", "2")
    assert ran.code == 0, ran.stderr[-2000:]
    report = ran.report
    assert report["status"] == "healthy" and report["findings"] == []
    names = [c["name"] for c in report["checks"]]
    assert len(names) == len(set(names)), "a single-process check ran (and was reported) more than once"
    assert {"ddp-data", "ddp-sync", "overfit-one-batch"} <= set(names)
    ranks = report["distributed"]["ranks"]
    assert report["distributed"]["world_size"] == 2 and report["distributed"]["backend"] == "gloo"
    assert [r["status"] for r in ranks] == ["reported", "reported"]
    assert ranks[0]["checks"]["overfit-one-batch"] == "passed" and "overfit-one-batch" not in ranks[1]["checks"]
    assert processes_of(ran.launcher_pid) == []


# Four examples end to end in the default suite (sharding, parameters, gradient scale, uneven batches); the other
# six are `slow` (about 6 s each: three processes import torch), run by `make test-slow` and by CI (.ci/run).
IN_DEFAULT_SUITE = {"no_sampler", "params_edited_after_wrap", "loss_divided_by_world_size", "uneven_shards"}


@pytest.mark.parametrize("name", [n if n in IN_DEFAULT_SUITE else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(BROKEN)])
def test_each_broken_example_exits_1_with_its_code_first(name):
    ran = nndoctor("run", config(name), "--nproc", "2", "--select", DDP_CHECKS)
    assert ran.code == 1, ran.stderr[-2000:]
    assert ran.codes[:1] == [BROKEN[name]], ran.report["findings"]
    assert processes_of(ran.launcher_pid) == []


def test_a_rank_whose_factory_raises_is_nd308_naming_the_rank_and_its_frame():
    ran = nndoctor("run", os.path.join(SETUPS, "raises_on_rank1.yaml"), "--nproc", "2", "--select", DDP_CHECKS)
    assert ran.code == 1, ran.stderr[-2000:]
    first = ran.report["findings"][0]
    assert (first["code"], first["where"]) == ("ND308", "rank 1")
    assert "KeyError: 'vocab_rank1'" in first["title"] and "ranks.py:14" in first["evidence"]["error"]


def test_a_step_that_raises_on_one_rank_is_nd308_and_the_other_rank_does_not_wait_for_the_timeout():
    ran = nndoctor("run", os.path.join(SETUPS, "step_raises_on_rank1.yaml"), "--nproc", "2", "--select", DDP_CHECKS,
                   env={"NNDOCTOR_COLLECTIVE_TIMEOUT": "60"})
    assert ran.code == 1, ran.stderr[-2000:]
    first = ran.report["findings"][0]
    assert (first["code"], first["where"]) == ("ND308", "rank 1") and "IndexError" in first["title"]
    assert ran.seconds < 60, "rank 0 waited for the timeout instead of seeing rank 1 end"


def test_a_rank_that_hangs_is_nd709_within_the_timeout_and_is_stopped():
    ran = nndoctor("run", os.path.join(SETUPS, "hangs_on_rank1.yaml"), "--nproc", "2", "--select", DDP_CHECKS)
    assert ran.code == 1, ran.stderr[-2000:]
    first = ran.report["findings"][0]
    assert (first["code"], first["where"]) == ("ND709", "rank 1")
    assert ran.seconds < 60 + 6 * float(TIMEOUT)  # start-up, a few timeouts and the grace: not the rank's 600 s
    assert processes_of(ran.launcher_pid) == []


def test_under_torchrun_the_ranks_come_from_its_environment():
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    assert shutil.which(torchrun), "torchrun is installed with torch"
    import subprocess

    done = subprocess.run([torchrun, "--nproc-per-node", "2", "-m", "nndoctor", "run", config("no_sampler"),
                           "--format", "json", "--select", DDP_CHECKS], capture_output=True, text=True, timeout=150,
                          env={**os.environ, "NNDOCTOR_COLLECTIVE_TIMEOUT": TIMEOUT})
    import json

    report = json.loads(done.stdout)
    assert [f["code"] for f in report["findings"]][:1] == ["ND701"]
    assert report["distributed"]["world_size"] == 2


def test_a_bad_config_is_one_line_and_exit_2_before_any_rank_starts(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text("model: train:model\ndata: train:train_loader\nloss: torch.nn:CrossEntropyLoss\noptimiser: x:y\n")
    ran = nndoctor("run", str(bad), "--nproc", "2")
    assert ran.code == 2 and ran.report is None
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert lines == [f"nndoctor: error: {bad}:4: key 'optimiser': unknown key; did you mean 'optimizer'?"]
