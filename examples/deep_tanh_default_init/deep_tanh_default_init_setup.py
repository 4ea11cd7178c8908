"""A 4-class classifier on 16 standardised features: a 20-hidden-layer tanh MLP, no normalisation, no residuals.

The injected mistake: the layers keep PyTorch's default nn.Linear initialisation, kaiming_uniform_ with a =
sqrt(5), whose weights have a std of 1 / sqrt(3 * fan_in): a gain of 0.58 per layer where tanh needs 5/3
(nn.init.calculate_gain('tanh')). Backward multiplies the gradient by about 0.58 at every layer, so after twenty
of them the first layers get gradients some 1e-5 of the last one's, relative to their weights: they hardly learn,
and even one batch of 8 samples is not fitted in 150 steps. Xavier initialisation with the tanh gain (or ReLU
with Kaiming, normalisation layers, residual connections) keeps the gradients at one scale.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 16, 4


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F)
    y = (x @ torch.randn(FEATURES, CLASSES, generator=g)).argmax(dim=1)  # (N,)
    return x, y


def model(hidden=32, depth=20):
    layers, fan_in = [], FEATURES
    for _ in range(depth):
        layers += [nn.Linear(fan_in, hidden), nn.Tanh()]  # BUG: default init (gain 0.58) through 20 tanh layers
        fan_in = hidden
    return nn.Sequential(*layers, nn.Linear(hidden, CLASSES))


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(0))
