"""A card-fraud detector: 24 standardised transaction features, one logit for "fraud".

The injected mistake: about 1.5% of the transactions are fraud, and the loss is a plain BCEWithLogitsLoss with
no pos_weight and no resampling. Predicting "not fraud" everywhere already gives 98.5% accuracy and a low loss,
so the few positives hardly move the weights and the model may never learn them. Everything else is healthy:
the fraud cases differ clearly from the rest, the inputs are at unit scale, the data is shuffled.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES = 24
FRAUD_RATE = 0.015


def make_data(n=4096, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, 1, generator=g) < FRAUD_RATE).float()  # (N, 1) 1 = fraud
    pattern = torch.randn(1, FEATURES, generator=g)  # how fraud differs: odd amounts, hours, merchants
    x = torch.randn(n, FEATURES, generator=g) + 1.5 * y * pattern  # (N, F) standardised features
    return x, y


def model(hidden=64):
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


def train_loader(batch_size=128):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
