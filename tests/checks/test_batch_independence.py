"""batch-independence: ND302 (samples mixed) and ND309 (a language model sees the future) fire on broken models
and stay silent on per-sample and causal ones."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nndoctor

from conftest import assert_silent, codes, make_classification, mlp, run_example as run_config_example


V, T, D = 20, 12, 32  # vocabulary, sequence length, width


CHECK = "batch-independence"


def diagnose(model, data, loss, **kw):
    return nndoctor.diagnose(model, data, loss, select=[CHECK], device="cpu", **kw)


def sequences(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, 6, generator=g)  # (N, T, F)
    y = (x.sum(dim=(1, 2)) > 0).long()  # (N,)
    return DataLoader(TensorDataset(x, y), batch_size=16)


def tokens(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (n, T + 1), generator=g)  # (N, T+1)
    return DataLoader(TensorDataset(ids[:, :-1], ids[:, 1:]), batch_size=16)  # next-token targets (N, T)


def lm_loss(logits, y):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # (B*T, V)


class SeqClassifier(nn.Module):
    def __init__(self, batch_first=True, view_bug=False):
        super().__init__()
        torch.manual_seed(0)
        self.view_bug = view_bug
        self.rnn = nn.GRU(6, 16, batch_first=batch_first and not view_bug)
        self.head = nn.Linear(16, 2)

    def forward(self, x):  # (B, T, F)
        if self.view_bug:
            B, Tn, Fn = x.shape
            out, _ = self.rnn(x.view(Tn, B, Fn))  # (T, B, H), samples dealt across the batch
            return self.head(out[-1])
        out, _ = self.rnn(x)  # batch_first: (B, T, H); otherwise the GRU reads (B, T, F) as (T, B, F)
        return self.head(out[:, -1])


class GruLM(nn.Module):
    def __init__(self, batch_first=True, bidirectional=False):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(V, D)
        self.rnn = nn.GRU(D, D, batch_first=batch_first, bidirectional=bidirectional)
        self.head = nn.Linear(D * (2 if bidirectional else 1), V)

    def forward(self, ids):  # (B, T) -> (B, T, V)
        out, _ = self.rnn(self.emb(ids))
        return self.head(out)


class TransformerLM(nn.Module):
    def __init__(self, causal=True):
        super().__init__()
        torch.manual_seed(0)
        self.causal = causal
        self.tok, self.pos = nn.Embedding(V, D), nn.Embedding(T, D)
        layer = nn.TransformerEncoderLayer(D, 4, 2 * D, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, V, bias=False)
        self.head.weight = self.tok.weight  # tied embeddings

    def forward(self, ids):  # (B, T) -> (B, T, V)
        n = ids.shape[1]
        h = self.tok(ids) + self.pos(torch.arange(n))  # (B, T, D)
        if self.causal:
            h = self.encoder(h, mask=nn.Transformer.generate_square_subsequent_mask(n), is_causal=True)
        else:
            h = self.encoder(h)
        return self.head(h)


class BatchMeanNorm(nn.Module):
    """Normalises by the batch statistics in eval mode too: sample i depends on every other sample."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):  # (B, F)
        return self.fc((x - x.mean(dim=0)) / (x.std(dim=0) + 1e-5))


# -- fires -------------------------------------------------------------------------------------------------------
def test_nd302_normalisation_over_the_batch():
    report = diagnose(BatchMeanNorm(), make_classification(), nn.CrossEntropyLoss())
    assert codes(report) == ["ND302"] and report.findings[0].severity == "error"


def test_nd302_view_instead_of_transpose():
    report = diagnose(SeqClassifier(view_bug=True), sequences(), nn.CrossEntropyLoss())
    assert codes(report) == ["ND302"]
    assert report.findings[0].evidence["other_samples_share"] > 0.5


def test_nd302_rnn_without_batch_first_is_located():
    report = diagnose(SeqClassifier(batch_first=False), sequences(), nn.CrossEntropyLoss())
    assert codes(report) == ["ND302"]
    assert report.findings[0].where == "rnn (GRU)" and "batch_first" in report.findings[0].title


def test_nd302_token_ids_measured_at_the_embedding():
    report = diagnose(GruLM(batch_first=False), tokens(), lm_loss)
    assert codes(report) == ["ND302"]  # time-major GRU on (B, T): mixes samples, yet looks only backwards in T
    assert report.findings[0].evidence["measured_at"] == "emb (Embedding) output"


def test_nd309_transformer_lm_without_causal_mask():
    report = diagnose(TransformerLM(causal=False), tokens(), lm_loss)
    assert codes(report) == ["ND309"] and report.findings[0].severity == "error"
    assert "self_attn" in report.findings[0].where


def test_nd309_bidirectional_rnn_lm():
    assert codes(diagnose(GruLM(bidirectional=True), tokens(), lm_loss)) == ["ND309"]


def test_nd309_gated_by_the_data_not_the_declared_task():
    """A GPT-style model declared `task: classification` (fair for token classification): its targets are its
    inputs shifted by one, so next-token prediction is what the data says, and the missing mask is found."""
    report = diagnose(TransformerLM(causal=False), tokens(), lm_loss, task="classification")
    assert codes(report) == ["ND309"] and report.findings[0].severity == "error"


def test_nd309_on_a_next_step_forecaster_of_float_sequences():
    """Float sequences whose targets are the next step: a bidirectional GRU forecaster reads the answer."""
    g = torch.Generator().manual_seed(0)
    series = torch.randn(64, T + 1, 6, generator=g).cumsum(1)  # (N, T+1, F) random walks
    data = DataLoader(TensorDataset(series[:, :-1], series[:, 1:]), batch_size=16)

    class Forecaster(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.rnn = nn.GRU(6, 16, batch_first=True, bidirectional=True)
            self.head = nn.Linear(32, 6)

        def forward(self, x):  # (B, T, F) -> (B, T, F)
            return self.head(self.rnn(x)[0])

    assert codes(diagnose(Forecaster(), data, nn.MSELoss(), task="regression")) == ["ND309"]


# -- silent ------------------------------------------------------------------------------------------------------
def test_silent_on_per_sample_models():
    assert_silent(diagnose(mlp(), make_classification(), nn.CrossEntropyLoss()), CHECK, fail_on="info")
    torch.manual_seed(0)
    bn = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))
    assert_silent(diagnose(bn, make_classification(), nn.CrossEntropyLoss()), CHECK, fail_on="info")  # eval mode
    assert_silent(diagnose(SeqClassifier(batch_first=True), sequences(), nn.CrossEntropyLoss()), CHECK,
                  fail_on="info")


def test_silent_on_causal_language_models():
    assert_silent(diagnose(GruLM(batch_first=True), tokens(), lm_loss), CHECK, fail_on="info")
    assert_silent(diagnose(TransformerLM(causal=True), tokens(), lm_loss), CHECK, fail_on="info")


def test_silent_on_bidirectional_encoder_for_classification():
    class BiEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.rnn = nn.GRU(6, 16, batch_first=True, bidirectional=True)
            self.head = nn.Linear(32, 2)

        def forward(self, x):  # (B, T, F): seeing the whole sequence is the point
            out, _ = self.rnn(x)
            return self.head(out.mean(dim=1))

    assert_silent(diagnose(BiEncoder(), sequences(), nn.CrossEntropyLoss()), CHECK, fail_on="info")


def test_silent_on_a_bidirectional_token_tagger():
    """Token classification (one tag per token, not the next token) with a bidirectional encoder: seeing the whole
    sentence is the point, and the data is not next-step prediction."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, V, (64, T), generator=g)  # (N, T)
    tags = DataLoader(TensorDataset(ids, ids % 3), batch_size=16)  # (N, T) a tag per token
    report = diagnose(GruLM(bidirectional=True), tags, lm_loss, task="classification")
    assert report.checks[0].status == "passed" and codes(report) == []


def test_silent_on_a_causal_model_declared_classification():
    report = diagnose(TransformerLM(causal=True), tokens(), lm_loss, task="classification")
    assert report.checks[0].status == "passed" and codes(report) == []


def test_silent_on_in_batch_negatives():
    """The loss couples the samples (contrastive, in-batch negatives); the model embeds each one alone."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(128, 8, generator=g)  # (N, F) anchors
    pairs = DataLoader(TensorDataset(a, a + 0.1 * torch.randn(128, 8, generator=g)), batch_size=32)
    torch.manual_seed(0)
    tower = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16))

    def info_nce(za, positives):
        zp = tower(positives)  # a second tower pass inside the loss, as two-tower code often does
        logits = F.normalize(za, dim=1) @ F.normalize(zp, dim=1).T / 0.1  # (B, B)
        return F.cross_entropy(logits, torch.arange(za.shape[0]))

    assert_silent(diagnose(tower, pairs, info_nce), CHECK, fail_on="info")


def test_silent_on_pairwise_scores_computed_in_the_model():
    class Clip(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.f = nn.Linear(8, 16)

        def forward(self, x):  # (B, F) -> (B, B) similarities between the samples of the batch, by design
            z = F.normalize(self.f(x), dim=1)
            return z @ z.T

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    data = DataLoader(TensorDataset(x, torch.arange(32).repeat(2)), batch_size=32)
    assert_silent(diagnose(Clip(), data, nn.CrossEntropyLoss()), CHECK, fail_on="info")


def test_silent_on_graph_batches():
    """Rows are the nodes of one graph (features and an edge index): mixing them is what message passing does."""
    class MessagePassing(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.f = nn.Linear(8, 3)

        def forward(self, x, edge_index):  # (N, F), (2, E)
            agg = torch.zeros_like(x).index_add_(0, edge_index[1], x[edge_index[0]])  # sum over neighbours
            return self.f(x + agg)

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 8, generator=g), torch.randint(0, 3, (32,), generator=g)
    edges = torch.randint(0, 32, (2, 64), generator=g)
    assert_silent(diagnose(MessagePassing(), [((x, edges), y)], nn.CrossEntropyLoss()), CHECK, fail_on="info")


# -- layouts other than batch-first (nndoctor.probes.layout) ----------------------------------------------------
def time_major_windows(n=6 * 8 * 4 + 1, cols=6, bptt=8, seed=0):
    """The word_language_model example's batches: (bptt, B) token windows, targets the next rows flattened."""
    g = torch.Generator().manual_seed(seed)
    source = torch.randint(0, V, (n,), generator=g)[: n // cols * cols].view(cols, -1).t().contiguous()  # (N, B)
    spans = [(i, min(bptt, source.size(0) - 1 - i)) for i in range(0, source.size(0) - 1, bptt)]  # the last shorter
    return [(source[i:i + n], source[i + 1:i + 1 + n].reshape(-1)) for i, n in spans]


class TimeMajorLM(nn.Module):
    """An LSTM or a Transformer encoder built without batch_first, fed (T, B) ids; log-probs flattened (T*B, V)."""

    def __init__(self, kind="lstm", causal=True):
        super().__init__()
        torch.manual_seed(0)
        self.kind, self.causal = kind, causal
        self.emb = nn.Embedding(V, 16)
        self.body = nn.LSTM(16, 16, 2) if kind == "lstm" else nn.TransformerEncoder(
            nn.TransformerEncoderLayer(16, 2, 32, 0.0), 2, enable_nested_tensor=False)
        self.out = nn.Linear(16, V)

    def forward(self, x):  # (T, B)
        h = self.emb(x)  # (T, B, E)
        if self.kind == "lstm":
            h = self.body(h)[0]
        else:
            mask = nn.Transformer.generate_square_subsequent_mask(len(x)) if self.causal else None
            h = self.body(h, mask=mask)
        return F.log_softmax(self.out(h), dim=-1).view(-1, V)  # (T * B, V)


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_silent_on_time_major_language_models(kind):
    """Dim 0 is time here: before the layout probe, ND302 fired on these healthy models."""
    assert_silent(diagnose(TimeMajorLM(kind), time_major_windows(), nn.NLLLoss()), CHECK, fail_on="info")


def test_time_major_transformer_without_mask_leaks():
    report = diagnose(TimeMajorLM("transformer", causal=False), time_major_windows(), nn.NLLLoss())
    assert codes(report) == ["ND309"]
    assert report.findings[0].evidence["length"] == 8  # the bptt window, not the 6 columns of the batch


def test_time_major_lstm_mixing_columns_is_found():
    class MixesColumns(TimeMajorLM):
        def forward(self, x):  # (T, B)
            h = self.body(self.emb(x))[0]  # (T, B, H)
            h = h + h.mean(dim=1, keepdim=True)  # BUG: a mean over the batch columns
            return F.log_softmax(self.out(h), dim=-1).view(-1, V)

    assert codes(diagnose(MixesColumns(), time_major_windows(), nn.NLLLoss())) == ["ND302"]


def test_config_axes_override_inference():
    """Declared batch-first, the time-major LSTM reads the samples as time: mixing, as the config asked."""
    report = diagnose(TimeMajorLM(), time_major_windows(), nn.NLLLoss(), batch={"batch_axis": 0, "time_axis": 1})
    assert "ND302" in codes(report)


def test_unbatched_sentences_are_skipped_with_the_reason():
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm, self.head = nn.Embedding(V, 8), nn.LSTM(8, 8), nn.Linear(8, 3)

        def forward(self, s):  # (T,)
            out, _ = self.lstm(self.emb(s).view(len(s), 1, -1))  # (T, 1, H)
            return F.log_softmax(self.head(out.view(len(s), -1)), dim=1)  # (T, K)

    g = torch.Generator().manual_seed(0)
    data = [(torch.randint(0, V, (n,), generator=g), torch.randint(0, 3, (n,), generator=g)) for n in (5, 7, 6)]
    report = diagnose(Tagger(), data, nn.NLLLoss())
    (result,) = [c for c in report.checks if c.name == CHECK]
    assert result.status == "skipped" and "unbatched" in result.detail


# -- examples ----------------------------------------------------------------------------------------------------
def run_example(path):
    return run_config_example(path, quick=True)


@pytest.mark.parametrize("name, code", [("view_not_permute", "ND302"), ("no_causal_mask", "ND309")])
def test_example_ranks_its_code_first(example_path, name, code):
    report = run_example(example_path(name))
    assert report.findings and report.findings[0].code == code, [f.code for f in report.findings]
    assert report.exit_code() == 1


def test_a_sparse_adjacency_marks_a_graph_batch():
    """pygcn's GCN (benchmarks/zoo/real/gcn.py): torch.spmm over a sparse (N, N) adjacency mixes the nodes on
    purpose; the adjacency, sparse, is seen among the inputs and ND302 is not judged."""
    from benchmarks.zoo.real import gcn

    setup = gcn.setup(seed=7)
    report = nndoctor.diagnose(setup["model"], setup["data"], setup["loss"], batch=setup["batch"], select=[CHECK],
                               device="cpu")
    assert_silent(report, CHECK)
