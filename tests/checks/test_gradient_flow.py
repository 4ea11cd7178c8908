"""gradient-flow: ND401-ND405, ND407, ND408 fire on broken setups and stay silent on healthy ones."""
from __future__ import annotations

import os
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

from conftest import assert_silent, codes, make_classification, mlp, run_example


CHECK = "gradient-flow"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # for benchmarks.zoo


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is faster than two competing for a busy machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

def diagnose(model, data, loss=None, optimizer=None, **kw):
    return nndoctor.diagnose(model, data, loss or nn.CrossEntropyLoss(), optimizer, select=[CHECK], device="cpu",
                             **kw)


def only(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, [(f.code, f.title) for f in report.findings]
    return found[0]


# -- fires -----------------------------------------------------------------------------------------------------
class Detached(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 32), nn.ReLU())
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        return self.head(self.encoder(x).detach())


class NoGradEncoder(Detached):
    def forward(self, x):
        with torch.no_grad():
            h = self.encoder(x)
        return self.head(h)


class Unused(Detached):
    def __init__(self):
        super().__init__()
        self.aux = nn.Linear(32, 3)  # built, never called

    def forward(self, x):
        return self.head(self.encoder(x))


@pytest.mark.parametrize("model, cause", [(Detached, "detached"), (NoGradEncoder, "without autograd"),
                                          (Unused, "never called")])
def test_nd401_names_the_module_and_the_cause(model, cause):
    torch.manual_seed(0)
    f = only(diagnose(model(), make_classification()), "ND401")
    assert f.severity == "error" and cause in f.title
    assert f.where.startswith("aux" if model is Unused else "encoder")


def test_nd402_frozen_part_is_a_note_all_frozen_is_an_error():
    model = mlp()
    model[0].requires_grad_(False)
    assert only(diagnose(model, make_classification()), "ND402").severity == "info"
    model.requires_grad_(False)
    assert only(diagnose(model, make_classification()), "ND402").severity == "error"


def test_nd403_param_left_out_of_the_optimizer():
    model = mlp()
    f = only(diagnose(model, make_classification(), optimizer=torch.optim.Adam(model[2].parameters())), "ND403")
    assert f.where.startswith("0 ") and f.evidence["count"] == 2


def test_nd404_deep_sigmoid_stack():
    torch.manual_seed(0)
    layers = [m for i in range(12) for m in (nn.Linear(8 if i == 0 else 32, 32), nn.Sigmoid())]
    f = only(diagnose(nn.Sequential(*layers, nn.Linear(32, 3)), make_classification()), "ND404")
    assert f.where == "0.weight" and f.evidence["first_ratio"] < 1e-4 * f.evidence["last_ratio"]


def raw_pixels():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (128, 8), generator=g).float()  # raw 0-255 values
    y = torch.randint(0, 3, (128,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=32)


def test_nd405_gradients_far_above_the_weights_under_sgd():
    """SGD applies the gradient as it is: a gradient 100x the weights is an update 100x the weights times lr."""
    net = mlp()
    assert "ND405" in codes(diagnose(net, raw_pixels(), optimizer=torch.optim.SGD(net.parameters(), lr=1e-3)))


def test_a_large_gradient_is_no_explosion_under_adam():
    """Adam divides the gradient by its own scale: the same large gradient-to-weight ratio makes a step of lr, so
    the raw ratio is not judged there (only a gradient norm growing from step to step would be)."""
    report = diagnose(mlp(), raw_pixels())
    assert "ND405" not in codes(report)
    assert [c.status for c in report.checks if c.name == CHECK] in (["passed"], ["failed"])  # it ran


def test_nd407_learning_rate_too_high_and_too_low():
    model = mlp()
    high = only(diagnose(model, make_classification(), optimizer=torch.optim.SGD, optimizer_kwargs={"lr": 10.0}),
                "ND407")
    assert "too high" in high.title and high.evidence["median_update_ratio"] > 0.1
    low = only(diagnose(model, make_classification(), optimizer=torch.optim.Adam, optimizer_kwargs={"lr": 1e-8}),
               "ND407")
    assert "too low" in low.title


def test_nd408_step_changes_nothing():
    f = only(diagnose(mlp(), make_classification(), optimizer=torch.optim.SGD, optimizer_kwargs={"lr": 0.0}),
             "ND408")
    assert f.severity == "error"


def clipped_lm(step):
    """The word_language_model recipe: a causal Transformer LM under SGD at lr 5, clipped to 0.25 in its step."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from benchmarks.zoo.real import clipped_transformer as ct

    return ct._setup(921, getattr(ct, step))


def test_nd407_clipping_that_clips_nothing_at_lr_5():
    """Clipping called before backward clips nothing: through the user's step, lr 5 applies the raw gradient."""
    setup = clipped_lm("_clip_before_backward")
    f = only(diagnose(setup.pop("model"), setup.pop("data"), setup.pop("loss"), setup.pop("optimizer"), **setup),
             "ND407")
    assert "too high" in f.title


def test_nd407_names_a_train_step_that_scales_the_gradient():
    """A loss scale never unscaled (SGD): the step's update is the scale times the plain step's; said at the step."""
    def scaled(model, batch, loss_fn, optimizer):
        x, y = batch
        optimizer.zero_grad()
        (loss_fn(model(x), y) * 2.0 ** 12).backward()  # the gradient still carries the scale at the step
        optimizer.step()

    net = mlp()
    f = only(diagnose(net, make_classification(), optimizer=torch.optim.SGD(net.parameters(), lr=0.01),
                      train_step=scaled), "ND407")
    assert f.where == "train_step" and f.evidence["median_update_ratio"] > 100 * \
        f.evidence["plain_step_median_update_ratio"]


# -- silent ----------------------------------------------------------------------------------------------------
class TiedLM(nn.Module):
    """Embedding with a padding row, tied to the output layer; the vocabulary is larger than the batch uses."""

    def __init__(self, vocab=200, dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.head = nn.Linear(dim, vocab)
        self.head.weight = self.embed.weight

    def forward(self, x):
        return self.head(self.gru(self.embed(x))[0])


def lm_loss(logits, y):
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # (B*T, V), (B*T,)


class ReZero(nn.Module):
    """A residual branch behind a gate initialised at zero: the branch gets gradients once the gate moves."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 32)
        self.branch = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32))
        self.gate = nn.Parameter(torch.zeros(1))
        self.out = nn.Linear(32, 3)

    def forward(self, x):
        h = self.inp(x)
        return self.out(h + self.gate * self.branch(h))


def warmup_adam(model):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, step / 100))  # lr starts at 0
    return opt


def healthy_setups():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, 50, (32, 13), generator=g)  # ids 50..199 never appear
    tokens[:, -3:] = 0  # padding
    bn = nn.Sequential(nn.Linear(8, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 3))
    return {
        "batchnorm-dropout": (bn, make_classification(), None, None),
        "tied-embedding-with-padding": (TiedLM(), DataLoader(TensorDataset(tokens[:, :-1], tokens[:, 1:]),
                                                             batch_size=16), lm_loss, None),
        "zero-init-gate": (ReZero(), make_classification(), None, None),
        "warmup-from-zero": (mlp(), make_classification(), None, warmup_adam),
        "sgd-momentum": (mlp(), make_classification(), None, lambda m: torch.optim.SGD(m.parameters(), lr=0.05,
                                                                                     momentum=0.9)),
    }


@pytest.mark.parametrize("name", list(healthy_setups()))
def test_silent_on_healthy(name):
    model, data, loss, optimizer = healthy_setups()[name]
    assert_silent(diagnose(model, data, loss, optimizer), CHECK, fail_on="info")


def far_regression(reduction):
    """y = x w with w of about 5 from a Linear(5, 1) initialised near 0.3, Adam(lr=0.1), MSELoss(reduction)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 5, generator=g)  # (N, F)
    y = x @ torch.tensor([[5.0], [-4.0], [3.0], [6.0], [-5.0]]) + 2.0  # (N, 1)
    torch.manual_seed(0)
    net = nn.Linear(5, 1)
    return net, DataLoader(TensorDataset(x, y), batch_size=32), nn.MSELoss(reduction=reduction), \
        torch.optim.Adam(net.parameters(), lr=0.1)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_silent_on_a_regression_whose_weights_travel_far_under_adam(reduction):
    """Update ratios near 0.4 of the initial weights, but the weights travel steadily and the loss falls (ND407
    stays silent); a sum-reduced loss's gradient is 32x the mean's, Adam's steps are the same (ND405 silent)."""
    report = diagnose(*far_regression(reduction))
    assert_silent(report, CHECK, fail_on="info")


def test_silent_on_a_clipped_transformer_at_lr_5():
    """Through the user's step the clipped update is what is measured: no "learning rate too high"."""
    setup = clipped_lm("_clipped_step")
    report = diagnose(setup.pop("model"), setup.pop("data"), setup.pop("loss"), setup.pop("optimizer"), **setup)
    assert_silent(report, CHECK, fail_on="info")


def test_frozen_backbone_on_purpose_is_only_a_note():
    model = mlp()
    model[0].requires_grad_(False)
    report = diagnose(model, make_classification(),
                      optimizer=lambda m: torch.optim.Adam(p for p in m.parameters() if p.requires_grad))
    assert_silent(report, CHECK)
    assert codes(report) == ["ND402"]


# -- the examples ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("example, code", [("detached_layer", "ND401"), ("missing_from_optimizer", "ND403"),
                                           ("frozen_all", "ND402"), ("lr_too_high", "ND407"),
                                           ("deep_tanh_default_init", "ND305"), ("mse_sum_reduction", "ND405")])
def test_example_ranks_its_code_first(example_path, example, code):
    report = run_example(example_path(example))
    assert report.findings[0].code == code and report.exit_code() == 1, \
        [(f.code, f.severity, f.title) for f in report.findings]


def test_steps_that_neither_help_nor_undo_each_other_are_steady_and_steps_that_undo_each_other_are_not():
    """The rule behind "the weights travel steadily": six steps of length 1 in independent directions travel
    sqrt(6) (squared displacement / summed squared steps = 1), steps that go back and forth travel about one
    step (1/6), steps along one direction travel 6 (6). Only the first and the last are steady, and only while
    the loss falls."""
    from checks.gradient_flow import GradientFlow

    check = GradientFlow()
    falling, rising = [3.3, 2.8, 3.3, 3.4, 3.5, 3.1], [3.3, 3.2, 3.6, 4.0, 5.1, 6.0]

    def steady(travel, losses):
        return check._travels_steadily({"losses": losses, "update_norms": [1.0] * 6, "travel": travel}, {})

    assert steady(6 ** 0.5, falling) and steady(6.0, falling)
    assert not steady(1.0, falling)  # each step undoes the last: the learning rate overshoots
    assert not steady(6 ** 0.5, rising) and not steady(6.0, rising)


def test_nd408_when_the_optimizer_holds_none_of_the_parameters_that_get_gradients():
    """The optimizer built, then the head swapped for a new one and the rest frozen: the step writes no weight
    although the model's gradients are there (the optimizer's own parameters get none)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for p in model.parameters():
        p.requires_grad_(False)
    model[2] = nn.Linear(32, 3)  # a new head, after the optimizer was built
    report = diagnose(model, make_classification(), nn.CrossEntropyLoss(), optimizer)
    found = [f for f in report.findings if f.code == "ND408"]
    assert found and found[0].severity == "error" and found[0].evidence["model_grad_norm"] > 0, report.findings
    assert "holds none of the parameters" in found[0].title
