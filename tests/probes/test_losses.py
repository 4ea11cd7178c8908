"""probes.losses: the ignored target learned from the loss itself, a model's own loss (ModelLoss), the function
loss that stands in for it, and a loss that shifts its targets."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nndoctor.probes.losses import (ModelLoss, ModelLossUnavailable, ignore_candidates, ignored_target,
                                    learn_ignored_target, shifts_targets, skipped_targets, stand_in_loss)

V = 7


def lm_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(4, 6, V, generator=g), torch.randint(0, V, (4, 6), generator=g)  # (B, T, V), (B, T)


def flat_ce(ignore_index):
    def loss(logits, targets):
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=ignore_index)
    return loss


def shifting_ce(logits, labels):
    """As a Hugging Face causal LM: logits[:, t] against labels[:, t + 1], -100 ignored."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1))


@pytest.mark.parametrize("ignore", [-1, -100, 0, V - 1])
def test_skipped_targets_finds_the_value_a_function_loss_ignores(ignore):
    out, y = lm_batch()
    skipped = skipped_targets(flat_ce(ignore), out, y, [-100, -1, 0, V - 1], axis=2)
    assert skipped == [ignore]


def test_skipped_targets_sees_through_a_loss_that_shifts_the_targets():
    out, y = lm_batch(1)
    assert skipped_targets(shifting_ce, out, y, [-100, -1, 0], axis=2) == [-100]


def test_a_loss_that_ignores_nothing_skips_nothing():
    out, y = lm_batch(2)

    def no_ignore(logits, targets):  # out-of-range targets raise, in-range ones are scored
        return F.nll_loss(logits.log_softmax(-1).view(-1, V), targets.view(-1), ignore_index=-12345)

    assert skipped_targets(no_ignore, out, y, [-100, -1, 0], axis=2) == []


def test_ignore_candidates_include_the_out_of_range_values_held():
    y = torch.tensor([[3, 5, -7], [9, 0, 1]])
    assert set(ignore_candidates(y, num_classes=6)) >= {-100, -1, -7, 9, 0}


def test_the_learned_value_is_what_ignored_target_says_until_forgotten():
    loss = flat_ce(-1)
    assert ignored_target(loss) == -100  # nothing learned: torch's default
    learn_ignored_target(loss, -1)
    assert ignored_target(loss) == -1
    learn_ignored_target(loss, None)
    assert ignored_target(loss) == -100
    assert ignored_target(torch.nn.CrossEntropyLoss(ignore_index=3)) == 3


def test_model_loss_returns_the_loss_recorded_with_the_outputs():
    out, y = lm_batch(3)
    loss = ModelLoss()
    value = flat_ce(-1)(out, y)
    rescored = []
    loss.remember(out, y, value, rescore=lambda t: rescored.append(t) or torch.tensor(1.5))
    assert loss(out, y) is value
    assert loss(out.detach(), y) is value  # a detached view of the same outputs
    assert float(loss(out, torch.zeros_like(y))) == 1.5 and len(rescored) == 1  # other targets: one more forward
    with pytest.raises(ModelLossUnavailable):
        loss(out * 2, y)  # outputs nndoctor made cannot be scored by the model
    changed = out.detach()
    changed.add_(1.0)  # written into after the forward: no longer what the model scored
    with pytest.raises(ModelLossUnavailable):
        loss(changed, y)


def test_stand_in_loss_is_the_cross_entropy_a_model_computes():
    out, y = lm_batch(4)
    y[0, :2] = -1
    model_loss = ModelLoss()
    learn_ignored_target(model_loss, -1)
    model_loss.remember(out, y, flat_ce(-1)(out, y))
    stand_in = stand_in_loss(model_loss, out, y)
    assert stand_in is not None and stand_in.reference is F.cross_entropy
    assert torch.allclose(stand_in(out * 0, y), torch.tensor(float(torch.log(torch.tensor(float(V))))))
    shifted = ModelLoss()
    y = y.clamp_min(0)
    shifted.remember(out, y, shifting_ce(out, y))
    stand_in = stand_in_loss(shifted, out, y)  # a Hugging Face causal LM: the shifted cross-entropy
    assert stand_in is not None and stand_in.shift == 1 and torch.allclose(stand_in(out, y), shifting_ce(out, y))
    other = ModelLoss()
    other.remember(out, y, shifting_ce(out, y) + out.pow(2).mean())  # an extra term: nothing stands in
    assert stand_in_loss(other, out, y) is None


def test_shifts_targets_tells_a_shifting_loss_from_a_plain_one():
    out, y = lm_batch(5)
    assert shifts_targets(shifting_ce, out, y, V)
    assert not shifts_targets(flat_ce(-1), out, y, V)
