"""The PyTorch sequence-models tutorial's LSTM part-of-speech tagger: one unbatched sentence at a time.

Each "batch" is one sentence, (T,) word ids, with its (T,) tag ids (sentences of 4 to 9 words). The model embeds
the words, runs a time-major LSTM over `embeds.view(len(sentence), 1, -1)` (a batch of one), maps each step to tag
scores and returns their log_softmax; NLLLoss scores them, SGD at lr 0.1 trains it, as the tutorial does. The
synthetic language has a fixed tag per word, except ambiguous words whose tag depends on the previous word's tag
(as "read" after a noun is a verb), so the LSTM's context matters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..cases._common import gen
from ..registry import case

WORDS, TAGS, AMBIGUOUS = 20, 3, 4  # the first AMBIGUOUS word ids take their tag from the previous tag


def sentences(n: int = 48, seed: int = 0) -> list:
    """(sentence (T,), tags (T,)) pairs, one per sentence, like the tutorial's prepare_sequence output."""
    g = gen(seed)
    word_tag = torch.randint(0, TAGS, (WORDS,), generator=g)  # the tag of each unambiguous word
    data = []
    for _ in range(n):
        T = int(torch.randint(4, 10, (1,), generator=g))
        words = torch.randint(0, WORDS, (T,), generator=g)
        tags = word_tag[words].clone()
        for t in range(1, T):
            if words[t] < AMBIGUOUS:
                tags[t] = (tags[t - 1] + 1) % TAGS  # context decides
        data.append((words, tags))
    return data


class LSTMTagger(nn.Module):
    def __init__(self, embedding_dim=8, hidden_dim=16, vocab_size=WORDS, tagset_size=TAGS, log_softmax=True):
        super().__init__()
        self.log_softmax = log_softmax
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)  # time-major, fed a batch of one
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):  # sentence: (T,)
        embeds = self.word_embeddings(sentence)  # (T, E)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))  # (T, 1, H)
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))  # (T, K)
        return F.log_softmax(tag_space, dim=1) if self.log_softmax else tag_space


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1)


@case("tagger-lstm", "tagger", "the tutorial's LSTM tagger: unbatched (T,) sentences, log_softmax + NLLLoss, "
      "SGD lr 0.1", healthy=True)
def _():
    torch.manual_seed(0)
    net = LSTMTagger()
    return dict(model=net, data=sentences(seed=1201), loss=nn.NLLLoss(), optimizer=_sgd(net))


# NLLLoss on raw scores, the log_softmax left out: the loss goes negative (yanx27/Pointnet_Pointnet2_pytorch#30
# "nll_loss is used but the input is not a log_softmax"; AnubhavGupta3377/Text-Classification-Models-Pytorch#9).
@case("tagger-no-log-softmax", "tagger", "the tagger returns raw tag scores (no log_softmax) to NLLLoss",
      expect=("ND203",))
def _():
    torch.manual_seed(0)
    net = LSTMTagger(log_softmax=False)
    return dict(model=net, data=sentences(seed=1202), loss=nn.NLLLoss(), optimizer=_sgd(net))


def no_zero_grad_step(model, batch, loss_fn, optimizer):
    """The tutorial's loop without model.zero_grad(): gradients pile up from sentence to sentence."""
    sentence, tags = batch
    loss = loss_fn(model(sentence), tags)
    loss.backward()
    optimizer.step()
    return loss.item()


# "PyTorch accumulates gradients. We need to clear them out before each instance", the tutorial warns; forgetting it is
# the classic report (pytorch/pytorch#47175 "warning if zero_grad() was not called"; udacity/deep-learning-v2-pytorch
# #160 "We are missing zero_grad ... gradients accumulate").
@case("tagger-no-zero-grad", "tagger", "the tagger's loop never calls model.zero_grad(): gradients accumulate over "
      "sentences", expect=("ND409",))
def _():
    torch.manual_seed(0)
    net = LSTMTagger()
    return dict(model=net, data=sentences(seed=1204), loss=nn.NLLLoss(), optimizer=_sgd(net),
                train_step=no_zero_grad_step)
