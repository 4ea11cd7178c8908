# The model is switched to eval mode for a validation pass before training and never back: `nndoctor run
# examples/scripts/eval_mode_training.py` exits 1 with ND310 stuck-in-eval-mode first.
"""A classifier with BatchNorm and dropout; the script checks its untrained accuracy first (model.eval()), then
trains without model.train(): dropout stays off and BatchNorm never learns its statistics."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

FEATURES, CLASSES = 20, 5


def make_data(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=g)  # (N, F)
    y = (x @ torch.randn(FEATURES, CLASSES, generator=g)).argmax(dim=1)  # (N,)
    return x, y


def accuracy(model, loader):
    model.eval()
    with torch.no_grad():
        right = sum(int((model(x).argmax(1) == y).sum()) for x, y in loader)
    return right / len(loader.dataset)


def main(epochs=3):
    torch.manual_seed(0)
    x, y = make_data()
    train = DataLoader(TensorDataset(x[:768], y[:768]), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x[768:], y[768:]), batch_size=256)
    model = nn.Sequential(nn.Linear(FEATURES, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(64, CLASSES))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"untrained accuracy {accuracy(model, val):.2f}")  # leaves the model in eval mode
    for epoch in range(epochs):
        for xb, yb in train:  # BUG: no model.train() before the training loop
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: accuracy {accuracy(model, val):.2f}")


if __name__ == "__main__":
    main()
