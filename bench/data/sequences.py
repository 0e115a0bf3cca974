"""Synthetic long-range sequence tasks for recurrent nets; the sequence length T is cfg.seq_len (0 = default).

- adding (Hochreiter & Schmidhuber 1997, U[0,1] form of Le et al. 2015): two channels, values ~ U[0,1] and
  a marker that is 1 at one step in the first half and one in the second; regress the sum of the two marked
  values. A constant predictor (1.0) scores MSE = Var(u1 + u2) = 1/6. Default T = 50.
- temporal-order (Hochreiter & Schmidhuber 1997, in the form of Martens & Sutskever 2011 used by Pascanu et al.
  2013): one-hot symbols, distractors from {C, D, E, F}, symbol A or B at t1 in [T/10, 2T/10) and t2 in
  [4T/10, 5T/10); classify the order AA/AB/BA/BB (chance 0.25). Default T = 50.
- copy-memory (Arjovsky et al. 2016): ten symbols from 1..8, T-1 blanks, a delimiter, ten blanks (length T+20);
  the target is blank everywhere except the last ten steps, which repeat the ten symbols. Classified at every
  step; predicting blanks and then uniform symbols (no memory) scores cross-entropy 10 log(8) / (T+20). Default T = 20.

Generated from a fixed seed, so every trial sees the same data: 11,000 training sequences (1,000 of them become
the validation split) and 1,000 test sequences.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.config import ConfigError
from bench.data.base import DataBundle, Split, split_off_validation
from bench.memory import check_fits

N_TRAIN, N_TEST = 11_000, 1_000
SEED = 20_130_617  # fixed: the data must not depend on the trial seed


def adding(T: int, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, T, 2) values and markers, (n,) float sums."""
    values = torch.rand(n, T, generator=g)
    rows = torch.arange(n)
    first = torch.randint(0, T // 2, (n,), generator=g)
    second = torch.randint(T // 2, T, (n,), generator=g)
    marks = torch.zeros(n, T)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    return torch.stack([values, marks], dim=-1), values[rows, first] + values[rows, second]


def _position(T: int, lo_tenths: int, hi_tenths: int, n: int, g: torch.Generator) -> torch.Tensor:
    lo = T * lo_tenths // 10
    return torch.randint(lo, max(lo + 1, T * hi_tenths // 10), (n,), generator=g)


def temporal_order(T: int, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, T, 6) one-hot symbols (A=0, B=1, distractors 2..5), (n,) int64 classes 2*first + second."""
    seq = torch.randint(2, 6, (n, T), generator=g)
    first, second = torch.randint(0, 2, (2, n), generator=g)
    rows = torch.arange(n)
    seq[rows, _position(T, 1, 2, n, g)] = first
    seq[rows, _position(T, 4, 5, n, g)] = second
    return F.one_hot(seq, 6).float(), 2 * first + second


def copy_memory(T: int, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, T+20, 10) one-hot inputs (0 blank, 1..8 symbols, 9 delimiter), (n, T+20) int64 targets in 0..8."""
    symbols = torch.randint(1, 9, (n, 10), generator=g)
    seq = torch.zeros(n, T + 20, dtype=torch.long)
    seq[:, :10] = symbols
    seq[:, T + 9] = 9
    target = torch.zeros(n, T + 20, dtype=torch.long)
    target[:, T + 10:] = symbols
    return F.one_hot(seq, 10).float(), target


@dataclass(frozen=True)
class SequenceTask:
    make: Callable[[int, int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
    task: str
    num_classes: int
    default_len: int
    min_len: int
    baseline: Callable[[int], dict[str, float]]  # T -> metrics of the best memoryless predictor
    class_names: tuple[str, ...] = ()


TASKS: dict[str, SequenceTask] = {
    "adding": SequenceTask(adding, "regression", 1, 50, 2, lambda T: {"test_mse": 1 / 6}),
    "temporal-order": SequenceTask(temporal_order, "classification", 4, 50, 10,
                                   lambda T: {"test_acc": 0.25, "test_loss": math.log(4)}, ("AA", "AB", "BA", "BB")),
    # Per-step accuracy is mostly blanks; the memoryless predictor gets the blanks and 1/8 of the symbols.
    "copy-memory": SequenceTask(copy_memory, "classification", 9, 20, 1,
                                lambda T: {"test_loss": 10 * math.log(8) / (T + 20), "test_acc": (T + 10 + 10 / 8) / (T + 20)}),
}


def load(name: str, seq_len: int = 0) -> DataBundle:
    """The named task at T = seq_len (0 = its default), with its memoryless baseline in DataBundle.baseline."""
    spec = TASKS[name]
    T = seq_len or spec.default_len
    if T < spec.min_len:
        raise ConfigError(f"{name} needs seq_len >= {spec.min_len}, got {T}")
    # Generating holds int64 symbols, their int64 one-hot form and its float copy: ~160 bytes per step and sequence.
    check_fits(f"{name} at seq_len={T}", 160 * (N_TRAIN + N_TEST) * (T + 20), "cpu", "choose a smaller seq_len")
    x, y = spec.make(T, N_TRAIN + N_TEST, torch.Generator().manual_seed(SEED))
    train, val = split_off_validation(Split(x[:N_TRAIN], y[:N_TRAIN]), frac=(N_TRAIN - 10_000) / N_TRAIN)
    return DataBundle(train, val, Split(x[N_TRAIN:], y[N_TRAIN:]), task=spec.task, num_classes=spec.num_classes,
                      class_names=spec.class_names, baseline=spec.baseline(T))
