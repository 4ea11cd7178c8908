"""Word language models as the PyTorch word_language_model example builds them: time-major (T, B) token batches.

The corpus is one long token stream `batchify`-ed into B columns (shape (N, B)); each batch is a `bptt` window of
rows (`get_batch`): inputs (bptt, B), targets the next rows flattened to (bptt * B,), the last window shorter. The
LSTM is built without batch_first (time-major) and keeps its hidden state between calls, repackaged (detached) by
the user's train_step before each window; the Transformer is `nn.TransformerEncoder` without batch_first, with a
square subsequent mask. Both return log-probabilities (log_softmax) scored by NLLLoss on the flattened view,
trained by SGD at lr 20 with the gradient norm clipped to 0.25 in the user's step, as the example trains them.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..cases._common import gen
from ..registry import case

VOCAB, BSZ, BPTT = 24, 6, 8


def corpus(n: int = BSZ * BPTT * 6 + 1, seed: int = 0) -> torch.Tensor:
    """One token stream from a learnable rule (each token the previous one plus the one three back, modulo the
    vocabulary) restarted from random tokens every 16 positions, so columns differ and the rule can be learnt."""
    g = gen(seed)
    seq = torch.zeros(n, dtype=torch.long)
    for start in range(0, n, 16):
        seq[start:start + 3] = torch.randint(0, VOCAB, (min(3, n - start),), generator=g)
        for t in range(start + 3, min(start + 16, n)):
            seq[t] = (seq[t - 1] + seq[t - 3]) % VOCAB
    return seq


def batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    """(N,) -> (N // bsz, bsz): each column a contiguous stretch of the stream, time along dim 0."""
    nbatch = data.size(0) // bsz
    return data[:nbatch * bsz].view(bsz, -1).t().contiguous()  # (N // bsz, bsz)


def get_batch(source: torch.Tensor, i: int, bptt: int = BPTT, shift: int = 1):
    """Rows i .. i+bptt as inputs (bptt, B) and the rows one step later, flattened, as targets (bptt * B,)."""
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]  # (T, B)
    target = source[i + shift:i + shift + seq_len].reshape(-1)  # (T * B,) time-major order
    return data, target


def windows(seed: int, shift: int = 1, bptt: int = BPTT) -> list:
    """The training windows of one epoch, in order (the example does not shuffle them)."""
    source = batchify(corpus(seed=seed), BSZ)
    return [get_batch(source, i, bptt, shift) for i in range(0, source.size(0) - 1, bptt)]


def repackage_hidden(h):
    """Wraps hidden states in new tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


class RNNModel(nn.Module):
    """Embedding, a time-major LSTM, a linear decoder; the hidden state is kept between calls (self.hidden)."""

    def __init__(self, ntoken=VOCAB, ninp=16, nhid=32, nlayers=2, dropout=0.2):
        super().__init__()
        self.ntoken, self.nhid, self.nlayers = ntoken, nhid, nlayers
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)  # time-major: (T, B, E)
        self.decoder = nn.Linear(nhid, ntoken)
        self.hidden = None

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))

    def forward(self, input):  # input: (T, B)
        if self.hidden is None or self.hidden[0].size(1) != input.size(1):
            self.hidden = self.init_hidden(input.size(1))
        emb = self.drop(self.encoder(input))  # (T, B, E)
        output, self.hidden = self.rnn(emb, self.hidden)  # (T, B, H)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)  # (T * B, V)
        return F.log_softmax(decoded, dim=1)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=64):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(1))  # (max_len, 1, E)

    def forward(self, x):  # x: (T, B, E)
        return self.dropout(x + self.pe[:x.size(0)])


class TransformerModel(nn.Module):
    """A time-major Transformer encoder with a square subsequent mask, and a linear decoder."""

    def __init__(self, ntoken=VOCAB, ninp=16, nhead=2, nhid=32, nlayers=2, dropout=0.2, has_mask=True):
        super().__init__()
        self.ninp, self.has_mask, self.src_mask = ninp, has_mask, None
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        layer = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)  # batch_first=False: (T, B, E)
        self.encoder = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)
        self.decoder = nn.Linear(ninp, ntoken)

    def forward(self, src):  # src: (T, B)
        if self.has_mask:
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                self.src_mask = nn.Transformer.generate_square_subsequent_mask(len(src)).to(src.device)
        else:
            self.src_mask = None
        x = self.pos_encoder(self.input_emb(src) * math.sqrt(self.ninp))  # (T, B, E)
        output = self.decoder(self.encoder(x, mask=self.src_mask))  # (T, B, V)
        return F.log_softmax(output, dim=-1)


def flat_nll(output, targets):
    """The example's criterion on the flattened view: NLLLoss((T * B, V), (T * B,))."""
    return F.nll_loss(output.view(-1, output.size(-1)), targets)


def transformer_step(model, batch, loss_fn, optimizer):
    """The example's train() for the Transformer: forward, backward, clip to 0.25, SGD step."""
    data, targets = batch
    optimizer.zero_grad()
    loss = loss_fn(model(data), targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
    optimizer.step()
    return loss.item()


# The LSTM's step without repackage_hidden: the second window backpropagates into the first's freed graph.
unrepackaged_step = transformer_step


def lstm_step(model, batch, loss_fn, optimizer):
    """The example's train() for the LSTM: repackage the hidden state, then the same step."""
    if model.hidden is not None:
        model.hidden = repackage_hidden(model.hidden)
    return transformer_step(model, batch, loss_fn, optimizer)


def _sgd(model, lr=20.0):
    return torch.optim.SGD(model.parameters(), lr=lr)


@case("word-lm-lstm", "word-lm", "time-major 2-layer LSTM LM, hidden kept and repackaged, NLLLoss, SGD lr 20, "
      "clip 0.25", healthy=True)
def _():
    torch.manual_seed(0)
    net = RNNModel()
    return dict(model=net, data=windows(seed=1101), loss=nn.NLLLoss(), optimizer=_sgd(net), train_step=lstm_step,
                task="language-modeling")


# The example's README trains its Transformer at lr 5 (`python main.py --cuda --epochs 6 --model Transformer --lr 5`);
# lr 20 is its default for the LSTMs.
@case("word-lm-transformer", "word-lm", "time-major Transformer encoder LM with a square subsequent mask, "
      "NLLLoss on the flattened view, SGD lr 5, clip 0.25", healthy=True)
def _():
    torch.manual_seed(0)
    net = TransformerModel()
    return dict(model=net, data=windows(seed=1102), loss=flat_nll, optimizer=_sgd(net, lr=5.0),
                train_step=transformer_step,
                task="language-modeling")


# Users of the example and of the transformer tutorial report the encoder without a causal mask: it sees the next
# word and "predicts" it (pytorch/tutorials#2478 "TransformerEncoder is not causal"; pytorch/examples#649).
@case("word-lm-transformer-no-mask", "word-lm", "time-major Transformer LM run without its subsequent mask "
      "(has_mask=False): every position sees the next word", expect=("ND309",))
def _():
    torch.manual_seed(0)
    net = TransformerModel(has_mask=False)
    return dict(model=net, data=windows(seed=1103), loss=flat_nll, optimizer=_sgd(net), train_step=transformer_step)


# Forgetting repackage_hidden: "Trying to backward through the graph a second time" on the second window
# (MorvanZhou/PyTorch-Tutorial#57: commenting out `h_state = h_state.data` raises exactly that).
@case("word-lm-hidden-not-detached", "word-lm", "the LSTM's carried hidden state is never repackaged (detached) "
      "between bptt windows", expect=("ND308",))
def _():
    torch.manual_seed(0)
    net = RNNModel()
    return dict(model=net, data=windows(seed=1104), loss=nn.NLLLoss(), optimizer=_sgd(net),
                train_step=unrepackaged_step, task="language-modeling")


# get_batch with the targets taken from the same rows as the inputs (source[i:i+seq_len]): the model learns to copy
# its input, the loss falls to zero quickly (songlab-cal/tape#32 "Language modeling targets": targets the same as the
# inputs, not shifted).
@case("word-lm-targets-not-shifted", "word-lm", "get_batch takes the targets from the input rows themselves "
      "(no one-step shift): the LSTM learns to copy", expect=("ND111",))
def _():
    torch.manual_seed(0)
    net = RNNModel()
    return dict(model=net, data=windows(seed=1105, shift=0), loss=nn.NLLLoss(), optimizer=_sgd(net),
                train_step=lstm_step, task="language-modeling")


def batch_first_windows(seed: int) -> list:
    """The windows transposed to (B, T) (targets flattened in that order), as a batch-first pipeline yields them."""
    out = []
    for data, target in windows(seed):
        T, B = data.shape
        out.append((data.t().contiguous(), target.view(T, B).t().reshape(-1)))  # (B, T), (B * T,)
    return out


# (B, T) batches fed to nn.TransformerEncoderLayer left at its default batch_first=False: attention runs across the
# batch (Exorust/TorchLeet#5 "we should pass batch_first=True to TransformerEncoderLayer"; IBM/TabFormer#14).
@case("word-lm-transformer-batch-first-data", "word-lm", "batch-first (B, T) windows fed to the time-major "
      "Transformer LM (batch_first left False): attention mixes the samples", expect=("ND302",))
def _():
    torch.manual_seed(0)
    net = TransformerModel()
    return dict(model=net, data=batch_first_windows(seed=1106), loss=flat_nll, optimizer=_sgd(net),
                train_step=transformer_step)
