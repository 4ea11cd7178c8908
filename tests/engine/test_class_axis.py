"""Where the classes are: the axis of a classifier's output that the targets lack, for a function loss too (a
segmentation net's (B, C, H, W) logits against (B, H, W) masks hold the classes on axis 1, not on the image width);
when two axes fit, the loss itself tells which (a confident output along the class axis gets the lowest loss)."""
from __future__ import annotations

import os
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nndoctor
from conftest import assert_silent
from nndoctor.engine.context import Context
from nndoctor.engine.runner import prepare
from nndoctor.engine.subject import Subject, optimizer_factory
from nndoctor.probes.losses import class_axis, classifier_axis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.zoo.registry import load_cases  # noqa: E402


def segmentation_ce(out, mask):
    return F.cross_entropy(out, mask)  # (B, C, H, W) against (B, H, W)


def lm_ce(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))  # (B*T, V), (B*T,)


def test_a_segmentation_output_holds_its_classes_on_axis_1_for_a_function_loss():
    out, mask = torch.randn(4, 3, 16, 12), torch.randint(0, 3, (4, 16, 12))
    assert class_axis(out, mask, segmentation_ce) == 1 and classifier_axis(out, mask, segmentation_ce) == 1


@pytest.mark.parametrize("loss,shape,axis", [(segmentation_ce, (4, 8, 8, 8), 1), (nn.CrossEntropyLoss(),
                         (4, 8, 8, 8), 1), (lm_ce, (4, 8, 8), 2)], ids=["seg-function", "seg-module", "lm"])
def test_when_two_axes_fit_the_loss_tells_which(loss, shape, axis):
    """C == H == W (or T == V): both axis 1 and the last leave the target's shape; the loss decides."""
    g = torch.Generator().manual_seed(0)
    out = torch.randn(*shape, generator=g)
    targets = torch.randint(0, shape[axis], shape[:axis] + shape[axis + 1:], generator=g)
    assert class_axis(out, targets, loss) == axis


def test_targets_the_loss_flattens_are_matched_by_count():
    out, flat = torch.randn(4, 3, 16, 12), torch.randint(0, 3, (4 * 16 * 12,))
    assert classifier_axis(out, flat, lambda o, t: F.cross_entropy(o.permute(0, 2, 3, 1).reshape(-1, 3), t)) == 1


def unet_case(case_id):
    return load_cases("real")[case_id].build()


def test_the_context_counts_the_segmentation_classes_not_the_image_width():
    kwargs = unet_case("unet-healthy-adam")
    ctx = Context(Subject(model=kwargs["model"], data=kwargs["data"], loss=kwargs["loss"],
                          optimizer=optimizer_factory(kwargs["optimizer"], model=kwargs["model"])))
    prepare(ctx)
    assert ctx.probe_error is None and ctx.task == "classification"
    assert ctx.output_shape == (16, 3, 16, 16) and ctx.num_classes == 3


@pytest.mark.parametrize("case_id", ["unet-healthy", "unet-healthy-adam"])
def test_a_healthy_unet_passes_every_check(case_id):
    report = nndoctor.diagnose(**unet_case(case_id), device="cpu")
    assert_silent(report, "chance-loss", "input-sanity", "loss-inputs", "overfit-one-batch",
                  skipped={"train-step": "no train_step given"})


@pytest.mark.parametrize("case_id,code", [("unet-mask-255", "ND105"), ("unet-softmax-before-ce", "ND202")])
def test_a_broken_unet_is_diagnosed_first(case_id, code):
    report = nndoctor.diagnose(**unet_case(case_id), device="cpu")
    assert report.findings and report.findings[0].code == code, [f.code for f in report.findings]
