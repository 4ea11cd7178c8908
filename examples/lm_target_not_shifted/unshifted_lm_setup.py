"""A character-level causal convolutional language model on a small in-memory text. The injected mistake: the
dataset returns the same chunk as inputs and targets, so the model is asked for the token it is reading, not
the next one (training loss falls to zero; generation is useless)."""
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

TEXT = ("the quick brown fox jumps over the lazy dog while the cat sleeps by the warm fire and the rain "
        "falls softly on the old roof of the house at the end of the long and winding road ") * 20
VOCAB = sorted(set(TEXT))
VOCAB_SIZE = len(VOCAB)
BLOCK = 32


class CharChunks(Dataset):
    def __init__(self, text=TEXT, block=BLOCK):
        self.ids = torch.tensor([VOCAB.index(c) for c in text])  # (L,)
        self.block = block

    def __len__(self):
        return len(self.ids) - self.block - 1

    def __getitem__(self, i):
        chunk = self.ids[i:i + self.block + 1]  # (T+1,)
        return chunk[:-1], chunk[:-1]  # BUG: targets should be chunk[1:]


class CausalConvLM(nn.Module):
    """Each position sees itself and the `context - 1` positions before it (left padding only)."""

    def __init__(self, vocab=VOCAB_SIZE, dim=32, hidden=64, context=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pad = nn.ConstantPad1d((context - 1, 0), 0.0)
        self.conv = nn.Conv1d(dim, hidden, kernel_size=context)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids):  # (B, T) -> (B, T, V)
        h = self.emb(ids).transpose(1, 2)  # (B, D, T)
        h = torch.relu(self.conv(self.pad(h)))  # (B, H, T)
        return self.head(h.transpose(1, 2))  # (B, T, V)


def lm_loss(logits, targets):
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))  # (B*T, V)


def model():
    return CausalConvLM()


def train_loader(batch_size=32):
    return DataLoader(CharChunks(), batch_size=batch_size, shuffle=True)
