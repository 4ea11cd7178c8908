"""The shared training loop (`Context.train`): the user's own train_step when one is given (its clipping counts),
`step(closure)` for a closure optimizer (LBFGS) with or without one, the plain step when the user's step raises,
and no trace on the user's parameters."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor
from conftest import assert_silent
from nndoctor.engine.context import Context, needs_closure
from nndoctor.engine.subject import Subject, optimizer_factory


def regression(n=64, features=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)  # (N, F)
    y = x @ torch.randn(features, 1, generator=g)  # (N, 1)
    return DataLoader(TensorDataset(x, y), batch_size=16)


def linear(features=4):
    torch.manual_seed(0)
    return nn.Linear(features, 1)


def context(model, optimizer, train_step=None):
    subject = Subject(model=model, data=regression(), loss=nn.MSELoss(),
                      optimizer=optimizer_factory(optimizer, model=model), train_step=train_step)
    return Context(subject, device="cpu")


def lbfgs(model):
    return torch.optim.LBFGS(model.parameters(), lr=0.8, max_iter=4)


def test_needs_closure_tells_lbfgs_from_the_others():
    p = [nn.Parameter(torch.zeros(2))]
    assert needs_closure(torch.optim.LBFGS(p))
    assert not needs_closure(torch.optim.SGD(p, lr=0.1)) and not needs_closure(torch.optim.Adam(p))


def test_lbfgs_without_a_train_step_is_stepped_with_a_closure():
    """No train_step: the loop builds the closure LBFGS needs (zero_grad, forward, loss, backward, return)."""
    net = linear()
    ctx = context(net, lbfgs(net))
    copy = ctx.new_model()
    losses = ctx.train(copy, ctx.new_optimizer(copy), ctx.batches(), 5)
    assert len(losses) == 5 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.1 * losses[0]  # a linear least-squares problem: LBFGS solves it in a few steps


def test_the_loop_runs_the_users_step_and_its_clipping_counts():
    """With a train_step the update is the user's: a gradient clipped to 1e-3 under SGD(lr=1) moves the weights
    by at most 1e-3 per step, whatever the raw gradient."""
    def clipped(model, batch, loss_fn, optimizer):
        x, y = batch
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
        optimizer.step()
        return loss

    net = linear()
    ctx = context(net, torch.optim.SGD(net.parameters(), lr=1.0), train_step=clipped)
    copy = ctx.new_model()
    before = torch.cat([p.detach().flatten().clone() for p in copy.parameters()])
    losses = ctx.train(copy, ctx.new_optimizer(copy), ctx.batches(), 3)
    moved = float((torch.cat([p.detach().flatten() for p in copy.parameters()]) - before).norm())
    assert len(losses) == 3 and 0 < moved <= 3e-3 + 1e-9
    plain = ctx.new_model()
    ctx.train(plain, ctx.new_optimizer(plain), ctx.batches(), 3, user=False)  # the plain step: unclipped
    assert float((torch.cat([p.detach().flatten() for p in plain.parameters()]) - before).norm()) > 10 * moved


def test_the_loss_of_a_users_step_is_the_one_its_loss_function_computed():
    """A step that returns nothing still has a loss: the first value its loss function computed."""
    def silent(model, batch, loss_fn, optimizer):
        x, y = batch
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    net = linear()
    ctx = context(net, torch.optim.SGD(net.parameters(), lr=0.1), train_step=silent)
    copy = ctx.new_model()
    with torch.no_grad():
        first = float(nn.MSELoss()(copy(ctx.batches()[0].inputs), ctx.batches()[0].targets))
    losses = ctx.train(copy, ctx.new_optimizer(copy), ctx.batches(), 2)
    assert losses[0] == pytest.approx(first)


def test_a_users_step_that_raises_gives_way_to_the_plain_step():
    """The step's own error is train-step's finding (ND308); the loop measures on with the plain step, with the
    optimizer's state afresh (a closure step broken off half-way leaves LBFGS's inconsistent)."""
    def broken(model, batch, loss_fn, optimizer):
        x, y = batch
        pred = model(x)  # reused by every evaluation of the closure: the second backward fails

        def closure():
            optimizer.zero_grad()
            loss = loss_fn(pred, y)
            loss.backward()
            return loss
        return optimizer.step(closure)

    net = linear()
    ctx = context(net, lbfgs(net), train_step=broken)
    copy = ctx.new_model()
    losses = ctx.train(copy, ctx.new_optimizer(copy), ctx.batches(), 4)
    assert isinstance(ctx.user_step_error, RuntimeError)
    assert len(losses) == 4 and losses[-1] < losses[0]


def closure_step(model, batch, loss_fn, optimizer):
    x, y = batch

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss
    return optimizer.step(closure)


@pytest.mark.parametrize("train_step", [None, closure_step], ids=["closure-built-by-nndoctor", "users-closure"])
def test_a_closure_optimizer_runs_every_check_and_leaves_no_grad_on_the_user_model(train_step):
    """LBFGS on a healthy regression: no check crashes (no "step() missing 'closure'"), none reports, and the
    user's parameters carry no .grad afterwards."""
    net = linear()
    report = nndoctor.diagnose(net, regression(), nn.MSELoss(), lbfgs(net), train_step=train_step, device="cpu",
                               quick=True)
    assert_silent(report, "gradient-flow", "nan-tracing", "overfit-one-batch",
                  skipped={} if train_step else {"train-step": "no train_step"})
    assert all(p.grad is None for p in net.parameters())


def test_a_users_step_that_never_updates_gives_way_to_the_plain_step():
    """A step without optimizer.step() (train-step's ND408) would leave every check's training run standing still
    (and random-input racing to its cap): after INERT_CALLS idle calls the plain step stands in. An accumulating
    step, which updates every few calls, keeps its turn."""
    from nndoctor.engine.context import INERT_CALLS

    def no_step(model, batch, loss_fn, optimizer):
        x, y = batch
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    def accumulate_four(model, batch, loss_fn, optimizer):
        x, y = batch
        (loss_fn(model(x), y) / 4).backward()
        optimizer.calls = getattr(optimizer, "calls", 0) + 1
        if optimizer.calls % 4 == 0:
            optimizer.step()
            optimizer.zero_grad()

    net = linear()
    ctx = context(net, torch.optim.SGD(net.parameters(), lr=0.1), train_step=no_step)
    copy = ctx.new_model()
    losses = ctx.train(copy, ctx.new_optimizer(copy), ctx.batches()[:1], INERT_CALLS + 6)
    assert ctx.user_step_inert and losses[INERT_CALLS - 1] == pytest.approx(losses[0]) and losses[-1] < losses[0]
    ctx = context(net, torch.optim.SGD(net.parameters(), lr=0.1), train_step=accumulate_four)
    copy = ctx.new_model()
    ctx.train(copy, ctx.new_optimizer(copy), ctx.batches()[:1], 2 * INERT_CALLS)
    assert not ctx.user_step_inert
