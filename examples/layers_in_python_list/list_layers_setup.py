"""A residual MLP whose hidden blocks are kept in a plain Python list. The injected mistake: `self.blocks = [...]`
instead of `nn.ModuleList([...])`, so the blocks' weights are not model parameters: the optimizer never
updates them and state_dict() never saves them."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

NUM_CLASSES = 4
FEATURES = 16


class ResidualMLP(nn.Module):
    def __init__(self, hidden=64, depth=3):
        super().__init__()
        self.inp = nn.Linear(FEATURES, hidden)
        self.blocks = [nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU())
                       for _ in range(depth)]  # BUG: should be nn.ModuleList
        self.out = nn.Linear(hidden, NUM_CLASSES)

    def forward(self, x):
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F)
    y = (torch.tanh(x @ torch.randn(FEATURES, 8, generator=g)) @ torch.randn(8, NUM_CLASSES, generator=g)).argmax(1)
    return x, y


def model(hidden=64, depth=3):
    return ResidualMLP(hidden, depth)


def train_loader(batch_size=64):
    x, y = make_data()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
