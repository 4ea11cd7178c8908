# A masking step zeroes every input: `nndoctor run examples/scripts/all_zero_inputs.py` exits 1 with ND102
# constant-inputs first.
"""A tabular classifier whose data preparation blanks the whole table; the loop itself is healthy."""
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make_data(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(n, 8, generator=g)  # (N, F)
    y = (raw[:, :4].sum(1) > 0).long()  # (N,)
    x = raw * 0.0  # BUG: a masking step meant for padded rows zeroes the whole table
    return x, y


def main(epochs=3):
    torch.manual_seed(0)
    x, y = make_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(inputs), targets)  # a functional loss
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: last loss {loss.item():.3f}")


if __name__ == "__main__":
    main()
