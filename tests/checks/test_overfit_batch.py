"""overfit-one-batch: ND501-ND503 fire on broken setups and stay silent on healthy ones; the floor is right."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor
from nndoctor.probes.loss_floor import loss_floor

from conftest import assert_silent, make_classification, mlp, run_example


CHECK = "overfit-one-batch"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is faster than two competing for a busy machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

def diagnose(model, data, loss, optimizer=None, **kw):
    return nndoctor.diagnose(model, data, loss, optimizer, select=[CHECK], device="cpu", **kw)


def loud(report):
    return [(f.code, f.severity, f.title) for f in report.findings if f.severity != "info"]


def regression(n=128, features=8, mean=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)  # (N, F)
    y = mean + x @ torch.randn(features, 1, generator=g)  # (N, 1)
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))


# -- the floor ---------------------------------------------------------------------------------------------------
def test_floor_is_the_entropy_of_the_smoothed_target():
    eps, C = 0.1, 4
    y = torch.tensor([0, 1, 2, 3, 1])
    floor = loss_floor(nn.CrossEntropyLoss(label_smoothing=eps), torch.zeros(5, C), y, "classification",
                       nn.CrossEntropyLoss(label_smoothing=eps))
    q_hit, q_miss = 1 - eps + eps / C, eps / C
    entropy = -(q_hit * math.log(q_hit) + (C - 1) * q_miss * math.log(q_miss))
    assert floor.value == pytest.approx(entropy, abs=1e-4)


def test_floor_of_hard_labels_and_regression_is_zero():
    y = torch.tensor([0, 2, 1])
    assert loss_floor(nn.CrossEntropyLoss(), torch.zeros(3, 3), y, "classification").value < 1e-6
    t = torch.randn(6, 2)
    assert loss_floor(nn.MSELoss(), torch.zeros(6, 2), t, "regression").value == 0.0


# -- fires -----------------------------------------------------------------------------------------------------
def test_nd501_bounded_logits():
    """Tanh on the logits: CE cannot go below log(1 + 3 / e^2) = 0.34 for 4 classes, far above the floor 0."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 4), nn.Tanh())
    report = diagnose(model, make_classification(classes=4), nn.CrossEntropyLoss())
    f = [f for f in report.findings if f.code == "ND501"]
    assert [x.severity for x in f] == ["error"]
    assert f[0].evidence["floor"] < 1e-3 and f[0].evidence["levels_off_at"] > 0.3


def test_nd502_gradient_ascent():
    """A hand-written cross-entropy without its minus sign: the loss falls while accuracy drops to zero."""
    def cross_entropy(logits, y):
        return logits.log_softmax(-1).gather(1, y[:, None]).mean()  # BUG: missing minus sign

    report = diagnose(mlp(classes=4), make_classification(classes=4), cross_entropy)
    f = [f for f in report.findings if f.code == "ND502"]
    assert f and f[0].severity == "error" and f[0].evidence["samples_away"] >= 0.75


def test_nd502_gradient_ascent_on_a_label_smoothed_loss():
    """The sign error in a label-smoothed cross-entropy: the floor search finds a finite 'floor' below the start (the
    flipped loss has none), so the loss seems to fall toward it; the target-class probabilities fall meanwhile."""
    def smoothed_cross_entropy(logits, y, eps=0.1):
        logp = logits.log_softmax(-1)  # (B, C)
        soft = torch.full_like(logp, eps / logp.shape[-1]).scatter_(1, y[:, None], 1 - eps + eps / logp.shape[-1])
        return (soft * logp).sum(-1).mean()  # BUG: missing minus sign

    report = diagnose(mlp(classes=4), make_classification(classes=4), smoothed_cross_entropy)
    f = [f for f in report.findings if f.code == "ND502"]
    assert f and f[0].severity == "error" and f[0].evidence["metric_after"] < f[0].evidence["metric_before"]


def test_nd502_loss_rises_with_a_huge_learning_rate():
    model = mlp(classes=4)
    report = diagnose(model, make_classification(classes=4), nn.CrossEntropyLoss(), torch.optim.SGD,
                      optimizer_kwargs={"lr": 5.0})
    f = [f for f in report.findings if f.code == "ND502"]
    assert f and f[0].severity == "error" and f[0].evidence["rise"] > 2


def test_nd503_loss_turns_inf():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    report = diagnose(model, regression(), nn.MSELoss(), torch.optim.SGD, optimizer_kwargs={"lr": 1.0})
    f = [f for f in report.findings if f.code == "ND503"]
    assert f and f[0].evidence["step"] > 0


# -- silent ----------------------------------------------------------------------------------------------------
class TiedLM(nn.Module):
    def __init__(self, vocab=40, dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.head = nn.Linear(dim, vocab)
        self.head.weight = self.embed.weight  # tied

    def forward(self, x):
        return self.head(self.gru(self.embed(x))[0])


def lm_loss(logits, y):
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # (B*T, V), (B*T,)


def warmup_adam(model, lr=1e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, step / 1000))  # lr starts at 0
    return opt


def healthy_setups():
    torch.manual_seed(0)
    bn = nn.Sequential(nn.Linear(8, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 4))
    reg = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    nn.init.constant_(reg[2].bias, 500.0)  # output bias set to the target mean
    g = torch.Generator().manual_seed(0)
    xb = torch.randn(128, 8, generator=g)
    yb = (torch.rand(128, 1, generator=g) < 0.1).float()  # 10% positives
    binary = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    nn.init.constant_(binary[2].bias, math.log(0.1 / 0.9))  # prior-matched bias
    tokens = torch.randint(0, 40, (32, 13), generator=g)
    return {
        "batchnorm-dropout": (bn, make_classification(classes=4), nn.CrossEntropyLoss(), None),
        "label-smoothing": (mlp(classes=4), make_classification(classes=4), nn.CrossEntropyLoss(label_smoothing=0.2),
                            None),
        "logsoftmax-nll": (nn.Sequential(mlp(classes=4), nn.LogSoftmax(dim=1)), make_classification(classes=4),
                           nn.NLLLoss(), None),
        "warmup-from-zero": (mlp(classes=4), make_classification(classes=4), nn.CrossEntropyLoss(), warmup_adam),
        "regression-large-mean": (reg, regression(mean=500.0), nn.MSELoss(), None),
        "binary-prior-bias": (binary, DataLoader(TensorDataset(xb, yb), batch_size=32), nn.BCEWithLogitsLoss(), None),
        "tied-gru-lm": (TiedLM(), DataLoader(TensorDataset(tokens[:, :-1], tokens[:, 1:]), batch_size=16), lm_loss,
                        None),
    }


@pytest.mark.parametrize("name", list(healthy_setups()))
def test_silent_on_healthy(name):
    model, data, loss, optimizer = healthy_setups()[name]
    assert_silent(diagnose(model, data, loss, optimizer), CHECK)


def test_low_learning_rate_is_a_note_not_an_error():
    """Plain SGD at 0.01 memorises one batch slowly; Adam fits it, so the model is fine: info at most."""
    model = mlp(classes=4)
    report = diagnose(model, make_classification(classes=4), nn.CrossEntropyLoss(), torch.optim.SGD,
                      optimizer_kwargs={"lr": 0.01})
    assert_silent(report, CHECK)


def test_nd501_warns_when_the_loss_barely_moves():
    """Adam at 1e-7, four decades below its default: 2.37 to 2.37 in 150 steps. The curve still falls, so it
    extrapolates to the target, but only after ~1e6 steps, far more than 10x the budget and 10x the steps that
    Adam(lr=3e-3) needs on the same batch: a warning on the optimizer, not a pass."""
    model = mlp(classes=10)
    report = diagnose(model, make_classification(classes=10), nn.CrossEntropyLoss(),
                      torch.optim.Adam(model.parameters(), lr=1e-7))
    f = [f for f in report.findings if f.code == "ND501"]
    assert [(x.severity, x.where) for x in f] == [("warning", "optimizer")], loud(report)
    ev = f[0].evidence
    assert ev["gap_closed"] < 0.01 and ev["steps_to_target_at_final_pace"] > 10 * ev["steps"]
    assert ev["reference_steps"] <= ev["steps"] and "barely moves" in f[0].title


def test_slow_but_workable_learning_rate_is_at_most_a_note():
    """Adam at 1e-4 closes a sixth of the gap in 150 steps and, at its final pace, needs about 6 budgets: slow
    but workable (under 10x the budget), so the check passes with the note that the optimizer holds it back."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    report = diagnose(model, make_classification(seed=1), nn.CrossEntropyLoss(),
                      torch.optim.Adam(model.parameters(), lr=1e-4))
    assert_silent(report, CHECK)
    notes = [f for f in report.findings if f.code == "ND501"]
    assert [f.severity for f in notes] == ["info"]
    assert notes[0].evidence["steps"] < notes[0].evidence["steps_to_target_at_final_pace"] < 10 * 150


# -- the example -------------------------------------------------------------------------------------------------
def test_example_tanh_logits_ranks_nd501_first(example_path):
    report = run_example(example_path("tanh_logits"))
    assert report.findings[0].code == "ND501" and report.exit_code() == 1, \
        [(f.code, f.severity, f.title) for f in report.findings]


@pytest.mark.parametrize("example, code", [("loss_sign_flipped", "ND502"), ("loss_scale_not_unscaled", "ND503")])
def test_example_ranks_its_code_first(example_path, example, code):
    report = run_example(example_path(example))
    found = [(f.code, f.severity, f.title) for f in report.findings]
    if example == "loss_scale_not_unscaled":
        # gradient-flow measures through the user's step and names the cause first: the step's update is 65536x
        # a plain step's (the loss scale never undone); the overflow it leads to (ND503) follows from it
        assert (report.findings[0].code, report.findings[0].where) == ("ND407", "train_step"), found
        assert code in [f.code for f in report.findings] and report.exit_code() == 1, found
        return
    assert report.findings[0].code == code and report.exit_code() == 1, found




# -- layouts other than batch-first (nndoctor.probes.layout) ----------------------------------------------------
class TimeMajorLM(nn.Module):
    def __init__(self, vocab=12):
        super().__init__()
        torch.manual_seed(0)
        self.vocab = vocab
        self.emb, self.rnn, self.out = nn.Embedding(vocab, 16), nn.LSTM(16, 32), nn.Linear(32, vocab)

    def forward(self, x):  # (T, B)
        return self.out(self.rnn(self.emb(x))[0]).view(-1, self.vocab)  # (T * B, V)


def test_time_major_batch_with_flattened_targets_is_cut_along_its_columns():
    """(T, B) windows and (T * B,) targets: the first samples are columns, and the targets are cut with them."""
    g = torch.Generator().manual_seed(0)
    source = torch.randint(0, 12, (41, 16), generator=g)  # (N, B) a batchified stream
    data = [(source[i:i + 10], source[i + 1:i + 11].reshape(-1)) for i in range(0, 40, 10)]
    report = diagnose(TimeMajorLM(), data, nn.CrossEntropyLoss(), torch.optim.Adam, optimizer_kwargs={"lr": 1e-2})
    assert_silent(report, CHECK)  # cut along dim 0, inputs (8, 16) met targets (160,): the check crashed


def test_unbatched_sentence_is_fitted_whole():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.emb, self.lstm, self.head = nn.Embedding(12, 8), nn.LSTM(8, 16), nn.Linear(16, 3)

        def forward(self, s):  # (T,)
            out, _ = self.lstm(self.emb(s).view(len(s), 1, -1))  # (T, 1, H)
            return torch.log_softmax(self.head(out.view(len(s), -1)), dim=1)  # (T, K)

    g = torch.Generator().manual_seed(0)
    data = [(torch.randint(0, 12, (14,), generator=g), torch.randint(0, 3, (14,), generator=g))]
    report = diagnose(Tagger(), data, nn.NLLLoss(), torch.optim.Adam, optimizer_kwargs={"lr": 1e-2})
    assert_silent(report, CHECK)




# -- a loss that falls without bound (benchmarks/zoo/real: the PyTorch examples' VAE, pygcn's GCN) --------------------
def real(family, **kw):
    from benchmarks.zoo.real import gcn, vae

    return {"vae": vae.setup, "gcn": gcn.setup}[family](seed=7, **kw)


def test_nd502_a_vae_loss_with_its_kld_sign_flipped_falls_without_bound():
    from benchmarks.zoo.real import vae

    report = diagnose(**real("vae", loss=vae.flipped_kld_loss))
    found = [f for f in report.findings if f.code == "ND502"]
    assert found and "falls without bound" in found[0].title
    assert found[0].evidence["smoothed_final_loss"] < found[0].evidence["floor"]


def test_nd502_nll_on_raw_scores_behind_an_index_mask_falls_without_bound():
    report = diagnose(**real("gcn", log_softmax=False))
    assert [f.code for f in report.findings] == ["ND502"]


@pytest.mark.parametrize("family", ["vae", "gcn"])
def test_silent_on_a_healthy_vae_and_gcn(family):
    """The VAE's floor is of its reconstruction alone (partial): its KL term keeps the loss above it, no ND501."""
    assert_silent(diagnose(**real(family)), "overfit-one-batch")


class _ConstantLogits(nn.Module):
    """Logits that ignore the input: a learned constant, 97% on class 1 at the start."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor([0.0, math.log(97.0), 0.0, 0.0]))  # softmax: .01, .97, .01, .01

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)  # (B, C)


def test_a_proper_loss_moving_a_constant_output_toward_the_class_prior_is_not_gradient_ascent():
    """Six of the batch's eight labels are the class the start favours (97 %), two another: cross-entropy moves the
    constant toward the batch's prior (3/4, 1/4), so the six labels lose probability (away share 6/8, at
    `away_share`) while the mean log-probability of the labels rises, as a falling proper loss makes it. Gradient
    ascent lowers it; a share of samples alone cannot tell them apart."""
    x = torch.randn(8, 3)  # (B, F)
    y = torch.tensor([1, 1, 1, 0, 1, 1, 0, 1])  # (B,)
    data = DataLoader(TensorDataset(x, y), batch_size=8)
    report = diagnose(_ConstantLogits(), data, nn.CrossEntropyLoss(), torch.optim.SGD, optimizer_kwargs={"lr": 1.0})
    assert "ND502" not in [f.code for f in report.findings], loud(report)
    assert [c.status for c in report.checks if c.name == CHECK] in (["passed"], ["failed"])
