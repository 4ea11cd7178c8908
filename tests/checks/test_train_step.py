"""train-step: the user's own step on copies: ND409 (no zero_grad), ND408 (no step), ND310 (eval mode)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import nndoctor
from nndoctor import config

from conftest import assert_silent, codes, make_classification, mlp, run_example


CHECK = "train-step"


def model_with_dropout_and_bn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))


def diagnose(step, model=None, **kw):
    model = model if model is not None else model_with_dropout_and_bn()
    return nndoctor.diagnose(model, make_classification(), nn.CrossEntropyLoss(), select=[CHECK],
                             train_step=step, device="cpu", **kw)


# -- steps, broken and healthy -----------------------------------------------------------------------------------
def correct(model, batch, loss_fn, optimizer):
    x, y = batch
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def zero_at_the_end(model, batch, loss_fn, optimizer):
    x, y = batch
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=False)
    return loss.item()


def no_zero_grad(model, batch, loss_fn, optimizer):
    x, y = batch
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def no_zero_grad_but_clipped(model, batch, loss_fn, optimizer):
    x, y = batch
    loss = loss_fn(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)  # clipping hides the growth, not the staleness
    optimizer.step()
    return loss


def no_optimizer_step(model, batch, loss_fn, optimizer):
    x, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    return loss


def zero_grad_between_backward_and_step(model, batch, loss_fn, optimizer):
    x, y = batch
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss


def eval_in_step(model, batch, loss_fn, optimizer):
    x, y = batch
    model.eval()
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def no_mode_call(model, batch, loss_fn, optimizer):
    x, y = batch
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def eval_metrics_then_train(model, batch, loss_fn, optimizer):
    """Evaluates under no_grad in eval mode, then trains in train mode: healthy."""
    x, y = batch
    model.eval()
    with torch.no_grad():
        model(x)
    model.train()
    return correct(model, batch, loss_fn, optimizer)


def accumulation(k, zero_after_step=True):
    """Gradient accumulation over k calls: the loss divided by k, step (and zero_grad) every k calls."""
    calls = {"n": 0}

    def step(model, batch, loss_fn, optimizer):
        x, y = batch
        loss = loss_fn(model(x), y) / k
        loss.backward()
        calls["n"] += 1
        if calls["n"] % k == 0:
            optimizer.step()
            if zero_after_step:
                optimizer.zero_grad()
        return loss
    return step


def raises(model, batch, loss_fn, optimizer):
    x, y = batch
    return loss_fn(model(x[:, :4]), y)


# -- fires ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("step", [no_zero_grad, no_zero_grad_but_clipped, accumulation(3, zero_after_step=False)])
def test_nd409_stale_gradients(step):
    report = diagnose(step)
    assert codes(report) == ["ND409"]
    assert report.findings[0].severity == "error"


@pytest.mark.parametrize("step", [no_optimizer_step, zero_grad_between_backward_and_step])
def test_nd408_step_never_updates(step):
    report = diagnose(step)
    assert codes(report) == ["ND408"]
    assert report.findings[0].severity == "error"


def test_nd310_eval_called_in_step():
    report = diagnose(eval_in_step)
    assert codes(report) == ["ND310"]
    assert report.findings[0].severity == "error" and report.findings[0].where == "train_step"


def test_nd310_factory_returns_eval_model_and_step_never_calls_train():
    model = model_with_dropout_and_bn().eval()
    report = diagnose(no_mode_call, model=model)
    assert codes(report) == ["ND310"] and report.findings[0].where == "model factory"
    assert model.training is False  # the user's model is left as it was


def test_nd310_is_a_note_when_modes_do_not_matter():
    report = diagnose(eval_in_step, model=mlp())  # no dropout, no BatchNorm
    assert codes(report) == ["ND310"] and report.findings[0].severity == "info"


def test_step_that_raises_is_nd308_with_the_user_frame():
    report = diagnose(raises)
    assert codes(report) == ["ND308"]
    assert "test_train_step.py" in report.findings[0].where


# -- silent --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("step", [correct, zero_at_the_end, eval_metrics_then_train, accumulation(4)])
def test_silent_on_correct_steps(step):
    assert_silent(diagnose(step), CHECK, fail_on="info")


def test_silent_on_eval_factory_when_the_step_calls_train():
    assert_silent(diagnose(correct, model=model_with_dropout_and_bn().eval()), CHECK, fail_on="info")


def test_skipped_without_train_step_and_silent_when_the_optimizer_cannot_move_either():
    assert_silent(diagnose(None), skipped={CHECK: "no train_step given"}, fail_on="info")
    # lr = 0: the standard step does not update either, so the step is not to blame (another check's finding).
    report = nndoctor.diagnose(model_with_dropout_and_bn(), make_classification(), nn.CrossEntropyLoss(),
                               torch.optim.SGD, optimizer_kwargs={"lr": 0.0}, select=[CHECK],
                               train_step=no_optimizer_step, device="cpu")
    assert_silent(report, CHECK, fail_on="info")


@pytest.mark.parametrize("name,code", [("no_zero_grad", "ND409"), ("no_optimizer_step", "ND408"),
                                       ("model_eval_in_step", "ND310")])
def test_example_ranks_its_code_first(example_path, name, code):
    report = run_example(example_path(name))
    assert report.findings[0].code == code and report.findings[0].severity == "error"
    assert report.exit_code() == 1


def test_silent_on_a_layer_left_out_of_the_optimizer_on_purpose():
    """optimizer.zero_grad() resets only the optimizer's parameters: gradients piling up on a layer that no step
    applies are not stale (ND403 is the finding for such a layer, when it is a mistake)."""
    def optimizer(m):
        return torch.optim.Adam(m[-1].parameters(), lr=1e-3)  # only the head is trained
    report = nndoctor.diagnose(model_with_dropout_and_bn(), make_classification(), nn.CrossEntropyLoss(), optimizer,
                               select=[CHECK], train_step=correct, device="cpu")
    assert_silent(report, CHECK, fail_on="info")


def test_config_train_step_must_take_four_arguments(tmp_path):
    (tmp_path / "steps_cfg_mod.py").write_text(
        "import torch\n"
        "from torch import nn\n"
        "def model():\n    return nn.Linear(8, 3)\n"
        "def data():\n    return [(torch.randn(4, 8), torch.randint(0, 3, (4,)))]\n"
        "def two_args(model, batch):\n    pass\n"
        "def good(model, batch, loss_fn, optimizer):\n    pass\n")
    base = "model: steps_cfg_mod:model\ndata: steps_cfg_mod:data\nloss: torch.nn:CrossEntropyLoss\n"
    (tmp_path / "bad.yaml").write_text(base + "train_step: steps_cfg_mod:two_args\n")
    (tmp_path / "good.yaml").write_text(base + "train_step: steps_cfg_mod:good\n")
    with pytest.raises(config.ConfigError, match=r"bad.yaml:4: key 'train_step'.*four parameters"):
        config.build(config.load(str(tmp_path / "bad.yaml")))
    assert config.build(config.load(str(tmp_path / "good.yaml"))).train_step.__name__ == "good"


# -- state carried across calls (nndoctor.probes.state) ----------------------------------------------------------
class StatefulRNN(nn.Module):
    """Keeps its hidden state between calls (self.hidden), as a truncated-BPTT language model does."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head = nn.GRU(8, 16, batch_first=True), nn.Linear(16, 3)
        self.hidden = None

    def forward(self, x):  # (B, F) one step per call
        if self.hidden is None or self.hidden.size(1) != x.size(0):
            self.hidden = x.new_zeros(1, x.size(0), 16)
        out, self.hidden = self.rnn(x.unsqueeze(1), self.hidden)  # (B, 1, H)
        return self.head(out[:, -1])


def stateful_step(detach):
    def step(model, batch, loss_fn, optimizer):
        x, y = batch
        if detach and model.hidden is not None:
            model.hidden = model.hidden.detach()  # repackage_hidden
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def test_undetached_carried_state_is_named():
    report = diagnose(stateful_step(detach=False), StatefulRNN())
    assert codes(report) == ["ND308"]
    finding = report.findings[0]
    assert finding.evidence["attached_state"] == ["hidden"] and "never detached" in finding.title
    assert "repackage_hidden" in finding.fix


def test_repackaged_carried_state_is_healthy():
    assert_silent(diagnose(stateful_step(detach=True), StatefulRNN()), CHECK)


def test_nd408_names_non_finite_gradients_when_a_grad_scaler_skips_every_step():
    """A GradScaler step over a loss whose gradient is NaN (sqrt at an exact zero): the scaler skips every
    optimizer.step(), so no weight changes; the finding says why instead of "optimizer.step() is never called"."""
    scaler = torch.amp.GradScaler("cpu")

    def amp_step(model, batch, loss_fn, optimizer):
        x, y = batch
        model.train()
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        loss = loss_fn(out, y) + (out - out).pow(2).sum(-1).sqrt().mean()  # sqrt(0): a NaN gradient, a 0 loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # skipped: the gradients are not finite
        scaler.update()
        return loss

    found = [f for f in diagnose(amp_step).findings if f.code == "ND408"]
    assert found and found[0].severity == "error" and "NaN/Inf gradients" in found[0].title, found
    assert found[0].evidence["non_finite_backwards"] == found[0].evidence["calls"]
