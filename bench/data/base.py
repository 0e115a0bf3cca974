"""DataBundle: the in-memory tensors a workload hands to the training core."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from bench.errors import DatasetMissing  # noqa: F401 - the loaders raise it from here


@dataclass
class Split:
    x: torch.Tensor  # float features, or int64 token ids for text
    y: torch.Tensor  # int64 class ids, or float targets (binary: 0/1; regression: values)
    lengths: torch.Tensor | None = None  # true lengths of padded token/step sequences

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: torch.Tensor) -> Split:
        lengths = None if self.lengths is None else self.lengths[idx]
        return Split(self.x[idx], self.y[idx], lengths)

    def to(self, device: torch.device) -> Split:
        lengths = None if self.lengths is None else self.lengths.to(device)
        return Split(self.x.to(device), self.y.to(device), lengths)


# An augmentation maps a batch of inputs to a batch of inputs, on whatever device they live.
Augment = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


@dataclass
class DataBundle:
    train: Split
    val: Split
    test: Split
    task: str  # "classification" | "binary" | "regression"
    num_classes: int  # classes for classification; 1 for binary and regression
    vocab_size: int = 0  # > 0 for token inputs
    augment: Augment | None = None
    class_names: tuple[str, ...] = ()
    baseline: dict[str, float] = field(default_factory=dict)  # e.g. {"test_mse": 1/6}

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.x.shape[1:])

    def to(self, device: torch.device) -> DataBundle:
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))


def split_off_validation(train: Split, frac: float = 0.1, seed: int = 0) -> tuple[Split, Split]:
    """Carve a fixed validation split from the training data (independent of the trial seed)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(train), generator=g)
    n_val = max(1, int(len(train) * frac))
    return train.subset(perm[n_val:]), train.subset(perm[:n_val])


def cache_dir() -> Path:
    """Where generated datasets are cached (BENCH_CACHE overrides)."""
    path = Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path
