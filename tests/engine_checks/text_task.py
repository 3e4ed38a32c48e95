{%- if cookiecutter.framework == "pytorch" -%}
"""A second task for the engine's checks: a tiny transformer that classifies synthetic token
sequences of several lengths, padded, with an attention mask. Its batches are dicts, as a Hugging
Face tokenizer makes them, and the model computes its own loss when given the labels: task.py's
batch_loss and batch_metrics. Built in code: nothing to download. install() puts it in place of
the example's task, in this process."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from {{ cookiecutter.package_name }} import task

VOCAB, LENGTH, WIDTH = 32, 12, 16
PAD = 0


class Tokens(Dataset):
    """``n`` sequences of 3 to LENGTH tokens, padded; the label: is the first token in the lower
    half of the vocabulary."""

    def __init__(self, n: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (n, LENGTH), generator=generator)
        lengths = torch.randint(3, LENGTH + 1, (n, 1), generator=generator)
        self.mask = torch.arange(LENGTH) < lengths
        self.ids[~self.mask] = PAD
        self.labels = (self.ids[:, 0] < VOCAB // 2).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "attention_mask": self.mask[i], "labels": self.labels[i]}


class Classifier(nn.Module):
    """An encoder layer over the unmasked tokens, mean-pooled; given labels, it returns each
    sample's loss with the logits, as a Hugging Face model does (theirs: the mean)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, WIDTH, padding_idx=PAD)
        self.position = nn.Parameter(0.02 * torch.randn(LENGTH, WIDTH))
        layer = nn.TransformerEncoderLayer(WIDTH, 2, 2 * WIDTH, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(WIDTH, 2)

    def forward(self, input_ids, attention_mask, labels=None) -> Any:
        hidden = self.encoder(self.embed(input_ids) + self.position, src_key_padding_mask=~attention_mask)
        kept = attention_mask.unsqueeze(-1).to(hidden.dtype)
        logits = self.head((hidden * kept).sum(1) / kept.sum(1))
        if labels is None:
            return logits
        return nn.functional.cross_entropy(logits, labels, reduction="none"), logits


def load_datasets(data_dir: Any) -> tuple[Dataset, Dataset]:
    return Tokens(205, seed=1), Tokens(51, seed=2)


def build_model(train: Dataset, args: Any) -> nn.Module:
    return Classifier()


def batch_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    losses, _ = model(**batch)
    return losses


def batch_metrics(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    losses, logits = model(**batch)
    return {"accuracy": (logits.argmax(1) == batch["labels"]).float(), "loss": losses}


def install(monkeypatch: Any = None) -> None:
    """In place of task.py's: for good, or until ``monkeypatch`` (a test's) is undone."""
    for function in (load_datasets, build_model, batch_loss, batch_metrics):
        if monkeypatch:
            monkeypatch.setattr(task, function.__name__, function, raising=False)
        else:
            setattr(task, function.__name__, function)
{%- endif %}
