"""input-sanity: ND101-ND108 fire on broken batches and stay silent on healthy ones."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

import nndoctor

from conftest import assert_silent, codes, mlp, run_example


CHECK = "input-sanity"


def diagnose(model, data, loss, **kw):
    return nndoctor.diagnose(model, data, loss, select=[CHECK], device="cpu", **kw)


def loader(x, y, batch_size=32, shuffle=True, **kw):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(0), **kw)


def data(n=256, features=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)  # (N, F)
    y = (x @ torch.randn(features, classes, generator=g)).argmax(dim=1)  # (N,)
    return x, y


# -- fires -----------------------------------------------------------------------------------------------------
def test_nd101_nan_inputs():
    x, y = data()
    x[3, 2] = float("nan")
    assert "ND101" in codes(diagnose(mlp(), loader(x, y, shuffle=False), nn.CrossEntropyLoss()))


def test_nd102_all_zero_inputs():
    x, y = data()
    assert "ND102" in codes(diagnose(mlp(), loader(torch.zeros_like(x), y), nn.CrossEntropyLoss()))


def test_identical_inputs_are_nd102_and_not_also_repeated_batches():
    """Every sample the same non-zero vector (a transform that broadcasts one row): the batches' input hashes are
    then the same whatever samples they hold, so "batches repeat" (ND108) would be an artefact of ND102."""
    x, y = data()
    report = diagnose(mlp(), loader(torch.ones_like(x) * 0.5, y), nn.CrossEntropyLoss())
    assert "ND102" in codes(report) and "ND108" not in codes(report), report.findings


def test_nd103_raw_pixels_is_an_error():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (128, 1, 8, 8), generator=g).float()  # (N, 1, 8, 8) raw 0-255 pixels
    y = torch.randint(0, 3, (128,), generator=g)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    report = diagnose(model, loader(x, y), nn.CrossEntropyLoss())
    assert [f.severity for f in report.findings if f.code == "ND103"] == ["error"]


def test_nd103_feature_scales_apart():
    x, y = data()
    x[:, 0] *= 1e4
    x[:, 1] *= 1e-1
    x = x / x.abs().mean()  # overall scale near unit, one feature dominating
    assert "ND103" in codes(diagnose(mlp(), loader(x, y), nn.CrossEntropyLoss()))


def test_nd104_nan_targets():
    x, _ = data()
    y = x[:, :1].clone()  # (N, 1) regression targets
    y[5] = float("nan")
    assert "ND104" in codes(diagnose(nn.Linear(8, 1), loader(x, y), nn.MSELoss()))


def test_nd105_class_index_out_of_range_and_bce_outside_01():
    x, y = data()
    assert "ND105" in codes(diagnose(mlp(classes=3), loader(x, y + 1), nn.CrossEntropyLoss()))
    yb = (x[:, :1] > 0).float() * 2 - 1  # (N, 1) -1/+1 labels
    assert "ND105" in codes(diagnose(nn.Linear(8, 1), loader(x, yb), nn.BCEWithLogitsLoss()))


def test_nd106_sorted_by_label():
    x, y = data()
    order = torch.argsort(y, stable=True)
    report = diagnose(mlp(), loader(x[order], y[order], shuffle=False), nn.CrossEntropyLoss())
    assert "ND106" in codes(report, "error")


def test_nd107_one_class_dominates():
    x, _ = data()
    y = torch.zeros(len(x), dtype=torch.long)
    y[:8] = 1  # 97% class 0
    assert "ND107" in codes(diagnose(mlp(classes=2), loader(x, y), nn.CrossEntropyLoss()), "warning")


def test_nd108_same_batch_again_and_again():
    x, y = data(32)
    batch = (x, y)
    report = diagnose(mlp(), [batch] * 6, nn.CrossEntropyLoss())
    assert [f.severity for f in report.findings if f.code == "ND108"] == ["error"]


def test_nd108_weighted_sampler_given_one_weight_per_class():
    x, y = data(2000, classes=4)
    class_weights = 1.0 / torch.bincount(y).double()  # (C,): one weight per class, the bug
    sampler = WeightedRandomSampler(class_weights, num_samples=len(y), replacement=True)
    report = diagnose(mlp(classes=4), DataLoader(TensorDataset(x, y), batch_size=32, sampler=sampler),
                      nn.CrossEntropyLoss())
    found = [f for f in report.findings if f.code == "ND108"]
    assert found and found[0].severity == "error"
    assert found[0].evidence["distinct"] <= 4 and found[0].evidence["dataset_size"] == 2000
    assert report.findings[0].code == "ND108"


# -- silent ----------------------------------------------------------------------------------------------------
def test_silent_on_healthy_classification(cls_model, cls_loader):
    assert_silent(diagnose(cls_model, cls_loader, nn.CrossEntropyLoss()), CHECK)


def topic_stream(shift=True):
    """A token stream read in order, each stretch of 32 sequences one topic with its own 8 tokens: (N, T) inputs and
    either the next tokens (a language model) or a tag per token drawn from the topic (token classification)."""
    g = torch.Generator().manual_seed(0)
    topic = torch.arange(256) // 32  # (N,)
    seq = topic[:, None] * 8 + torch.randint(0, 8, (256, 17), generator=g)  # (N, T+1) ids in the topic's range
    targets = seq[:, 1:] if shift else topic[:, None].expand(256, 16).contiguous()  # (N, T)
    return loader(seq[:, :-1], targets, shuffle=False)


class TokenModel(nn.Module):
    def __init__(self, classes):
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.head = nn.Embedding(64, 8), nn.Linear(8, classes)

    def forward(self, ids):  # (B, T) -> (B, T, C)
        return self.head(self.emb(ids))


def token_loss(out, y):
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))  # (B*T, C), (B*T,)


def test_next_tokens_are_not_judged_as_classes_whatever_the_task():
    """A GPT-style model declared `task: classification` reads a stream in order (as truncated backprop through
    time does): its tokens change with the topic from batch to batch, which is the text, not labels sorted. The
    targets are the inputs one position on, so class balance and order are not judged (was ND106, error)."""
    report = diagnose(TokenModel(64), topic_stream(), token_loss, task="classification")
    assert report.checks[0].status == "passed" and codes(report) == []
    tags = diagnose(TokenModel(8), topic_stream(shift=False), token_loss, task="classification")
    assert "ND106" in codes(tags, "error")  # real per-token classes in sorted batches: still judged


def test_silent_on_weighted_sampler_with_one_weight_per_sample_and_on_low_cardinality_data():
    x, y = data(2000, classes=4)
    w = (1.0 / torch.bincount(y).double())[y]  # (N,): one weight per sample
    sampler = WeightedRandomSampler(w, num_samples=len(y), replacement=True)
    report = diagnose(mlp(classes=4), DataLoader(TensorDataset(x, y), batch_size=32, sampler=sampler),
                      nn.CrossEntropyLoss())
    assert_silent(report, CHECK, codes=["ND108"])
    # Three binary features hold at most 8 distinct rows: repeats are the data, not the loader.
    g = torch.Generator().manual_seed(1)
    xb = torch.randint(0, 2, (2000, 3), generator=g).float()
    yb = (xb.sum(dim=1) > 1).long()
    for quick in (False, True):
        report = diagnose(nn.Linear(3, 2), loader(xb, yb), nn.CrossEntropyLoss(), quick=quick)
        assert_silent(report, CHECK, codes=["ND108"])


def test_silent_on_tokens_and_imbalance_handled_by_weights():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 50, (64, 9), generator=g)  # (N, T+1) integer token ids: no scale to judge
    lm = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 50))
    loss = lambda out, y: nn.functional.cross_entropy(out.reshape(-1, 50), y.reshape(-1))  # noqa: E731
    assert_silent(diagnose(lm, loader(ids[:, :-1], ids[:, 1:], batch_size=16), loss), CHECK)
    x, _ = data()
    y = torch.zeros(len(x), dtype=torch.long)
    y[:8] = 1
    weighted = nn.CrossEntropyLoss(weight=torch.tensor([0.03, 0.97]))
    assert_silent(diagnose(mlp(classes=2), loader(x, y), weighted), CHECK)


@pytest.mark.parametrize("n", [40, 256])
def test_silent_on_a_small_or_large_healthy_dataset(n):
    x, y = data(n)
    assert_silent(diagnose(mlp(), loader(x, y, batch_size=16), nn.CrossEntropyLoss()), CHECK)


def test_example_weighted_sampler_per_class_ranks_nd108_first(example_path):
    report = run_example(example_path("weighted_sampler_per_class"))
    assert report.findings[0].code == "ND108" and report.findings[0].severity == "error"
    assert report.exit_code() == 1


@pytest.mark.parametrize("name,code", [("unnormalized_pixels", "ND103"), ("nan_in_inputs", "ND101"),
                                       ("all_zero_inputs", "ND102"), ("labels_out_of_range", "ND105"),
                                       ("sorted_by_label", "ND106"), ("nan_targets", "ND104")])
def test_data_examples_rank_their_code_first(example_path, name, code):
    report = run_example(example_path(name))
    assert report.findings[0].code == code and report.findings[0].severity == "error"


def test_example_imbalanced_unweighted_ranks_nd107_first(example_path):
    """ND107 is a warning by design: the run exits 1 only under --fail-on warning."""
    report = run_example(example_path("imbalanced_unweighted"))
    assert report.findings[0].code == "ND107" and report.findings[0].severity == "warning", \
        [(f.code, f.severity, f.title) for f in report.findings]
    assert report.exit_code("warning") == 1


def test_nd106_silent_on_shuffled_imbalanced_batches():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 4, generator=g)  # (N, F)
    y = (torch.rand(512, generator=g) < 0.2).long()  # (N,) 20 % positives, shuffled
    data = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 512, 32)]
    r = nndoctor.diagnose(nn.Sequential(nn.Linear(4, 2)), data, nn.CrossEntropyLoss(), device="cpu", select=[CHECK])
    assert_silent(r, CHECK, codes=["ND106"])


def test_nd106_every_batch_read_holds_one_class_of_a_sorted_dataset():
    x, y = data(n=1024, classes=4)  # 8 batches of 32 read: all from the first class of the sorted dataset
    order = torch.argsort(y, stable=True)
    report = diagnose(mlp(classes=4), loader(x[order], y[order], shuffle=False), nn.CrossEntropyLoss())
    (found,) = [f for f in report.findings if f.code == "ND106"]
    assert found.severity == "error" and found.evidence["classes_seen"] == 1 and found.evidence["num_classes"] == 4
    assert report.findings[0].code == "ND106"  # ranked above the ND107 it explains


def test_nd106_silent_on_data_shuffled_once_and_read_in_order():
    x, y = data(n=1024, classes=4)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))
    report = diagnose(mlp(classes=4), loader(x[order], y[order], shuffle=False), nn.CrossEntropyLoss())
    assert_silent(report, CHECK, codes=["ND106"])


def test_one_class_from_a_shuffling_loader_is_imbalance_not_sorting():
    x, _ = data(n=256)
    y = torch.zeros(len(x), dtype=torch.long)  # every sample of class 0, read in random order
    found = [f.code for f in diagnose(mlp(classes=2), loader(x, y), nn.CrossEntropyLoss()).findings]
    assert "ND107" in found and "ND106" not in found
