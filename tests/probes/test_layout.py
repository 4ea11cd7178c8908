"""The layout probe (nndoctor.probes.layout): batch and time axes read from the config, the targets, next-step data,
the model's batch_first and the shapes its sequence layer receives; and whole runs on time-major, stateful and
unbatched models (the word_language_model example's and the sequence-models tutorial's conventions) with every
check finishing and nothing found."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nndoctor
from nndoctor.engine.context import Context
from nndoctor.engine.subject import Subject, optimizer_factory
from nndoctor.probes.batches import Batch
from nndoctor.probes.layout import Layout, from_config, take_samples

from conftest import assert_silent

V, B, T = 16, 6, 8  # vocabulary, batch (columns), bptt window


def stream(n=B * T * 5 + 1, seed=0):
    """A learnable token stream (each token the previous plus the one three back, mod V), restarted every 12."""
    g = torch.Generator().manual_seed(seed)
    seq = torch.zeros(n, dtype=torch.long)
    for s in range(0, n, 12):
        seq[s:s + 3] = torch.randint(0, V, (min(3, n - s),), generator=g)
        for t in range(s + 3, min(s + 12, n)):
            seq[t] = (seq[t - 1] + seq[t - 3]) % V
    return seq


def windows(shift=1, seed=0):
    """batchify + get_batch: (T, B) inputs, targets the next rows flattened to (T * B,); the last window shorter."""
    source = stream(seed=seed)
    source = source[:source.numel() // B * B].view(B, -1).t().contiguous()  # (N // B, B)
    out = []
    for i in range(0, source.size(0) - 1, T):
        n = min(T, source.size(0) - 1 - i)
        out.append((source[i:i + n], source[i + shift:i + shift + n].reshape(-1)))
    return out


class StatefulLM(nn.Module):
    """A time-major LSTM LM keeping its hidden state between calls (self.hidden), as the example's model does."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 12)
        self.rnn = nn.LSTM(12, 24)  # time-major
        self.out = nn.Linear(24, V)
        self.hidden = None

    def forward(self, x):  # (T, B)
        if self.hidden is None or self.hidden[0].size(1) != x.size(1):
            self.hidden = (x.new_zeros(1, x.size(1), 24, dtype=torch.float),) * 2
        y, self.hidden = self.rnn(self.emb(x), self.hidden)  # (T, B, H)
        return F.log_softmax(self.out(y).view(-1, V), dim=1)  # (T * B, V)


def repackaged_step(model, batch, loss_fn, optimizer):
    x, y = batch
    if model.hidden is not None:
        model.hidden = tuple(h.detach() for h in model.hidden)
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
    optimizer.step()
    return loss.item()


class TimeMajorTransformer(nn.Module):
    def __init__(self, causal=True):
        super().__init__()
        self.causal = causal
        self.emb = nn.Embedding(V, 16)
        self.pos = nn.Parameter(torch.randn(T, 1, 16) * 0.1)  # (T, 1, E)
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, 0.0), 1, enable_nested_tensor=False)
        self.out = nn.Linear(16, V)

    def forward(self, x):  # (T, B)
        mask = nn.Transformer.generate_square_subsequent_mask(len(x)) if self.causal else None
        h = self.enc(self.emb(x) * math.sqrt(16) + self.pos[:len(x)], mask=mask)  # (T, B, E)
        return F.log_softmax(self.out(h), dim=-1)  # (T, B, V)


def flat_nll(out, y):
    return F.nll_loss(out.reshape(-1, out.size(-1)), y)


class Tagger(nn.Module):
    """The tutorial's tagger: one (T,) sentence, viewed as a batch of one for a time-major LSTM."""

    def __init__(self, words=12, tags=3):
        super().__init__()
        self.emb = nn.Embedding(words, 8)
        self.lstm = nn.LSTM(8, 16)
        self.head = nn.Linear(16, tags)

    def forward(self, sentence):  # (T,)
        out, _ = self.lstm(self.emb(sentence).view(len(sentence), 1, -1))  # (T, 1, H)
        return F.log_softmax(self.head(out.view(len(sentence), -1)), dim=1)  # (T, K)


def sentences(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    tag_of = torch.randint(0, 3, (12,), generator=g)
    data = []
    for _ in range(n):
        words = torch.randint(0, 12, (int(torch.randint(4, 9, (1,), generator=g)),), generator=g)
        data.append((words, tag_of[words]))
    return data


def layout_of(model, data, loss, batch=None):
    subject = Subject(model=model, data=data, loss=loss, optimizer=optimizer_factory(None, None, model=model),
                      batch_spec=dict(batch or {}))
    return Context(subject, device="cpu").layout()


# -- inference -------------------------------------------------------------------------------------------------
def test_next_step_windows_are_time_major():
    layout = layout_of(StatefulLM(), windows(), nn.NLLLoss())
    assert (layout.batch_axis, layout.time_axis, layout.source) == (1, 0, "next-step")


def test_unshifted_windows_are_time_major_by_the_model():
    layout = layout_of(StatefulLM(), windows(shift=0), nn.NLLLoss())  # no shift: only the LSTM can tell
    assert (layout.batch_axis, layout.time_axis, layout.source) == (1, 0, "model")


def test_batch_first_rnn_reads_dim_1_as_time():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.rnn, self.out = nn.Embedding(V, 8), nn.GRU(8, 8, batch_first=True), nn.Linear(8, V)

        def forward(self, x):  # (B, T)
            return self.out(self.rnn(self.emb(x))[0])  # (B, T, V)

    data = [(x.t().contiguous(), x.t().contiguous()) for x, _ in windows()]  # (B, T) unshifted
    layout = layout_of(Net(), data, nn.CrossEntropyLoss())
    assert (layout.batch_axis, layout.time_axis, layout.source) == (0, 1, "model")


def test_one_target_per_column_is_a_time_major_classifier():
    x = torch.randn(10, 4, 3)  # (T, B, F)
    layout = layout_of(nn.Linear(3, 2), [(x, torch.zeros(4, dtype=torch.long))], nn.CrossEntropyLoss())
    assert (layout.batch_axis, layout.time_axis, layout.source) == (1, 0, "targets")


def test_a_sentence_seen_as_a_batch_of_one_is_unbatched():
    layout = layout_of(Tagger(), sentences(), nn.NLLLoss())
    assert layout.unbatched and layout.source == "model"


def test_the_config_decides():
    layout = layout_of(StatefulLM(), windows(shift=0), nn.NLLLoss(), batch={"batch_axis": 0, "time_axis": 1})
    assert (layout.batch_axis, layout.time_axis, layout.source) == (0, 1, "config")
    assert from_config({"time_axis": 0}) == Layout(1, 0, "config", "set in the config's `batch`")
    assert from_config({"batch_axis": None}).unbatched and from_config({"batch_axis": None}).time_axis == 0


def test_batch_first_views_and_samples_cut_along_the_batch_axis():
    layout = Layout(1, 0)
    x = torch.arange(T * B).view(T, B)  # (T, B)
    y = x.reshape(-1)  # (T * B,) flattened in the inputs' order
    assert torch.equal(layout.batch_first(x, x.shape), x.t())
    assert torch.equal(layout.batch_first(y, x.shape), x.t())
    small = take_samples(Batch(x, y), 2, layout)
    assert torch.equal(small.inputs, x[:, :2]) and torch.equal(small.targets, x[:, :2].reshape(-1))
    assert take_samples(Batch(x[0], y[:B]), 2, Layout(None, 0)).inputs.numel() == B  # unbatched: kept whole


# -- whole runs: every check finishes, nothing found -----------------------------------------------------------
def test_stateful_time_major_lstm_is_healthy_under_every_check():
    torch.manual_seed(0)
    model = StatefulLM()
    # Adam, not the example's SGD lr 20: judging an update with the clipping of the user's step is issue 10 item 8
    report = nndoctor.diagnose(model, windows(), nn.NLLLoss(), torch.optim.Adam(model.parameters(), lr=3e-3),
                               train_step=repackaged_step, device="cpu")
    assert_silent(report)
    assert model.hidden is None  # the user's model was never run


def test_unbatched_tagger_is_healthy_under_every_check():
    torch.manual_seed(0)
    model = Tagger()
    report = nndoctor.diagnose(model, sentences(), nn.NLLLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                               device="cpu")
    assert_silent(report, skipped={"batch-independence": "unbatched", "train-step": "no train_step"})


@pytest.mark.parametrize("causal", [True, False])
def test_time_major_transformer_causality(causal):
    torch.manual_seed(0)
    model = TimeMajorTransformer(causal)
    report = nndoctor.diagnose(model, windows(), flat_nll, select=["batch-independence"], device="cpu")
    if causal:
        assert_silent(report, "batch-independence")
    else:
        assert [f.code for f in report.findings] == ["ND309"]


def test_varying_lengths_outrank_a_time_major_model():
    """Padded (B, T) tag batches of varying T fed to an LSTM without batch_first: the data says dim 1 is time, so
    the model reading dim 0 as time is the bug (batch mixing), not the layout."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.rnn, self.out = nn.Embedding(V, 8), nn.LSTM(8, 8), nn.Linear(8, 3)  # BUG: not batch_first

        def forward(self, x):  # (B, T)
            return self.out(self.rnn(self.emb(x))[0])  # (B, T, 3)

    g = torch.Generator().manual_seed(0)
    data = [(torch.randint(0, V, (6, n), generator=g), torch.randint(0, 3, (6, n), generator=g)) for n in (9, 5, 7, 4)]
    layout = layout_of(Net(), data, lambda out, y: F.cross_entropy(out.reshape(-1, 3), y.reshape(-1)))
    assert (layout.batch_axis, layout.time_axis, layout.source) == (0, 1, "sizes")
    report = nndoctor.diagnose(Net(), data, lambda out, y: F.cross_entropy(out.reshape(-1, 3), y.reshape(-1)),
                               select=["batch-independence"], device="cpu")
    assert [f.code for f in report.findings] == ["ND302"]
