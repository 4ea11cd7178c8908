"""Hugging Face models given `labels`, which compute their own loss and return it as `.loss`.

Tiny models built from a config (no download, no `from_pretrained`): a BertForSequenceClassification and a
GPT2LMHeadModel. The batches are what a Hugging Face data collator yields, dicts of `input_ids`,
`attention_mask` and `labels` (padded, the padded labels -100 for the causal LM, as DataCollatorForLanguageModeling
sets them), read through a `batch_sampler=BatchSampler(RandomSampler(...))` as accelerate builds its loaders (the
loader's own `.sampler` is then a SequentialSampler that is never read). The causal LM is given
`labels=input_ids` and shifts them itself. Trained as the Trainer does: AdamW, weight decay 0.01 except on
biases and LayerNorm weights.

All cases run with `loss="model"`: the dict's `labels` are handed to forward as `labels=`. The cases are
registered only when transformers imports (the `huggingface` extra).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from ..cases._common import gen
from ..registry import case

try:
    import transformers
    from transformers import BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel
except Exception:  # the extra is not installed: no case from this family
    transformers = None

VOCAB, LENGTH, WIDTH, CLASSES, BATCH = 24, 16, 32, 3, 16
PAD = 0  # the pad token id; the label positions it fills are -100 for the causal LM


def _quiet() -> None:
    """Silence transformers' config notes (tiny vocabularies fail its GPT-2 token id sanity check)."""
    transformers.logging.set_verbosity_error()


def collate(rows: list[dict]) -> dict:
    """DataCollatorWithPadding, for rows of unequal length: pad input_ids with PAD, build the attention mask,
    stack the labels (per sequence for classification, padded with -100 for a causal LM)."""
    T = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), T), PAD, dtype=torch.long)  # (B, T)
    mask = torch.zeros(len(rows), T, dtype=torch.long)  # (B, T)
    for i, r in enumerate(rows):
        ids[i, :len(r["input_ids"])] = r["input_ids"]
        mask[i, :len(r["input_ids"])] = 1
    first = rows[0]["labels"]
    if first.dim() == 0:
        labels = torch.stack([r["labels"] for r in rows])  # (B,)
    else:
        labels = torch.where(mask.bool(), ids, torch.full_like(ids, -100))  # (B, T): pads not scored
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def hf_loader(rows: list[dict], seed: int) -> DataLoader:
    """A loader as accelerate prepares it: the random order comes from the batch sampler's own sampler."""
    sampler = RandomSampler(rows, generator=gen(seed + 1))
    return DataLoader(rows, batch_sampler=BatchSampler(sampler, BATCH, drop_last=False), collate_fn=collate)


def keyword_rows(n: int = 192, classes: int = CLASSES, labels_from: int = 0, seed: int = 0) -> list[dict]:
    """Sequence classification: random tokens of unequal length, the label is the class whose keyword token
    (ids 1..classes) occurs most often; the keywords are planted so the label is clear."""
    g = gen(seed)
    rows = []
    for _ in range(n):
        length = int(torch.randint(LENGTH // 2, LENGTH + 1, (1,), generator=g))
        ids = torch.randint(classes + 1, VOCAB, (length,), generator=g)
        label = int(torch.randint(0, classes, (1,), generator=g))
        spots = torch.randperm(length, generator=g)[:3]
        ids[spots] = 1 + label
        rows.append({"input_ids": ids, "labels": torch.tensor(label + labels_from)})
    return rows


def rule_rows(n: int = 128, seed: int = 0) -> list[dict]:
    """Causal LM: sequences of unequal length following a fixed rule (each token the sum of the previous one and
    the one four places back, modulo the vocabulary, never the pad id) after four random tokens."""
    g = gen(seed)
    rows = []
    for _ in range(n):
        length = int(torch.randint(LENGTH // 2, LENGTH + 1, (1,), generator=g))
        seq = torch.zeros(length, dtype=torch.long)
        seq[:4] = torch.randint(1, VOCAB, (4,), generator=g)
        for t in range(4, length):
            seq[t] = 1 + (seq[t - 1] + seq[t - 4]) % (VOCAB - 1)
        rows.append({"input_ids": seq, "labels": seq})
    return rows


def bert(num_labels: int = CLASSES) -> nn.Module:
    _quiet()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * WIDTH, max_position_embeddings=LENGTH, num_labels=num_labels,
                        pad_token_id=PAD)
    return BertForSequenceClassification(config)


def gpt2() -> nn.Module:
    _quiet()
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_positions=LENGTH, n_embd=WIDTH, n_layer=2, n_head=2,
                        bos_token_id=1, eos_token_id=1, pad_token_id=PAD)
    return GPT2LMHeadModel(config)


def adamw(model: nn.Module, lr: float = 1e-3, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """The Trainer's optimizer: weight decay on every weight except biases and LayerNorm weights."""
    no_decay = ("bias", "LayerNorm.weight", "ln_1.weight", "ln_2.weight", "ln_f.weight")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": weight_decay},
              {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def _run(model: nn.Module, rows: list[dict], seed: int, lr: float = 1e-3) -> dict:
    return dict(model=model, data=hf_loader(rows, seed), loss="model", optimizer=adamw(model, lr=lr))


if transformers is not None:
    @case("hf-bert-healthy", "huggingface", "BertForSequenceClassification built from a config, given labels, "
          "AdamW with the Trainer's weight-decay groups", healthy=True)
    def _():
        return _run(bert(), keyword_rows(seed=1201), seed=1201)

    @case("hf-gpt2-healthy", "huggingface", "GPT2LMHeadModel given labels=input_ids (it shifts them itself), "
          "padded labels -100", healthy=True)
    def _():
        return _run(gpt2(), rule_rows(seed=1202), seed=1202)

    @case("hf-bert-num-labels-default", "huggingface", "three classes but num_labels left at the config's default "
          "of 2: the labels run past the classifier's outputs", expect=("ND308", "ND105"))
    def _():
        # num_labels smaller than the label set: "IndexError: Target 2 is out of bounds"
        # https://github.com/yangheng95/PyABSA/issues/375 and https://github.com/huggingface/transformers/issues/1865
        return _run(bert(num_labels=2), keyword_rows(seed=1203), seed=1203)

    @case("hf-bert-labels-one-based", "huggingface", "labels 1..C from a CSV, not 0..C-1: the last class is out "
          "of range", expect=("ND308", "ND105"))
    def _():
        # labels must start at 0: https://github.com/EricFillion/happy-transformer/issues/248
        return _run(bert(), keyword_rows(labels_from=1, seed=1204), seed=1204)

    @case("hf-bert-lr-too-high", "huggingface", "AdamW at lr 0.05 on a transformer: every input ends at the same "
          "output", expect=("ND407", "ND502", "ND405"))
    def _():
        # a learning rate of 0.01 gives the same logits for every input:
        # https://github.com/huggingface/transformers/issues/735
        return _run(bert(), keyword_rows(seed=1205), seed=1205, lr=5e-2)
