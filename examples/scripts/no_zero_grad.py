# The loop never calls optimizer.zero_grad(): `nndoctor run examples/scripts/no_zero_grad.py` exits 1 with ND409
# stale-gradients first.
"""A digit-style classifier whose loop lets every backward add onto gradients that earlier steps already applied."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 64, 10


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(CLASSES, FEATURES, generator=g)
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    x = prototypes[y] + 0.8 * torch.randn(n, FEATURES, generator=g)  # (N, F), unit scale
    return x, y


def main(epochs=3):
    torch.manual_seed(0)
    x, y = make_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(FEATURES, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, CLASSES))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        for inputs, targets in loader:
            loss = loss_fn(model(inputs), targets)
            loss.backward()  # BUG: no optimizer.zero_grad() before this
            optimizer.step()
        print(f"epoch {epoch}: last loss {loss.item():.3f}")


if __name__ == "__main__":
    main()
