"""A small CNN that classifies noisy 8x8 glyphs into 10 classes. The injected mistake: the model ends with
nn.Softmax so that `model(x)` "returns probabilities", and is trained with CrossEntropyLoss, which applies its
own log_softmax: the probabilities are squashed a second time."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

CLASSES = 10


def make_glyphs(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    templates = (torch.rand(CLASSES, 1, 8, 8, generator=g) > 0.5).float()  # (C, 1, 8, 8) one glyph per class
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    x = templates[y] + 0.3 * torch.randn(n, 1, 8, 8, generator=g)  # (N, 1, 8, 8)
    x = (x - x.mean()) / x.std()  # standardised pixels
    return x, y


def model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 4, 4)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 2, 2)
        nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(),
        nn.Linear(64, CLASSES),
        nn.Softmax(dim=1),  # BUG: CrossEntropyLoss expects logits
    )


def train_loader(batch_size=32):
    x, y = make_glyphs()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
