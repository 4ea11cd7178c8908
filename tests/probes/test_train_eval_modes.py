"""probes.train_eval_modes: sampling by design told from dropout masks; forwards that draw the same noise."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nndoctor.probes.train_eval_modes import Randomness, eval_noise, eval_randomness, same_draws


class Ctx:
    device = torch.device("cpu")

    @staticmethod
    def forward(model, x):
        return model(x)


class Noisy(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind, self.fc, self.drop = kind, nn.Linear(4, 4), nn.Dropout(0.5)

    def forward(self, x):
        h = self.drop(self.fc(x))  # a module: no mask in eval mode
        if self.kind == "sample":
            return h + torch.randn_like(h)  # a VAE's reparameterisation
        if self.kind == "dropout":
            return F.dropout(h, 0.5)  # training=True whatever the mode
        return h


def test_sampling_in_eval_mode_is_by_design_and_a_functional_dropout_is_not():
    x = torch.randn(8, 4)
    sample, drop, plain = (eval_randomness(Ctx, Noisy(k), x) for k in ("sample", "dropout", "plain"))
    assert sample.by_design and sample.sampling == ["aten::randn_like"] and not sample.masking
    assert not drop.by_design and drop.masking == ["aten::bernoulli_"]
    assert plain == Randomness()


def test_eval_noise_records_the_randomness_of_its_own_forward_and_keeps_the_modes():
    model, seen = Noisy("sample").train(), Randomness()
    assert eval_noise(Ctx, model, torch.randn(8, 4), seen) > 0.1
    assert seen.by_design and model.training and model.drop.training


def test_same_draws_repeat_the_noise_and_restore_the_generator():
    before = torch.get_rng_state()
    with same_draws(torch.device("cpu"), 7):
        a = torch.randn(3)
    with same_draws(torch.device("cpu"), 7):
        b = torch.randn(3)
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), before)
