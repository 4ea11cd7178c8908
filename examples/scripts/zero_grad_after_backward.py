# The loop zeroes the gradients between backward() and step(): `nndoctor run
# examples/scripts/zero_grad_after_backward.py` exits 1 with ND408 weights-not-updating first.
"""A regression MLP whose loop was "tidied": zero_grad moved next to backward, on the wrong side of it. Every step
runs on zeroed gradients and no weight ever changes; the loss printed each epoch stays where it started."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make_data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)  # (N, F)
    y = x @ torch.randn(6, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)  # (N, 1)
    return x, y


def main(epochs=3):
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(*make_data()), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.MSELoss()
    for epoch in range(epochs):
        for x, y in loader:
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.zero_grad()  # BUG: belongs before backward(); here it wipes the gradients step() needs
            optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
