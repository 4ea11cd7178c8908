"""The distributed rules of the causal table (nndoctor/catalogue/causes.py, ND7xx) on the examples of
examples/distributed/: each example is one mistake, and `nndoctor run --nproc 2` ranks the cause above the effect.
End to end (three processes import torch, ~7 s an example): `slow`.

The ND7xx checks run, and the single-process check that emits the effect (input-sanity for ND108).

Pairs of the table with no example here, because they cannot occur as nndoctor measures (the lead's report has
the file:line argument): ND704 -> ND703 (ddp-sync judges parameters after the steps only when every gradient
matched), ND706 -> ND709 (no training step is taken when ND706 is an error, so no collective can stall), ND710 ->
ND709 (every rank takes the same STEPS steps over the batches it read, whatever len(loader) is).
"""
from __future__ import annotations

import os

import pytest

from ddp_helpers import EXAMPLES, nndoctor, processes_of
from nndoctor.catalogue.causes import EXPLAINS

CHECKS = "ddp-data,ddp-model,ddp-ranks,ddp-sync,input-sanity"
DDP_PAIRS = {
    # the endless stream restarts the sharded loader without set_epoch: 4 batches an epoch, the same 4 again
    ("ND702", "ND108"): "endless_no_set_epoch",
}


def test_ddp_pairs_are_rules_of_the_table():
    assert all(effect in EXPLAINS[cause] for cause, effect in DDP_PAIRS)


@pytest.mark.slow
@pytest.mark.parametrize("pair,name", sorted(DDP_PAIRS.items()), ids=[f"{c}>{e}:{n}" for (c, e), n in
                                                                       sorted(DDP_PAIRS.items())])
def test_ddp_report_puts_the_cause_first(pair, name):
    cause, effect = pair
    ran = nndoctor("run", os.path.join(EXAMPLES, name, "config.yaml"), "--nproc", "2", "--select", CHECKS)
    assert ran.report is not None, ran.stderr[-2000:]
    got = [(f["code"], f["severity"]) for f in ran.report["findings"]]
    codes = [code for code, _ in got]
    assert cause in codes and effect in codes, f"{name} no longer shows {pair}: {got}"
    assert dict(got)[cause] != "info", got  # a note explains nothing
    assert codes.index(cause) < codes.index(effect), got
    assert processes_of(ran.launcher_pid) == []
