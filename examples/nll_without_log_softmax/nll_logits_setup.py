"""A bag-of-words topic classifier (nn.EmbeddingBag over token ids, 4 topics). The injected mistake: the model
returns raw logits and the loss is NLLLoss, which expects log-probabilities (it only picks -input[target]); the
F.log_softmax that should end forward was left out."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB, TOPICS, LENGTH = 500, 4, 24


def make_documents(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, TOPICS, (n,), generator=g)  # (N,)
    # Each topic draws most of its words from its own slice of the vocabulary, the rest from anywhere.
    own = y[:, None] * (VOCAB // TOPICS) + torch.randint(0, VOCAB // TOPICS, (n, LENGTH), generator=g)
    anywhere = torch.randint(0, VOCAB, (n, LENGTH), generator=g)
    x = torch.where(torch.rand(n, LENGTH, generator=g) < 0.6, own, anywhere)  # (N, L) token ids
    return x, y


class BagOfWords(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.bag = nn.EmbeddingBag(VOCAB, dim, mode="mean")
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, TOPICS))

    def forward(self, ids):  # (B, L) -> (B, TOPICS)
        return self.head(self.bag(ids))  # BUG: NLLLoss needs F.log_softmax(..., dim=1) here


def model():
    return BagOfWords()


def train_loader(batch_size=32):
    x, y = make_documents()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
