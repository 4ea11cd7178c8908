# The network ends with nn.Softmax and is trained with CrossEntropyLoss: `nndoctor run
# examples/scripts/double_softmax.py` exits 1 with ND202 double-softmax first.
"""A small CNN on noisy 8x8 glyphs whose forward "returns probabilities"; CrossEntropyLoss squashes them again."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

CLASSES = 10


def make_glyphs(n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    templates = (torch.rand(CLASSES, 1, 8, 8, generator=g) > 0.5).float()  # (C, 1, 8, 8) one glyph per class
    y = torch.randint(0, CLASSES, (n,), generator=g)  # (N,)
    x = templates[y] + 0.3 * torch.randn(n, 1, 8, 8, generator=g)  # (N, 1, 8, 8)
    return (x - x.mean()) / x.std(), y


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 4, 4)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 2, 2)
        nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(),
        nn.Linear(64, CLASSES),
        nn.Softmax(dim=1),  # BUG: CrossEntropyLoss expects logits
    )


def main(epochs=2, device="cpu"):
    torch.manual_seed(0)
    x, y = make_glyphs()
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = make_model().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        model.train()
        for step, (images, labels) in enumerate(loader):
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            if step % 10 == 0:
                print(f"epoch {epoch} step {step}: loss {loss.item():.3f}")


if __name__ == "__main__":
    main()
