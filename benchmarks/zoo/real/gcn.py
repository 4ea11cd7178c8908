"""A two-layer graph convolutional network the way Kipf's pygcn writes one: a row-normalised adjacency with self
loops as a torch sparse tensor, GraphConvolution layers (`support = x @ W; out = torch.spmm(adj, support) + b`),
ReLU, dropout with training=self.training, log_softmax, and F.nll_loss on output[idx_train] (a loss that closes
over the training nodes' index); Adam at lr 0.01 with weight decay 5e-4, the whole graph as one batch.

Here the graph is a small stochastic block model (60 nodes, 3 classes, 16 bag-of-words features).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..cases._common import gen
from ..registry import case

NODES, CLASSES, FEATURES, HIDDEN = 60, 3, 16, 16


class GraphConvolution(nn.Module):
    """out = adj @ (x @ W) + b, with adj sparse (torch.spmm)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        stdv = 1.0 / math.sqrt(out_features)  # pygcn's uniform init
        nn.init.uniform_(self.weight, -stdv, stdv)
        nn.init.uniform_(self.bias, -stdv, stdv)

    def forward(self, x, adj):
        support = torch.mm(x, self.weight)  # (N, out)
        return torch.spmm(adj, support) + self.bias  # (N, N) sparse @ (N, out)


class GCN(nn.Module):
    def __init__(self, log_softmax: bool = True, dropout_follows_mode: bool = True, dropout: float = 0.5) -> None:
        super().__init__()
        self.gc1 = GraphConvolution(FEATURES, HIDDEN)
        self.gc2 = GraphConvolution(HIDDEN, CLASSES)
        self.dropout = dropout
        self.log_softmax = log_softmax
        self.dropout_follows_mode = dropout_follows_mode

    def forward(self, x, adj):
        x = F.relu(self.gc1(x, adj))
        if self.dropout_follows_mode:
            x = F.dropout(x, self.dropout, training=self.training)
        else:
            x = F.dropout(x, self.dropout)  # training defaults to True
        x = self.gc2(x, adj)
        return F.log_softmax(x, dim=1) if self.log_softmax else x


def graph(seed: int):
    """(features (N, F) row-normalised, adjacency (N, N) dense 0/1 with self loops, labels (N,))."""
    g = gen(seed)
    labels = torch.arange(NODES) % CLASSES  # (N,)
    same = labels[:, None] == labels[None, :]  # (N, N)
    p = torch.where(same, torch.tensor(0.25), torch.tensor(0.02))
    upper = (torch.rand(NODES, NODES, generator=g) < p).triu(1).float()
    adj = upper + upper.T + torch.eye(NODES)  # symmetric, self loops
    words = torch.rand(CLASSES, FEATURES, generator=g) < 0.3  # (C, F): each class's typical words
    noise = torch.rand(NODES, FEATURES, generator=g) < 0.1
    features = (words[labels] ^ noise).float() + 1e-3  # (N, F) bag of words
    return features / features.sum(1, keepdim=True), adj, labels


def row_normalised(adj: torch.Tensor) -> torch.Tensor:
    """D^-1 (A + I) as a sparse COO tensor, as pygcn's `normalize` and `sparse_mx_to_torch_sparse_tensor` do."""
    return (adj / adj.sum(1, keepdim=True)).to_sparse()


def masked_nll(idx):
    """pygcn's loss: F.nll_loss(output[idx_train], labels[idx_train]), closing over the training index."""
    def loss(output, labels):
        return F.nll_loss(output[idx], labels[idx])
    return loss


def setup(seed: int, normalise: bool = True, **model_kwargs) -> dict:
    features, adj, labels = graph(seed)
    adj = row_normalised(adj) if normalise else adj.to_sparse()
    idx_train = torch.arange(0, 30)
    torch.manual_seed(0)
    net = GCN(**model_kwargs)
    return dict(model=net, data=[(features, adj, labels)], loss=masked_nll(idx_train),
                batch={"inputs": [0, 1], "targets": 2},
                optimizer=torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=5e-4))


@case("gcn-pygcn", "gcn", "pygcn: sparse normalised adjacency, log_softmax + nll_loss on output[idx_train], Adam 0.01 "
      "wd 5e-4, full batch", healthy=True)
def _():
    return setup(1401)


# tkipf/pygcn#16 (log_softmax against softmax before F.nll_loss) and pytorch/pytorch#12703 (NLLLoss example missing
# its LogSoftmax: a loss that goes negative): F.nll_loss on raw scores rewards pushing the true score up without
# bound.
@case("gcn-nll-raw-scores", "gcn", "F.nll_loss on the raw scores: log_softmax dropped", expect=("ND203",))
def _():
    return setup(1402, log_softmax=False)


# dmlc/dgl#731 ("Dropout have not been shutdown in test mode in RGCN"): a functional dropout that ignores the mode.
@case("gcn-dropout-always-on", "gcn", "F.dropout(x, p) without training=self.training: evaluation is random",
      expect=("ND307",))
def _():
    return setup(1403, dropout_follows_mode=False)
