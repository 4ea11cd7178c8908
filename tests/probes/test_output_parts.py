"""probes.output_parts (outputs the loss takes whole, rows a loss scores) and sparse tensors in probes.batches."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from nndoctor.probes.batches import Batch, first_tensor, head, map_tensors, tensors, to_device
from nndoctor.probes.output_parts import primary, scored_rows, split_output


def test_a_tensor_is_its_own_primary():
    t = torch.randn(4, 3)
    out = split_output(t, torch.zeros(4, dtype=torch.long))
    assert out.tensor is t and not out.structured and out.with_tensor(t + 1) is not t


def test_the_primary_of_a_vae_output_is_the_reconstruction_by_its_number_of_elements():
    x = torch.rand(5, 1, 4, 4)
    mu, recon = torch.randn(5, 2), torch.rand(5, 16)
    out = split_output((mu, recon, torch.randn(5, 2)), x)  # mu first: the rule, not the position, picks recon
    assert out.tensor is recon and out.path == (1,) and out.structured
    swapped = out.with_tensor(torch.zeros(5, 16))
    assert swapped[0] is mu and torch.equal(swapped[1], torch.zeros(5, 16))


def test_the_primary_fits_class_targets_with_a_class_axis_in_a_nested_structure():
    hidden, logits = torch.randn(6, 5, 8), torch.randn(6, 3)  # hidden states (B, T, H) fit no (B,) targets
    out = split_output({"aux": [hidden], "head": (logits,)}, torch.zeros(6, dtype=torch.long))
    assert out.tensor is logits and out.path == ("head", 0)
    assert primary((torch.zeros(3, dtype=torch.long), hidden)) is hidden  # no targets: the first float tensor


def test_scored_rows_finds_an_index_masked_loss():
    idx = torch.tensor([0, 2, 3])
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    out = split_output(torch.randn(6, 3), y)
    rows = scored_rows(lambda o, t: F.nll_loss(o[idx], t[idx]), out, y)
    assert rows.tolist() == [True, False, True, True, False, False]
    assert scored_rows(F.cross_entropy, out, y) is None  # every row read


def sparse_graph(n=5):
    adj = (torch.eye(n) + torch.diag(torch.ones(n - 1), 1)).to_sparse()  # (N, N)
    return Batch(inputs=(torch.randn(n, 3), adj), targets=torch.arange(n) % 2)


def test_sparse_tensors_are_structure_not_samples():
    batch = sparse_graph()
    assert len(tensors(batch.inputs)) == 1 and len(tensors(batch.inputs, sparse=True)) == 2
    assert first_tensor(batch.inputs).shape == (5, 3) and batch.size == 5
    assert head(batch, 2) is batch  # a full-batch graph cannot be cut
    moved = to_device(batch.inputs, "cpu")
    assert moved[1].is_sparse and moved[1] is not batch.inputs[1]
    zeroed = map_tensors(batch.inputs, torch.zeros_like, sparse=False)
    assert zeroed[1] is batch.inputs[1] and float(zeroed[0].abs().sum()) == 0.0
