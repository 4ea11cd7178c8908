"""Fine-tuning a "pretrained" encoder with a fresh head, where the freeze loop freezes everything.

The injected mistake: `freeze_backbone` is meant to freeze the encoder only, but loops over `model.parameters()`
after the new head is attached, so every parameter ends with requires_grad=False. The optimizer is built over all
parameters and raises nothing; the loss never moves (ND402 as an error: nothing can train).
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 32, 3


class FineTuned(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, CLASSES)  # the new task's head

    def forward(self, x):
        return self.head(self.encoder(x))


def freeze_backbone(model):
    for p in model.parameters():  # BUG: meant model.encoder.parameters()
        p.requires_grad = False
    return model


def build(hidden=64):
    torch.manual_seed(0)
    return freeze_backbone(FineTuned(hidden))


def train_loader(batch_size=32, n=480, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F)
    y = (x[:, :CLASSES] + 0.3 * torch.randn(n, CLASSES, generator=g)).argmax(dim=1)  # (N,)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))
