"""An intent classifier over sentence features that scores each intent by a dot product with a learned label
embedding (a "prototype" head), a common design for classifiers that may grow new labels.

The injected mistake: the label embeddings are an nn.Embedding left at its default initialisation, N(0, 1) per
entry, and the sentence vector they are compared with is LayerNorm-ed to unit variance per dimension. Each score is
then a sum of 384 unit-variance products: logits with a standard deviation near 20 at initialisation, so the
first predictions are wildly overconfident and the initial loss is many times ln(5).
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = 48  # pooled sentence features (standardised)
INTENTS = 5  # greeting, order status, refund, complaint, other
WIDTH = 384


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(INTENTS, FEATURES, generator=g)  # (C, F)
    y = torch.randint(0, INTENTS, (n,), generator=g)  # (N,)
    x = centres[y] + torch.randn(n, FEATURES, generator=g)  # (N, F)
    return x / x.std(), y


class PrototypeClassifier(nn.Module):
    def __init__(self, width=WIDTH):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(FEATURES, width), nn.GELU(), nn.Linear(width, width))
        self.norm = nn.LayerNorm(width)
        self.labels = nn.Embedding(INTENTS, width)  # BUG: N(0, 1) entries; meant nn.init.normal_(std=width ** -0.5)

    def forward(self, x):
        h = self.norm(self.encoder(x))  # (B, D) unit variance per dimension
        return h @ self.labels.weight.T  # (B, C) one score per intent


def model(width=WIDTH):
    return PrototypeClassifier(width)


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
