"""Text pipeline without torchtext: tokenizer, vocabulary, padded id tensors with true lengths.

Used by the IMDB loader and the generated text corpus, so the offline workload runs the same code path.
Tokenization and vocabulary building are one-off Python per load; padding is vectorized.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch

from bench.config import ConfigError
from bench.data.base import DataBundle, Split, split_off_validation

PAD, UNK = 0, 1
SPECIALS = ("<pad>", "<unk>")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)  # IMDB reviews mark line breaks with <br />
# A word with its inner apostrophes ("don't", "90's"), or any single non-space, non-word character.
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-case, turn HTML line breaks into spaces, split into words and punctuation tokens."""
    return _TOKEN.findall(_BREAK.sub(" ", text).lower())


@dataclass(frozen=True)
class Vocab:
    itos: tuple[str, ...]  # id -> token; ids 0 and 1 are <pad> and <unk>

    @classmethod
    def build(cls, docs: Iterable[Sequence[str]], max_size: int = 25_000, min_freq: int = 1) -> Vocab:
        """The max_size most frequent tokens seen at least min_freq times (ties broken alphabetically)."""
        if max_size < 1 or min_freq < 1:
            raise ValueError(f"max_size and min_freq must be >= 1, got {max_size} and {min_freq}")
        counts: Counter[str] = Counter()
        for doc in docs:
            counts.update(doc)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
                        key=lambda t: (-counts[t], t))
        return cls(SPECIALS + tuple(ranked[:max_size]))

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def stoi(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.itos)}

    def encode(self, docs: Sequence[Sequence[str]], max_len: int, keep: str = "end") -> tuple[torch.Tensor, torch.Tensor]:
        """Token lists -> ((N, T) int64 ids right-padded with <pad>=0, (N,) true lengths), T = longest kept doc.

        keep="end" truncates from the front (Keras' default): the RNN reads the final state, and reviews
        tend to end with the verdict. keep="start" keeps the first max_len tokens.
        """
        if keep not in ("start", "end"):
            raise ValueError(f"keep must be 'start' or 'end', got {keep!r}")
        if max_len < 1:
            raise ConfigError(f"seq_len (tokens kept per text) must be >= 1, got {max_len}")
        stoi = self.stoi
        cut = (lambda d: d[:max_len]) if keep == "start" else (lambda d: d[max(0, len(d) - max_len):])
        ids = [[stoi.get(t, UNK) for t in cut(doc)] for doc in docs]
        return pad_sequences(ids)


def pad_sequences(ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged id lists -> (N, T) int64 tensor padded with 0 and the (N,) lengths, without a per-row loop."""
    lengths = torch.tensor([len(s) for s in ids], dtype=torch.long)
    flat = torch.from_numpy(np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum())))
    width = int(lengths.max()) if len(ids) else 0
    x = torch.zeros(len(ids), max(1, width), dtype=torch.long)  # at least one column: the RNN reads step 0
    rows = torch.repeat_interleave(torch.arange(len(ids)), lengths)
    starts = torch.cumsum(lengths, 0) - lengths
    cols = torch.arange(len(flat)) - torch.repeat_interleave(starts, lengths)
    x[rows, cols] = flat
    return x, lengths


def text_bundle(train_texts: Sequence[str], train_labels: Sequence[int], test_texts: Sequence[str],
                test_labels: Sequence[int], max_len: int, max_size: int = 25_000, min_freq: int = 1,
                class_names: tuple[str, ...] = ("neg", "pos")) -> DataBundle:
    """Binary sentiment bundle: validation carved from train first, vocabulary built on the rest of train only."""
    train_docs = [tokenize(t) for t in train_texts]
    test_docs = [tokenize(t) for t in test_texts]
    y_train = torch.tensor(train_labels, dtype=torch.float32)
    train_idx, val_idx = split_off_validation(Split(torch.arange(len(train_docs)), y_train))
    vocab = Vocab.build((train_docs[i] for i in train_idx.x.tolist()), max_size, min_freq)

    def split(docs: list[list[str]], idx: Sequence[int], y: torch.Tensor) -> Split:
        x, lengths = vocab.encode([docs[i] for i in idx], max_len)
        return Split(x, y, lengths)

    return DataBundle(train=split(train_docs, train_idx.x.tolist(), train_idx.y),
                      val=split(train_docs, val_idx.x.tolist(), val_idx.y),
                      test=split(test_docs, range(len(test_docs)), torch.tensor(test_labels, dtype=torch.float32)),
                      task="binary", num_classes=1, vocab_size=len(vocab), class_names=class_names)
