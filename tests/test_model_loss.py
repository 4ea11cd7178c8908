"""A model that computes its own loss (`loss: model`): nanoGPT's `logits, loss = model(idx, targets)` and a Hugging
Face model given `labels`; and a function loss with its own ignore_index. Healthy setups pass every check; the
bugs (targets not shifted, no causal mask, labels out of range) are found; the targets handed to forward are not a
feature; the user's objects are untouched."""
from __future__ import annotations

import os
import sys

import pytest
import torch
import torch.nn.functional as F
import yaml

import nndoctor
from conftest import assert_silent, codes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.zoo.cases._common import loader, tokens  # noqa: E402
from benchmarks.zoo.real.gpt import GPT, adamw, sort_task  # noqa: E402
from nndoctor.config import ConfigError  # noqa: E402
from nndoctor.probes.losses import ModelLoss, ignored_target  # noqa: E402

NO_STEP = {"train-step": "no train_step"}


def gpt_run(x, y, **kwargs):
    torch.manual_seed(0)
    net = GPT(**kwargs)
    return dict(model=net, data=loader(x, y), loss="model", optimizer=adamw(net), device="cpu")


def test_a_healthy_nanogpt_with_its_own_loss_passes_every_check():
    x, y = sort_task(seed=7)  # the prompt's targets are -1: the model's ignore_index
    run = gpt_run(x, y, vocab=3, context=11)
    before = {n: p.detach().clone() for n, p in run["model"].named_parameters()}
    report = nndoctor.diagnose(**run, quick=True, time_box=120)  # every check, the quick profile
    assert_silent(report, "input-sanity", "data-splits", "overfit-one-batch", "chance-loss", skipped=NO_STEP)
    assert all(p.grad is None and torch.equal(p, before[n]) for n, p in run["model"].named_parameters())


def test_targets_not_shifted_are_found_though_they_are_handed_to_forward():
    x, _ = tokens(seed=8)
    report = nndoctor.diagnose(**gpt_run(x, x.clone()), select=["data-splits"])
    assert "ND111" in codes(report)


def test_a_missing_causal_mask_is_found_with_the_targets_passed_to_forward():
    x, y = tokens(seed=9)
    report = nndoctor.diagnose(**gpt_run(x, y, causal=False), select=["batch-independence"])
    assert "ND309" in codes(report)


def test_the_value_a_model_loss_ignores_is_learned_from_the_batches_it_ran_on():
    from nndoctor.engine.context import Context
    from nndoctor.engine.runner import prepare
    from nndoctor.engine.subject import Subject, optimizer_factory

    x, y = sort_task(seed=10)
    torch.manual_seed(0)
    subject = Subject(model=GPT(vocab=3, context=11), data=loader(x, y), loss=ModelLoss(),
                      optimizer=optimizer_factory(None))
    ctx = Context(subject, device="cpu")
    prepare(ctx)
    assert ctx.probe_error is None and ignored_target(subject.loss) == -1
    assert ctx.rescoring_loss() is not None  # its cross-entropy stands in for it where outputs are made up


class TinyLM(torch.nn.Module):
    def __init__(self, vocab=24, width=16):
        super().__init__()
        self.emb, self.head = torch.nn.Embedding(vocab, width), torch.nn.Linear(width, vocab)

    def forward(self, idx):  # (B, T) -> (B, T, V)
        return self.head(self.emb(idx))


def masked_lm_loss(logits, targets):
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


def test_a_function_loss_with_ignore_index_minus_one_is_not_told_its_targets_are_invalid():
    x, y = tokens(seed=11)
    y[:, :4] = -1  # the random prompt is not scored
    torch.manual_seed(0)
    report = nndoctor.diagnose(TinyLM(), loader(x, y), masked_lm_loss, device="cpu", select=["input-sanity"])
    assert_silent(report, "input-sanity")
    y[0, 5] = 99  # a class the output does not have is still reported
    report = nndoctor.diagnose(TinyLM(), loader(x, y), masked_lm_loss, device="cpu", select=["input-sanity"])
    assert "ND105" in codes(report)


def shifting_lm_loss(logits, labels):
    """As a Hugging Face causal LM computes it: logits[:, t] against labels[:, t + 1]."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1))


def test_labels_equal_to_the_inputs_are_no_leak_for_a_loss_that_shifts_them():
    x, _ = tokens(seed=12)
    torch.manual_seed(0)
    report = nndoctor.diagnose(TinyLM(), loader(x, x.clone()), shifting_lm_loss, device="cpu",
                               select=["data-splits"])
    assert_silent(report, "data-splits")
    report = nndoctor.diagnose(TinyLM(), loader(x, x.clone()), masked_lm_loss, device="cpu", select=["data-splits"])
    assert "ND111" in codes(report)  # the same targets under a loss that does not shift them: a copy


class KeywordTargets(torch.nn.Module):
    """forward(x, *, y=None) -> {'scores': ..., 'nll': ...}: the targets by keyword, the parts under other names."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 3)

    def forward(self, x, *, y=None):
        scores = self.net(x)
        return {"scores": scores, "nll": None if y is None else F.cross_entropy(scores, y)}


def keyword_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=g)
    return loader(x, (x[:, :3]).argmax(1))


def test_targets_arg_and_an_outputs_mapping_wire_a_model_loss(tmp_path):
    torch.manual_seed(0)
    report = nndoctor.diagnose(KeywordTargets(), keyword_data(), "model", batch={"targets_arg": "y"},
                               outputs={"logits": "scores", "loss": "nll"}, device="cpu")
    assert_silent(report, "overfit-one-batch", "chance-loss", skipped=NO_STEP)
    with pytest.raises(ValueError, match="targets_arg"):
        nndoctor.diagnose(KeywordTargets(), keyword_data(), torch.nn.CrossEntropyLoss(), batch={"targets_arg": "y"})
    with pytest.raises(ValueError, match="loss: model"):
        nndoctor.diagnose(KeywordTargets(), keyword_data(), torch.nn.CrossEntropyLoss(), outputs={"loss": "nll"})


def write_config(tmp_path, **values):
    (tmp_path / "setup.py").write_text(
        "import torch\nimport torch.nn.functional as F\nfrom torch.utils.data import DataLoader, TensorDataset\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.lin = torch.nn.Linear(4, 3)\n"
        "    def forward(self, x, labels=None):\n"
        "        s = self.lin(x)\n        return s, (None if labels is None else F.cross_entropy(s, labels))\n"
        "class MaskFirst(Net):\n"
        "    def forward(self, x, mask=None, labels=None):\n        return super().forward(x, labels)\n"
        "def data():\n    g = torch.Generator().manual_seed(0)\n    x = torch.randn(64, 4, generator=g)\n"
        "    return DataLoader(TensorDataset(x, x[:, :3].argmax(1)), batch_size=16)\n")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model": "setup:Net", "data": "setup:data", **values}))
    return str(path)


def test_the_config_keys_of_a_model_loss(tmp_path):
    from nndoctor.api import run_config

    path = write_config(tmp_path, loss="model", outputs={"logits": 0, "loss": 1}, batch={"targets_arg": "labels"},
                        checks={"select": ["overfit-one-batch", "forward-probe"]})
    report = run_config(path, device="cpu")
    assert_silent(report, "overfit-one-batch")
    for bad, key in (({"loss": "model", "outputs": {"logit": 0}}, "outputs"),
                     ({"loss": "torch.nn:CrossEntropyLoss", "outputs": {"loss": 1}}, "outputs"),
                     ({"loss": "torch.nn:CrossEntropyLoss", "batch": {"targets_arg": "labels"}}, "batch"),
                     ({"loss": "model", "batch": {"targets_arg": [1]}}, "batch")):
        with pytest.raises(ConfigError, match=f"key '{key}'"):
            run_config(write_config(tmp_path, **bad), device="cpu")


def test_a_model_that_returns_no_loss_names_the_keys_to_set(tmp_path):
    from nndoctor.api import run_config

    path = write_config(tmp_path, loss="model")
    with open(path) as fh:
        text = fh.read().replace("setup:Net", "setup:MaskFirst")  # the targets land in `mask`: no loss comes back
    with open(path, "w") as fh:
        fh.write(text)
    with pytest.raises(ConfigError, match=r"key 'outputs'.*returned no loss.*targets_arg"):
        run_config(path, device="cpu")


# -- Hugging Face ---------------------------------------------------------------------------------------------------
def hf_case(name):
    pytest.importorskip("transformers")
    from benchmarks.zoo.registry import load_cases

    return load_cases("real")[name].build()


def test_a_hugging_face_causal_lm_given_labels_equal_to_its_inputs_passes_every_check():
    run = hf_case("hf-gpt2-healthy")  # labels = input_ids: the model shifts them; no target leak
    # the checks that read the targets, the logits or the loss (the whole suite runs in the zoo, 5 seeds clean)
    mechanics = ["forward-probe", "data-splits", "input-sanity", "overfit-one-batch", "chance-loss", "loss-inputs"]
    assert_silent(nndoctor.diagnose(**run, device="cpu", select=mechanics, time_box=120), *mechanics)


def test_a_hugging_face_classifier_with_too_few_labels_is_found():
    run = hf_case("hf-bert-num-labels-default")
    assert codes(nndoctor.diagnose(**run, device="cpu"))[:1] == ["ND308"]
