"""A human-activity classifier: windows of 24 accelerometer readings (3 axes, standardised) into 4 activities,
read by an nn.LSTM in its default time-major layout (T, B, F). The injected mistake: the (B, T, F) batch is
turned into (T, B, F) with `view` instead of `transpose`, which reinterprets memory and deals the readings of one
window out to other windows: each prediction depends on the other samples of the batch."""
import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

STEPS, AXES, ACTIVITIES = 24, 3, 4


def make_windows(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, ACTIVITIES, (n,), generator=g)  # (N,)
    t = torch.arange(STEPS).float()  # (T,)
    freq = 0.08 + 0.08 * y.float()  # each activity has its own rhythm
    phase = 2 * math.pi * torch.rand(n, 1, AXES, generator=g)
    x = torch.sin(2 * math.pi * freq[:, None, None] * t[None, :, None] + phase)  # (N, T, 3)
    x = x + 0.3 * torch.randn(n, STEPS, AXES, generator=g)
    return (x - x.mean()) / x.std(), y


class ActivityLSTM(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.lstm = nn.LSTM(AXES, hidden)  # time-major: expects (T, B, F)
        self.head = nn.Linear(hidden, ACTIVITIES)

    def forward(self, x):  # (B, T, F) -> (B, ACTIVITIES)
        B, T, F = x.shape
        x = x.view(T, B, F)  # BUG: must be x.transpose(0, 1); view mixes windows across the batch
        out, _ = self.lstm(x)  # (T, B, H)
        return self.head(out[-1])  # (B, H) -> (B, ACTIVITIES)


def model():
    return ActivityLSTM()


def train_loader(batch_size=32):
    x, y = make_windows()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
