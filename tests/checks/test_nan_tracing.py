"""nan-tracing: ND306 and ND406 name where NaN/Inf are born, and stay silent on healthy setups."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

from conftest import assert_silent, make_classification, mlp, run_example


CHECK = "nan-tracing"


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


def findings(report):
    return [(f.code, f.severity, f.where) for f in report.findings]


class Log(nn.Module):
    def forward(self, x):
        return torch.log(x)


class LogBlock(nn.Module):
    """The log is in the block's own forward, between its children: the block is the innermost culprit."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 32)
        self.act = nn.ReLU()

    def forward(self, x):
        return torch.log(self.act(self.fc(x)))


class PairwiseDistance(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        z = self.proj(x)
        d = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1).sqrt()  # (B, B), zero diagonal: sqrt'(0) = inf
        return self.head(z) - 0.01 * d.mean(1, keepdim=True)


# -- fires -----------------------------------------------------------------------------------------------------
def test_nd306_names_the_module_that_takes_log_of_zero():
    torch.manual_seed(0)
    report = diagnose(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), Log(), nn.Linear(32, 3)), make_classification())
    assert findings(report) == [("ND306", "error", "2 (Log)")]
    assert report.findings[0].evidence["input_min"] == 0.0 and report.findings[0].evidence["step"] == 0


def test_an_overflow_says_so_and_a_nan_born_in_one_op_does_not():
    """Weights 3000x too large: the activations grow ~1000x per layer until a Linear's output passes the float32
    maximum. The finite values beside the Inf are past sqrt(3.4e38): the scale that grew is the cause."""
    torch.manual_seed(0)
    layers = [nn.Linear(8, 16)] + [m for _ in range(14) for m in (nn.ReLU(), nn.Linear(16, 16))] + [nn.Linear(16, 3)]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(3000.0)
    report = diagnose(model, make_classification())
    f = report.findings[0]
    assert (f.code, f.severity) == ("ND306", "error") and f.evidence["overflow"], findings(report)
    assert f.evidence["finite_max_abs"] > 1.8e19 and "overflow" in f.title
    torch.manual_seed(0)
    report = diagnose(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), Log(), nn.Linear(32, 3)), make_classification())
    assert not report.findings[0].evidence["overflow"]


def test_nd306_innermost_module_holding_the_op():
    torch.manual_seed(0)
    report = diagnose(nn.Sequential(LogBlock(), nn.Linear(32, 3)), make_classification())
    assert findings(report) == [("ND306", "error", "0 (LogBlock)")]


def test_nd306_in_the_loss_after_some_steps():
    """A hand-written BCE on sigmoid outputs: log(1 - p) is -inf once p rounds to 1.0 during training."""
    def bce(p, y):
        return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()

    g = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(256, 8, generator=g)
    y = (x[:, :1] > 0).float()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
    report = diagnose(model, DataLoader(TensorDataset(x, y), batch_size=32), bce, torch.optim.Adam,
                      optimizer_kwargs={"lr": 0.1})
    assert findings(report) == [("ND306", "error", "loss (bce)")]
    f = report.findings[0]
    assert f.evidence["phase"] == "training" and f.evidence["step"] > 0 and f.evidence["outputs_max"] == 1.0


def test_nd406_sqrt_at_zero_in_backward():
    torch.manual_seed(0)
    report = diagnose(PairwiseDistance(), make_classification())
    assert findings(report) == [("ND406", "error", "proj.bias")]
    ev = report.findings[0].evidence
    assert ev["backward_op"] == "SqrtBackward0" and ".sqrt()" in ev["forward_line"]


def test_divergence_is_a_note_not_the_modules_fault():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    report = diagnose(model, DataLoader(TensorDataset(x, y), batch_size=32), nn.MSELoss(), torch.optim.SGD,
                      optimizer_kwargs={"lr": 1.0})
    assert report.findings and all(f.severity == "info" for f in report.findings)
    assert report.findings[0].evidence["weight_growth"] > 10


def diverging_regression():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    return model, DataLoader(TensorDataset(x, y), batch_size=32)


def test_the_training_run_goes_through_the_users_step_so_its_clipping_counts():
    """SGD(lr=1) diverges to Inf (the note above); the same lr with the gradient norm clipped to 0.1 in the user's
    step does not, and nan-tracing, which trains through that step, stays silent."""
    def clipped(model, batch, loss_fn, optimizer):
        x, y = batch
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()
        return loss

    model, data = diverging_regression()
    report = diagnose(model, data, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=1.0), train_step=clipped)
    assert_silent(report, CHECK, fail_on="info")


def hand_written_bce(p, y):
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def test_nd306_during_training_under_lbfgs_without_a_train_step():
    """A closure optimizer trains without a crash ("step() missing 'closure'"): LBFGS drives the sigmoid to 1.0 and
    the hand-written BCE's log(1 - p) to -inf, found in the training run."""
    g = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(256, 8, generator=g)
    y = (x[:, :1] > 0).float()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
    report = diagnose(model, DataLoader(TensorDataset(x, y), batch_size=32), hand_written_bce,
                      torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=3))
    assert [c.status for c in report.checks] == ["failed"]
    f = report.findings[0]
    assert (f.code, f.where) == ("ND306", "loss (hand_written_bce)") and f.evidence["phase"] == "training"


# -- silent ----------------------------------------------------------------------------------------------------
class MaskedScores(nn.Module):
    """Writes -inf above the diagonal on purpose: the softmax after it absorbs them."""

    def forward(self, h):
        scores = h @ h.transpose(-1, -2)  # (B, T, T)
        T = scores.shape[-1]
        return scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))


class CausalMixer(nn.Module):
    def __init__(self, vocab=50, dim=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.scores = MaskedScores()
        self.head = nn.Linear(dim, vocab)

    def forward(self, x):
        h = self.embed(x)  # (B, T, D)
        return self.head(self.scores(h).softmax(-1) @ h)


def lm_loss(logits, y):
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # (B*T, V), (B*T,)


def test_silent_on_healthy_and_on_an_attention_mask():
    torch.manual_seed(0)
    assert_silent(diagnose(mlp(), make_classification()), CHECK, fail_on="info")
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 50, (32, 9), generator=g)
    report = diagnose(CausalMixer(), DataLoader(TensorDataset(tokens[:, :-1], tokens[:, 1:]), batch_size=16), lm_loss)
    assert_silent(report, CHECK, fail_on="info")


def test_nan_already_in_the_inputs_blames_no_module():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    x[3, 1] = float("nan")  # every batch of one (unshuffled) loader: the first
    y = torch.randint(0, 3, (64,), generator=g)
    assert_silent(diagnose(mlp(), DataLoader(TensorDataset(x, y), batch_size=64)), CHECK, fail_on="info")


def nan_target_regression():
    """Regression targets with a missing value (NaN) in some rows of every batch."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = x @ torch.randn(8, generator=g)  # (N,)
    y[::7] = float("nan")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))
    return model, DataLoader(TensorDataset(x, y), batch_size=32)


def test_nd406_missing_targets_masked_in_the_result_not_the_argument():
    """nanmean skips the NaN squared errors in forward; backward multiplies its zero gradient there by the NaN
    derivative of (out - y) ** 2: every parameter's gradient is NaN, born in the loss."""
    def masked_mse(out, y):
        return ((out - y) ** 2).nanmean()

    model, data = nan_target_regression()
    report = diagnose(model, data, masked_mse, torch.optim.Adam)
    assert [(c, s) for c, s, _ in findings(report)] == [("ND406", "error")]
    ev = report.findings[0].evidence
    assert ev["data_non_finite"] and ev["born_in"] == "loss (masked_mse)"
    assert ev["phase"] == "real batches at initialisation"


class MissingFeatures(nn.Module):
    """Each feature embedded on its own, the missing ones (NaN) zeroed after the embedding: forward is finite."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(1, 8)
        self.head = nn.Linear(8 * 8, 3)

    def forward(self, x):  # x: (B, F) with NaN where a value is missing
        h = self.embed(x.unsqueeze(-1))  # (B, F, 8)
        h = h.masked_fill(torch.isnan(x).unsqueeze(-1), 0.0)  # the mask on the result, not on x
        return self.head(h.flatten(1))  # (B, F * 8) -> (B, 3)


def test_nd406_missing_inputs_masked_after_the_layer_that_took_them():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y = torch.randint(0, 3, (64,), generator=g)
    x[::5, 2] = float("nan")
    torch.manual_seed(0)
    report = diagnose(MissingFeatures(), DataLoader(TensorDataset(x, y), batch_size=32))
    assert [(c, s, w) for c, s, w in findings(report)] == [("ND406", "error", "embed.weight")]
    assert report.findings[0].evidence["data_non_finite"]


def test_silent_when_the_missing_values_are_masked_before_the_op():
    def masked_mse(out, y):
        keep = ~torch.isnan(y)
        return ((out - torch.where(keep, y, 0.0)) ** 2 * keep).sum() / keep.sum()  # the argument masked first

    model, data = nan_target_regression()
    assert_silent(diagnose(model, data, masked_mse, torch.optim.Adam), CHECK, fail_on="info")


# -- the examples ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("example, code, where", [("log_of_zero_nan", "ND306", "compress (LogCompress)"),
                                                  ("pairwise_distance_nan", "ND406", "encoder.2.bias")])
def test_example_ranks_its_code_first(example_path, example, code, where):
    report = run_example(example_path(example))
    first = report.findings[0]
    assert (first.code, first.where) == (code, where) and report.exit_code() == 1, \
        [(f.code, f.severity, f.title) for f in report.findings]
