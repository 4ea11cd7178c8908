"""chance-loss: the loss at initialisation against chance level (ND201); regression targets beyond reach (ND105)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

from conftest import assert_silent, codes, make_classification, mlp, run_example


CHECK = "chance-loss"


def diagnose(model, data, loss, **kw):
    return nndoctor.diagnose(model, data, loss, select=[CHECK], device="cpu", **kw)


def loader(x, y, batch_size=32):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))


class Squeeze(nn.Module):
    def forward(self, x):
        return x.squeeze(-1)  # (N, 1) -> (N,)


def regression(mean=0.0, scale=1.0, n=256, features=8):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, features, generator=g)  # (N, F)
    y = x @ torch.randn(features, generator=g) / features ** 0.5  # (N,) unit scale
    return x, mean + scale * y


def regressor(bias=None, tail=()):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1), *tail, Squeeze())
    if bias is not None:
        with torch.no_grad():
            net[2].bias.fill_(bias)
    return net


def binary(positive=0.05, n=1024):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(n, 8, generator=g)  # (N, F)
    score = x @ torch.randn(8, generator=g)
    return x, (score > torch.quantile(score, 1 - positive)).float()  # (N,)


# -- broken: fires ------------------------------------------------------------------------------------------------
def test_fires_on_logits_scaled_up_at_init():
    net = mlp()
    with torch.no_grad():
        net[2].weight.mul_(50)  # a final layer initialised 50x too large
    report = diagnose(net, make_classification(), nn.CrossEntropyLoss())
    assert codes(report) == ["ND201"]
    f = report.findings[0]
    assert f.severity == "error" and f.where == "2 (Linear)"
    assert f.evidence["uniform_level"] == pytest.approx(math.log(3), rel=1e-5)
    assert f.evidence["initial_loss"] > 10 * f.evidence["uniform_level"]


def test_fires_on_large_mean_regression_with_zero_bias():
    x, y = regression(mean=5000.0)
    report = diagnose(regressor(bias=0.0), loader(x, y), nn.MSELoss())
    assert set(codes(report)) == {"ND201", "ND105"}
    nd201 = next(f for f in report.findings if f.code == "ND201")
    assert nd201.severity == "error"
    assert nd201.evidence["prior_level"] == pytest.approx(float(y.var(unbiased=False)), rel=0.2)  # target variance
    assert nd201.evidence["initial_loss"] == pytest.approx(float((y ** 2).mean()), rel=0.01)  # var + mean ** 2
    assert next(f for f in report.findings if f.code == "ND105").explained_by is None  # the root cause


def test_overconfidence_that_training_undoes_is_a_note():
    """A few times chance: a warning when training does not bring it back, a note (info) when it does."""
    def scaled():
        net = mlp()
        with torch.no_grad():
            net[2].weight.mul_(20)  # logits 20x too large: a loss about 4x ln 3
        return net
    stuck = diagnose(scaled(), make_classification(), nn.CrossEntropyLoss(), optimizer=torch.optim.SGD,
                     optimizer_kwargs={"lr": 1e-6})
    assert [(f.code, f.severity) for f in stuck.findings] == [("ND201", "warning")]
    assert stuck.findings[0].evidence["recovered_after_steps"] is None
    undone = diagnose(scaled(), make_classification(), nn.CrossEntropyLoss(), optimizer=torch.optim.Adam,
                      optimizer_kwargs={"lr": 1e-2})
    assert [(f.code, f.severity) for f in undone.findings] == [("ND201", "info")]
    assert undone.findings[0].evidence["recovered_after_steps"] <= 30


@pytest.mark.parametrize("tail,mean,scale", [((nn.Sigmoid(),), 5.0, 2.0), ((nn.Tanh(),), 0.0, 3.0)])
def test_fires_on_targets_beyond_a_bounded_output(tail, mean, scale):
    x, y = regression(mean=mean, scale=scale)
    report = diagnose(regressor(tail=tail), loader(x, y), nn.MSELoss())
    nd105 = [f for f in report.findings if f.code == "ND105"]
    assert nd105 and nd105[0].severity == "error"
    assert nd105[0].evidence["final_activation"] == type(tail[0]).__name__
    assert nd105[0].evidence["share_outside"] > 0.1


# -- healthy: silent (an info note at most) ------------------------------------------------------------------------
class TinyLM(nn.Module):
    def __init__(self, vocab=20, width=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx):  # (B, T)
        return self.head(torch.tanh(self.emb(idx)))  # (B, T, V)


class TiedLM(nn.Module):
    """The output head tied to the token embedding, initialised as GPT-2 does (std 0.02)."""

    def __init__(self, vocab=20, width=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, width)
        nn.init.normal_(self.emb.weight, std=0.02)
        self.mix = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, idx):  # (B, T)
        return self.head(self.norm(self.mix(self.emb(idx))))  # (B, T, V)


def lm_loss(logits, y):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # (B*T, V), (B*T,)


def prior_biased_binary(p):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1), Squeeze())
    with torch.no_grad():
        net[2].bias.fill_(math.log(p / (1 - p)))  # the prior's log-odds
    return net


def healthy_setups():
    yield "label-smoothing", mlp(), make_classification(), nn.CrossEntropyLoss(label_smoothing=0.2)
    yield "class-weights", mlp(), make_classification(), nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0, 0.5]))
    torch.manual_seed(0)
    yield "logsoftmax-nll", nn.Sequential(mlp(), nn.LogSoftmax(dim=1)), make_classification(), nn.NLLLoss()
    x, y = binary(0.05)
    yield "imbalanced-prior-bias", prior_biased_binary(0.05), loader(x, y), nn.BCEWithLogitsLoss()
    yield "imbalanced-pos-weight", prior_biased_binary(0.05), loader(x, y), \
        nn.BCEWithLogitsLoss(pos_weight=torch.tensor(19.0))
    x, y = regression(mean=5000.0)
    yield "large-mean-bias-at-mean", regressor(bias=float(y.mean())), loader(x, y), nn.MSELoss()
    x, y = regression(mean=3.0)
    yield "relu-output-positive-targets", regressor(bias=3.0, tail=(nn.ReLU(),)), loader(x, y), nn.L1Loss()
    g = torch.Generator().manual_seed(3)
    seq = torch.randint(0, 20, (128, 9), generator=g)  # (N, T+1)
    torch.manual_seed(0)
    yield "lm-btv", TinyLM(), loader(seq[:, :-1], seq[:, 1:]), lm_loss
    torch.manual_seed(0)
    yield "lm-tied-embeddings", TiedLM(), loader(seq[:, :-1], seq[:, 1:]), lm_loss


@pytest.mark.parametrize("setup", list(healthy_setups()), ids=lambda s: s[0])
def test_silent_on_healthy_setups(setup):
    name, model, data, loss = setup
    assert_silent(diagnose(model, data, loss), CHECK)


# -- a head wider than the task: Good-Turing bound on the classes never seen -------------------------------------
def zipf_labels(n, classes, exponent, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = 1.0 / torch.arange(1, classes + 1).double() ** exponent
    return torch.multinomial(p / p.sum(), n, replacement=True, generator=g)  # (n,)


def test_fires_on_a_head_wider_than_the_classes_in_the_data():
    """A 1000-way head on targets that take 10 values: 256 targets read (8 batches), none of its classes seen once,
    so at most 0 + sqrt(ln 20 / 512) = 7.6% of the data lies in classes not seen (95%); the initial loss ln 1000 is
    chance for the head but 2.4x the task's chance level at that bound (2.9)."""
    report = diagnose(mlp(classes=1000), make_classification(n=1024, classes=10), nn.CrossEntropyLoss())
    f = [f for f in report.findings if f.code == "ND201"]
    assert [x.severity for x in f] == ["warning"], [(x.code, x.title) for x in report.findings]
    ev = f[0].evidence
    assert (ev["head_outputs"], ev["classes_seen"], ev["targets_counted"]) == (1000, 10, 256)
    assert ev["unseen_mass_bound"] == pytest.approx(math.sqrt(math.log(20) / 512), rel=1e-3)
    assert ev["ratio"] > 2


def test_whole_dataset_read_needs_no_bound():
    """128 samples are too few for the bound (sqrt(ln 20 / 256) = 11% > 10%) unless they are the whole dataset."""
    whole = diagnose(mlp(classes=1000), make_classification(n=128, classes=10), nn.CrossEntropyLoss())
    assert [f.evidence["unseen_mass_bound"] for f in whole.findings if f.code == "ND201"] == [0.0]
    part = diagnose(mlp(classes=1000), make_classification(n=1024, classes=10, batch_size=16), nn.CrossEntropyLoss())
    assert part.checks[0].status == "passed" and codes(part) == []


def test_silent_on_long_tailed_labels():
    """A Zipf label distribution over 1000 classes: 110 classes among 256 targets, 84 of them seen once, so the
    Good-Turing estimate alone says a third of the data lies in classes not seen: the head may need them all."""
    g = torch.Generator().manual_seed(0)
    y = zipf_labels(1024, 1000, 1.1)
    report = diagnose(mlp(classes=1000), loader(torch.randn(1024, 8, generator=g), y), nn.CrossEntropyLoss())
    assert report.checks[0].status == "passed" and codes(report) == []


def test_silent_on_a_head_near_the_tasks_chance_level():
    """A 40-way head on 10 classes: more than half of it unused, but ln 40 = 3.7 is within 2x of the task's
    chance level (ln 10 = 2.3): not an initial loss far from chance, ND201's own criterion."""
    report = diagnose(mlp(classes=40), make_classification(n=1024, classes=10), nn.CrossEntropyLoss())
    assert report.checks[0].status == "passed" and codes(report) == []


class BigramLM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.emb, self.head = nn.Embedding(vocab, 8), nn.Linear(8, vocab)

    def forward(self, idx):  # (B, T)
        return self.head(self.emb(idx))  # (B, T, V)


def test_silent_on_a_language_model_with_a_large_vocabulary():
    """An 8000-token vocabulary on Zipfian text: 16k tokens read hold ~3500 distinct ones, 2000 of them once:
    the tail the vocabulary exists for."""
    V = 8000
    seq = zipf_labels(512 * 33, V, 1.0).reshape(512, 33)  # (N, T + 1)
    torch.manual_seed(0)
    report = diagnose(BigramLM(V), loader(seq[:, :-1], seq[:, 1:], batch_size=64),
                      lambda out, y: F.cross_entropy(out.reshape(-1, V), y.reshape(-1)))  # (B*T, V), (B*T,)
    assert report.checks[0].status == "passed" and codes(report) == []


def test_levels_come_from_the_users_loss():
    """The uniform level is the user's loss on a constant output: ln C for CE, ln 2 for BCE, whatever the weights."""
    net = mlp()
    with torch.no_grad():
        net[2].weight.mul_(50)
    report = diagnose(net, make_classification(), nn.CrossEntropyLoss(label_smoothing=0.3))
    assert report.findings[0].evidence["uniform_level"] == pytest.approx(math.log(3), rel=1e-5)
    x, y = binary(0.05)
    data = DataLoader(TensorDataset(x, y), batch_size=32)  # unshuffled: the same batches on every read
    p = float(torch.cat([t for _, t in list(data)[:4]]).mean())  # the positive rate of the batches it reads
    report = diagnose(prior_biased_binary(0.05), data, nn.BCEWithLogitsLoss(pos_weight=torch.tensor(19.0)),
                      options={"chance-loss": {"rel_tol": -1.0}})  # every loss counts as "above": read the levels
    ev = report.findings[0].evidence
    assert ev["uniform_level"] == pytest.approx(math.log(2) * (19 * p + 1 - p), rel=1e-4)  # pos_weight counted
    assert ev["prior_level"] == pytest.approx(-(19 * p * math.log(p) + (1 - p) * math.log(1 - p)), rel=1e-4)


# -- the bundled example ------------------------------------------------------------------------------------------
def test_example_ranks_its_code_first(example_path):
    report = run_example(example_path("bad_init_loss"))
    assert report.exit_code("error") == 1
    assert report.findings[0].code == "ND201", [(f.code, f.title) for f in report.findings]


def test_a_loss_over_a_vae_tuple_is_called_with_the_whole_output():
    """The PyTorch examples' VAE: the loss unpacks (recon, mu, logvar); constants replace recon only."""
    from benchmarks.zoo.real import vae

    setup = vae.setup(seed=7)
    report = diagnose(setup["model"], setup["data"], setup["loss"], batch=setup["batch"])
    assert_silent(report, CHECK)
