"""A small character-level transformer language model (token and position embeddings, two encoder layers, an
output head tied to the token embedding) on an in-memory text, targets shifted by one. The injected mistake: the
encoder is called without a causal mask, so position t attends to the characters after it, including the one it
is asked to predict: training loss collapses, generation fails."""
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

TEXT = ("it was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
        "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of light ") * 10
VOCAB = sorted(set(TEXT))
VOCAB_SIZE = len(VOCAB)
BLOCK = 16


class CharChunks(Dataset):
    def __init__(self, text=TEXT, block=BLOCK):
        self.ids = torch.tensor([VOCAB.index(c) for c in text])  # (L,)
        self.block = block

    def __len__(self):
        return len(self.ids) - self.block - 1

    def __getitem__(self, i):
        chunk = self.ids[i:i + self.block + 1]  # (T+1,)
        return chunk[:-1], chunk[1:]  # inputs and next-character targets


class CharTransformer(nn.Module):
    def __init__(self, vocab=VOCAB_SIZE, dim=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(BLOCK, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.tok.weight  # tied input and output embeddings
        for emb in (self.tok, self.pos):
            nn.init.normal_(emb.weight, std=0.02)  # GPT-2's init: small logits through the tied head

    def forward(self, ids):  # (B, T) -> (B, T, V)
        T = ids.shape[1]
        h = self.tok(ids) + self.pos(torch.arange(T, device=ids.device))  # (B, T, D)
        h = self.encoder(h)  # BUG: no mask=nn.Transformer.generate_square_subsequent_mask(T), is_causal=True
        return self.head(self.norm(h))


def lm_loss(logits, targets):
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))  # (B*T, V)


def model():
    return CharTransformer()


def train_loader(batch_size=32):
    return DataLoader(CharChunks(), batch_size=batch_size, shuffle=True)
