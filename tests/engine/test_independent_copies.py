"""Copies that are copies: a function held as a module attribute (minGPT's and makemore's
`self.mlpf = lambda x: m.c_proj(m.act(m.c_fc(x)))` over an nn.ModuleDict `m`) is copied by reference by
copy.deepcopy, so the copy would call, and train, the user's modules. nndoctor rebinds such functions to the copy's
modules, and says plainly when it cannot; the user's tensors get no `.grad` either way."""
from __future__ import annotations

import functools
import os
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor
from nndoctor.engine.context import Context
from nndoctor.engine.subject import ModelCopyError, Subject, check_copyable, copy_module, optimizer_factory

from conftest import assert_silent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.zoo.registry import load_cases  # noqa: E402

VOCAB, WIDTH, CONTEXT = 12, 16, 8


class Block(nn.Module):
    """minGPT's block: the MLP's modules in an nn.ModuleDict, called through a lambda closing over it."""

    def __init__(self, style: str = "closure"):
        super().__init__()
        self.ln = nn.LayerNorm(WIDTH)
        self.mlp = nn.ModuleDict(dict(c_fc=nn.Linear(WIDTH, 4 * WIDTH), c_proj=nn.Linear(4 * WIDTH, WIDTH),
                                      act=nn.GELU()))
        m = self.mlp
        if style == "closure":
            self.mlpf = lambda x: m.c_proj(m.act(m.c_fc(x)))
        elif style == "default":
            self.mlpf = lambda x, m=m: m.c_proj(m.act(m.c_fc(x)))
        else:  # a partial of a nested function
            def apply(mlp, x):
                return mlp.c_proj(mlp.act(mlp.c_fc(x)))
            self.mlpf = functools.partial(lambda x: apply(m, x))

    def forward(self, x):
        return x + self.mlpf(self.ln(x))  # (B, T, D)


class TinyGPT(nn.Module):
    def __init__(self, style: str = "closure"):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(wte=nn.Embedding(VOCAB, WIDTH), h=nn.ModuleList([Block(style)])))
        self.lm_head = nn.Linear(WIDTH, VOCAB)

    def forward(self, idx):
        x = self.transformer.wte(idx)  # (B, T, D)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(x)  # (B, T, V)


def gpt(style="closure"):
    torch.manual_seed(0)
    return TinyGPT(style)


def lm_loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))  # (B*T, V), (B*T,)


def tokens(n=64):
    g = torch.Generator().manual_seed(0)
    seq = torch.randint(0, VOCAB, (n, 1), generator=g).repeat(1, CONTEXT + 1)  # (N, T+1)
    seq = (seq + torch.arange(CONTEXT + 1)) % VOCAB  # each token is the previous one plus one: learnable
    return DataLoader(TensorDataset(seq[:, :-1], seq[:, 1:]), batch_size=16)


def backward_reaches(model, reference):
    """Names of `reference`'s parameters that get a gradient from one backward pass of `model`."""
    idx = torch.randint(0, VOCAB, (2, CONTEXT))
    model(idx).sum().backward()
    return [n for n, p in reference.named_parameters() if p.grad is not None]


@pytest.mark.parametrize("style", ["closure", "default", "partial"])
def test_a_copys_lambda_calls_the_copys_modules(style):
    model = gpt(style)
    duplicate = copy_module(model)
    assert backward_reaches(duplicate, model) == []
    assert "transformer.h.0.mlp.c_fc.weight" in [n for n, p in duplicate.named_parameters() if p.grad is not None]
    with torch.no_grad():  # and it computes with the copy's weights
        duplicate.transformer.h[0].mlp.c_proj.weight.zero_()
        duplicate.transformer.h[0].mlp.c_proj.bias.zero_()
        x = torch.randn(3, WIDTH)
        assert torch.equal(duplicate.transformer.h[0](x), x + 0)
        assert not torch.equal(model.transformer.h[0](x), x)


def test_the_runs_copies_are_independent_of_each_other():
    ctx = Context(Subject(model=gpt(), data=tokens(), loss=lm_loss, optimizer=optimizer_factory(None)))
    first, second = ctx.new_model(), ctx.new_model()
    assert backward_reaches(first, second) == [] and backward_reaches(first, ctx._pristine) == []


def test_diagnosing_the_lambda_model_leaves_no_grad_and_no_artefact():
    model = gpt()
    report = nndoctor.diagnose(model, tokens(), lm_loss, optimizer=torch.optim.AdamW(model.parameters(), lr=3e-3),
                               select=["forward-probe", "unregistered-params", "gradient-flow"])
    assert [n for n, p in model.named_parameters() if p.grad is not None] == []
    assert_silent(report, "unregistered-params", "gradient-flow")


SHARED = nn.Linear(WIDTH, WIDTH)


class ThroughAGlobal(TinyGPT):
    """A lambda that reads a module from a global name: the copy cannot take it along."""

    def __init__(self):
        super().__init__()
        self.transformer.h[0].mlpf = lambda x: SHARED(x)


def test_a_function_that_reaches_a_module_the_copy_cannot_own_is_named():
    model = ThroughAGlobal()
    message = ("the model's copy would not be independent: `transformer.h.0.mlpf` is a function that reaches a "
               "Linear module through global `SHARED`, which is not part of the model's copy")
    with pytest.raises(ModelCopyError, match=message) as info:
        check_copyable(model)
    assert "AveragedModel" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ValueError, match=message):
        nndoctor.diagnose(model, tokens(), lm_loss, quick=True)
    assert all(p.grad is None for p in list(model.parameters()) + list(SHARED.parameters()))


def test_a_function_over_the_whole_model_calls_the_whole_copy():
    model = gpt()
    model.lm_head.embed = lambda idx: model.transformer.wte(idx)  # closes over the user's model itself
    duplicate = copy_module(model)
    duplicate.lm_head.embed(torch.tensor([1, 2])).sum().backward()
    assert model.transformer.wte.weight.grad is None and duplicate.transformer.wte.weight.grad is not None


# -- the real zoo's makemore Transformer (benchmarks/zoo/real/makemore.py) ------------------------------------------
def makemore_case(case_id):
    return load_cases("real")[case_id].build()


# ND105 on makemore's -1 padding (ignore_index=-1 in the user's loss) is issue 10 item 1, not a copy artefact;
# ND501 is overfit-one-batch's floor, which counts the start token's first letter as learnable (see the report)
ARTEFACTS = ("ND401", "ND402", "ND403", "ND410", "ND404", "ND408")


def test_diagnosing_makemore_trains_no_user_parameter_and_reports_no_artefact():
    kwargs = makemore_case("makemore-healthy")
    model = kwargs["model"]
    assert callable(model.transformer.h[0].mlpf)  # the lambda closure this is about
    report = nndoctor.diagnose(**kwargs, device="cpu")
    assert [n for n, p in model.named_parameters() if p.grad is not None] == []
    assert_silent(report, "unregistered-params", "gradient-flow", codes=ARTEFACTS,
                  skipped={"train-step": "no train_step given"})


def test_makemores_zeroed_step_is_named_above_its_symptoms():
    kwargs = makemore_case("makemore-zero-grad-before-step")
    report = nndoctor.diagnose(**kwargs, device="cpu")
    codes = [f.code for f in report.findings]
    assert "ND408" in codes and all(codes.index("ND408") < codes.index(c) for c in ("ND501", "ND407", "ND109")
                                    if c in codes), codes
    assert [n for n, p in kwargs["model"].named_parameters() if p.grad is not None] == []
