"""A small CNN for 4-class 12x12 single-channel images. The injected mistake: the classifier's input size was
written for 8x8 images (32 * 2 * 2) when the data moved to 12x12, so the flattened features (32 * 3 * 3 = 288) do
not fit the Linear layer, and the first real batch raises inside forward()."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SIZE, CLASSES = 12, 4


class SmallCNN(nn.Module):
    def __init__(self, classes=CLASSES):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 6, 6)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 3, 3)
        )
        self.classifier = nn.Linear(32 * 2 * 2, classes)  # BUG: sized for 8x8 inputs; 12x12 gives 32 * 3 * 3

    def forward(self, x):
        h = self.features(x).flatten(1)  # (B, 32, 3, 3) -> (B, 288)
        return self.classifier(h)


def make_data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, SIZE, SIZE, generator=g)  # (N, 1, H, W)
    y = x.mean(dim=(1, 2)).reshape(n, CLASSES, -1).mean(dim=2).argmax(dim=1)  # (N,) brightest band of rows
    return x, y


def train_loader(batch_size=32):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
