"""probes.batches: the targets handed to a model that computes its own loss, the parts of its return value, and
the read order of a loader whose batch sampler holds the sampler."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import (BatchSampler, DataLoader, RandomSampler, SequentialSampler, SubsetRandomSampler,
                              TensorDataset)

from nndoctor.probes.batches import WiringError, call_model, order_sampler, reads_in_order, take_parts, unpack


class Echo(nn.Module):
    def forward(self, *args, **kwargs):
        return args, kwargs


def test_call_model_hands_the_targets_where_targets_arg_says():
    x, y, m = torch.zeros(2), torch.ones(2), torch.full((2,), 2.0)
    model = Echo()
    assert call_model(model, x, y)[0][1] is y  # the next positional argument
    assert call_model(model, (x, m), y, targets_arg=1)[0] == (x, y, m)
    assert call_model(model, x, y, targets_arg="labels")[1] == {"labels": y}
    assert call_model(model, {"input_ids": x}, y, targets_arg="labels")[1] == {"input_ids": x, "labels": y}
    assert call_model(model, x) == ((x,), {})  # no targets: as before
    with pytest.raises(WiringError) as err:
        call_model(model, {"input_ids": x}, y, targets_arg=1)
    assert err.value.key == "batch"


def test_a_dict_batch_remembers_the_key_of_its_targets():
    batch = unpack({"input_ids": torch.zeros(2, 3), "labels": torch.zeros(2)})
    assert batch.targets_key == "labels" and set(batch.inputs) == {"input_ids"}


def test_take_parts_finds_the_logits_and_the_loss():
    logits, loss = torch.zeros(2, 3), torch.tensor(1.0)
    assert take_parts((logits, loss), None, model_loss=True) == (logits, loss)
    assert take_parts((logits, None), None, model_loss=True) == (logits, None)  # called without targets
    assert take_parts({"logits": logits, "loss": loss}, None, model_loss=True) == (logits, loss)
    assert take_parts({"out": logits, "nll": loss}, {"logits": "out", "loss": "nll"}, model_loss=True) == (logits, loss)
    assert take_parts((loss, logits), {"logits": 1, "loss": 0}, model_loss=True) == (logits, loss)
    with pytest.raises(WiringError):
        take_parts((logits, loss), {"logits": 5}, model_loss=True)


def test_the_read_order_comes_from_the_batch_samplers_sampler():
    data = TensorDataset(torch.arange(8.0))
    shuffled = DataLoader(data, batch_sampler=BatchSampler(RandomSampler(data), 2, drop_last=False))
    assert isinstance(shuffled.sampler, SequentialSampler)  # the unread default that misled the check
    assert isinstance(order_sampler(shuffled), RandomSampler) and not reads_in_order(shuffled)
    assert reads_in_order(DataLoader(data, batch_size=2)) and not reads_in_order(DataLoader(data, shuffle=True))


def test_a_list_of_indices_given_as_the_sampler_reads_in_one_fixed_order():
    """`DataLoader(ds, sampler=train_idx)` iterates the list as it is, every epoch: an order as fixed as
    shuffle=False (a class-sorted dataset read through it gives batches of one class)."""
    data = TensorDataset(torch.arange(10.0), torch.arange(10))
    assert reads_in_order(DataLoader(data, batch_size=2, sampler=list(range(8))))
    assert reads_in_order(DataLoader(data, batch_size=2, sampler=range(0, 10, 2)))
    assert not reads_in_order(DataLoader(data, batch_size=2, sampler=SubsetRandomSampler(list(range(8)))))


def test_a_loader_of_ready_made_batches_has_no_known_number_of_samples():
    """batch_size=None: each item is a batch of 4 rows, so len(dataset) = 5 counts batches; the population of
    samples is unknown (None), not 5."""
    from nndoctor.probes.batches import population

    chunks = TensorDataset(torch.randn(5, 4, 3), torch.randint(0, 2, (5, 4)))  # 5 items of (4, 3) rows
    assert population(DataLoader(chunks, batch_size=None)) is None
    assert population(DataLoader(chunks, batch_size=2)) == 5
