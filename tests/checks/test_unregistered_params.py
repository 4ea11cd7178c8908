"""unregistered-params: leaf tensors in the loss graph that the model does not register (ND410)."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

from conftest import assert_silent, codes, make_classification, run_example


GLOBAL_BIAS = torch.zeros(3, requires_grad=True)
CHECK = "unregistered-params"


def diagnose(model, optimizer=None, data=None, loss=None):
    return nndoctor.diagnose(model, data or make_classification(), loss or nn.CrossEntropyLoss(), optimizer,
                             select=[CHECK], device="cpu")


class ListBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 16)
        self.blocks = [nn.Linear(16, 16) for _ in range(2)]  # the bug: a plain list
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        x = torch.relu(self.inp(x))
        for block in self.blocks:
            x = torch.relu(block(x))
        return self.out(x)


class DictHeadAndTensor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.heads = {"main": nn.Linear(8, 3)}  # a plain dict
        self.scale = torch.ones(3, requires_grad=True)  # a plain tensor, not nn.Parameter

    def forward(self, x):
        return self.heads["main"](torch.relu(self.body(x))) * self.scale


class GlobalTensor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(x) + GLOBAL_BIAS


class Healthy(nn.Module):
    """ModuleList, a buffer, a frozen layer and a tensor made in forward with requires_grad (not state)."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(2)])
        self.frozen = nn.Linear(8, 8).requires_grad_(False)
        self.register_buffer("mask", torch.ones(8))
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        for block in self.blocks:
            x = torch.relu(block(x)) * self.mask
        return self.out(self.frozen(x)) + torch.zeros(3, requires_grad=True)


class TiedLM(nn.Module):
    def __init__(self, vocab=12):
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.head = nn.Linear(8, vocab, bias=False)
        self.head.weight = self.emb.weight  # one parameter in two modules

    def forward(self, x):
        return self.head(self.emb(x))


def test_nd410_layers_in_a_python_list():
    report = diagnose(ListBlocks())
    f = report.findings[0]
    assert codes(report) == ["ND410"] and f.severity == "error"
    assert f.where == "blocks (a plain Python list)"
    assert f.evidence["names"] == ["blocks[0].weight", "blocks[0].bias", "blocks[1].weight", "blocks[1].bias"]
    assert f.evidence["shapes"][0] == [16, 16]


def test_nd410_dict_and_plain_tensor_even_when_nothing_is_registered_for_the_optimizer():
    report = diagnose(DictHeadAndTensor())
    f = report.findings[0]
    assert codes(report) == ["ND410"] and f.severity == "error"
    assert "heads (a plain Python dict)" in f.where and "scale (a plain tensor attribute)" in f.where


def test_nd410_global_tensor():
    assert codes(diagnose(GlobalTensor())) == ["ND410"]


def test_nd410_warning_when_the_optimizer_is_given_them_by_hand():
    def optimizer(m):
        extra = [m.scale, *m.heads["main"].parameters()]
        return torch.optim.Adam([*m.parameters(), *extra], lr=1e-3)
    report = diagnose(DictHeadAndTensor(), optimizer)
    assert [f.severity for f in report.findings] == ["warning"]


def test_silent_on_module_list_buffers_frozen_layers_and_tied_weights():
    assert_silent(diagnose(Healthy()), CHECK, fail_on="info")
    ids = torch.randint(0, 12, (64, 9), generator=torch.Generator().manual_seed(0))  # (N, T+1)
    data = DataLoader(TensorDataset(ids[:, :-1], ids[:, 1:]), batch_size=16)
    loss = lambda out, y: nn.functional.cross_entropy(out.reshape(-1, 12), y.reshape(-1))  # noqa: E731
    assert_silent(diagnose(TiedLM(), data=data, loss=loss), CHECK, fail_on="info")


def test_silent_on_a_learnable_loss_module():
    class UncertaintyWeighted(nn.Module):  # a loss with its own parameter, trained by the user on purpose
        def __init__(self):
            super().__init__()
            self.log_var = nn.Parameter(torch.zeros(()))

        def forward(self, out, y):
            return nn.functional.cross_entropy(out, y) * torch.exp(-self.log_var) + self.log_var

    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    assert_silent(diagnose(model, loss=UncertaintyWeighted()), CHECK, fail_on="info")


def test_example_layers_in_python_list_ranks_nd410_first(example_path):
    report = run_example(example_path("layers_in_python_list"))
    assert report.findings[0].code == "ND410" and report.findings[0].severity == "error"
    assert report.findings[0].where == "blocks (a plain Python list)"
    assert report.exit_code() == 1
