"""The real zoo's tiny ViT (benchmarks/zoo/real/vit.py): healthy as timm/lucidrains write and train it, and the
unregistered tensors and blocks its users report, named as the root cause (ND410 above the eval-mode dropout of
blocks held in a Python list, ND307)."""
from __future__ import annotations

import os
import sys

import pytest

import nndoctor
from conftest import assert_silent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.zoo.registry import load_cases  # noqa: E402


def diagnose(case_id):
    return nndoctor.diagnose(**load_cases("real")[case_id].build(), device="cpu")


def test_a_healthy_vit_passes_every_check():
    assert_silent(diagnose("vit-healthy"), "unregistered-params", "train-eval", "gradient-flow",
                  skipped={"train-step": "no train_step given"})


@pytest.mark.parametrize("case_id", ["vit-cls-token-not-registered", "vit-layers-in-list"])
def test_an_unregistered_part_of_a_vit_is_the_root_cause(case_id):
    codes = [f.code for f in diagnose(case_id).findings]
    assert codes and codes[0] == "ND410", codes
