"""WORKLOADS registry: name -> data loader, model family, default RNN cell, target metric, target value and chance.

Targets (AlgoPerf-style): every workload states the absolute score a run must reach on its target metric
(`goal`) and the score of a predictor that ignores the input (`chance`). A goal lies TARGET_SHARE of the way from
chance to the score the workload's model reaches when trained to convergence (`target_value`), measured by
benchmarks/mnist1d_baselines.py and benchmarks/workload_targets.py (mean over seeds, one CPU thread);
`goal_basis` says which run. Measuring the way from chance makes one rule fit rates and errors alike (for the
adding problem's MSE: 90% of the variance the constant predictor leaves is explained). Workloads whose data
need a download were not measured here and state no goal. The FAQ's sanity gates (and time to target) use them.
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.config import ConfigError, TrialConfig
from bench.registry import lookup

if TYPE_CHECKING:
    import torch

    from bench.data.base import DataBundle

Loader = Callable[[TrialConfig], "DataBundle"]


class Deferred:
    """A module imported on its first attribute access. The data modules import torch; the loaders below name
    them, but listing WORKLOADS (`bench list workloads`, a config check) should not import torch."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.name), attr)


cifar10, digits, imdb, mnist1d, sequences, textsynth = (
    Deferred(f"bench.data.{m}") for m in ("cifar10", "digits", "imdb", "mnist1d", "sequences", "textsynth"))


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    load: Loader
    model: str  # key of bench.models.MODELS
    target: str  # metric the sweep optimises and the report ranks by
    mode: str  # "max" or "min"
    source: str
    needs_download: bool = False
    cell: str = ""  # default recurrent cell of rnn workloads (cfg.rnn_cell overrides); empty for the others
    description: str = ""
    goal: float = math.nan  # the target value of `target` a well-trained run reaches (see the module docstring)
    chance: float = math.nan  # what a predictor that ignores the input scores on `target`
    goal_basis: str = ""  # where the goal comes from

    def chance_score(self, cfg: TrialConfig) -> float:
        """The chance score of `cfg`'s trials, the one definition of it: the data's own baseline of `target` where
        they name one (a sequence task's memoryless predictor at this T), else the declared `chance`."""
        try:
            return float(load_data(cfg).baseline.get(self.target, self.chance))
        except (ConfigError, OSError):  # data that cannot be read here: the declared score
            return self.chance


# A goal is this share of the way from chance to the converged score: close enough to converged that a run reaching
# it has learnt the task, far enough below it that a budget short of full convergence can get there.
TARGET_SHARE = 0.9


def target_value(converged: float, chance: float) -> float:
    """The goal for a measured converged score: chance + TARGET_SHARE * (converged - chance), to 2 significant
    digits past the leading zeros of an error (rates: 2 decimals)."""
    goal = chance + TARGET_SHARE * (converged - chance)
    return round(goal, 2) if abs(goal) >= 0.1 else float(f"{goal:.2g}")


def one_vs_rest(data: DataBundle, positive: int) -> DataBundle:
    """Binary relabelling, class `positive` = 1 vs the rest = 0; the baseline is the all-negative predictor."""
    from bench.data.base import Split

    relabel = lambda s: Split(s.x, (s.y == positive).float(), s.lengths)
    share = float((data.test.y == positive).float().mean())
    return replace(data, train=relabel(data.train), val=relabel(data.val), test=relabel(data.test), task="binary",
                   num_classes=1, class_names=("rest", str(positive)), baseline={"test_acc": 1 - share, "test_f1": 0.0})


SHUFFLED = "mnist1d generator, one fixed permutation of the 40 steps (offline)"
GENERATED = "generated from a fixed seed (offline)"

WORKLOADS: dict[str, WorkloadSpec] = {
    "mnist1d-cnn": WorkloadSpec("mnist1d-cnn", lambda cfg: mnist1d.load("channels"), "cnn", "test_acc", "max",
                                "mnist1d generator (offline)", description="MNIST-1D, 1-D CNN",
        goal=target_value(0.942, 0.1), chance=0.1, goal_basis="test accuracy 0.942 (3 seeds, benchmarks/mnist1d_baselines.py)"),
    "mnist1d-gru": WorkloadSpec("mnist1d-gru", lambda cfg: mnist1d.load("sequence"), "rnn", "test_acc", "max",
                                "mnist1d generator (offline)", cell="gru", description="MNIST-1D, GRU over 40 steps",
        goal=target_value(0.971, 0.1), chance=0.1, goal_basis="test accuracy 0.971 (3 seeds, benchmarks/mnist1d_baselines.py)"),
    "mnist1d-lstm": WorkloadSpec("mnist1d-lstm", lambda cfg: mnist1d.load("sequence"), "rnn", "test_acc", "max",
                                 "mnist1d generator (offline)", cell="lstm", description="MNIST-1D, LSTM over 40 steps",
        goal=target_value(0.935, 0.1), chance=0.1,
        goal_basis="test accuracy 0.935 (benchmarks/workload_targets.py: the one of 2 seeds that trained; the other "
                   "stayed at chance at lr 1e-2)"),
    "mnist1d-rnn": WorkloadSpec("mnist1d-rnn", lambda cfg: mnist1d.load("sequence"), "rnn", "test_acc", "max",
                                "mnist1d generator (offline)", cell="rnn", description="MNIST-1D, tanh RNN over 40 steps",
        goal=target_value(0.421, 0.1), chance=0.1,
        goal_basis="test accuracy 0.421 (2 seeds of the slow recipe, benchmarks/workload_targets.py; at lr "
                   "3e-3 one of 2 seeds stayed at chance)"),
    "mnist1d-mlp": WorkloadSpec("mnist1d-mlp", lambda cfg: mnist1d.load("channels"), "mlp", "test_acc", "max",
                                "mnist1d generator (offline)", description="MNIST-1D, MLP",
        goal=target_value(0.689, 0.1), chance=0.1, goal_basis="test accuracy 0.689 (3 seeds, benchmarks/mnist1d_baselines.py)"),
    "mnist1d-shuffled-cnn": WorkloadSpec("mnist1d-shuffled-cnn", lambda cfg: mnist1d.load("channels", shuffle_seq=True),
                                         "cnn", "test_acc", "max", SHUFFLED, description="MNIST-1D without locality, 1-D CNN",
        goal=target_value(0.638, 0.1), chance=0.1, goal_basis="test accuracy 0.638 (2 seeds, benchmarks/workload_targets.py)"),
    "mnist1d-shuffled-mlp": WorkloadSpec("mnist1d-shuffled-mlp", lambda cfg: mnist1d.load("channels", shuffle_seq=True),
                                         "mlp", "test_acc", "max", SHUFFLED, description="MNIST-1D without locality, MLP",
        goal=target_value(0.676, 0.1), chance=0.1, goal_basis="test accuracy 0.676 (2 seeds, benchmarks/workload_targets.py)"),
    "mnist1d-shuffled-gru": WorkloadSpec("mnist1d-shuffled-gru", lambda cfg: mnist1d.load("sequence", shuffle_seq=True),
                                         "rnn", "test_acc", "max", SHUFFLED, cell="gru",
                                         description="MNIST-1D without locality, GRU over 40 steps",
        goal=target_value(0.526, 0.1), chance=0.1, goal_basis="test accuracy 0.526 (2 seeds, benchmarks/workload_targets.py)"),
    "mnist1d-imbalanced-cnn": WorkloadSpec("mnist1d-imbalanced-cnn", lambda cfg: one_vs_rest(mnist1d.load("channels"), 0),
                                           "cnn", "test_f1", "max", "mnist1d generator (offline)",
                                           description="MNIST-1D digit 0 vs rest (10% positives), binary; "
                                                       "predicting 'rest' always scores 90% accuracy and F1 0",
        goal=target_value(0.993, 0.0), chance=0.0,
        goal_basis="test F1 0.993 (2 seeds, benchmarks/workload_targets.py); chance: the all-'rest' predictor's F1"),
    "digits-cnn": WorkloadSpec("digits-cnn", lambda cfg: digits.load(), "cnn", "test_acc", "max",
                               "scikit-learn load_digits (bundled)", description="8x8 handwritten digits, 2-D CNN",
        goal=target_value(0.981, 0.1), chance=0.1,
        goal_basis="test accuracy 0.981 (2 seeds, benchmarks/workload_targets.py)"),
    "cifar10-cnn": WorkloadSpec("cifar10-cnn", lambda cfg: cifar10.load(cfg.data_dir), "cnn", "test_acc", "max",
                                "CIFAR-10 python batches in --data-dir, torchvision download", needs_download=True,
                                description="the seed tutorial's CNN on 32x32 colour images; augment=true: crop+flip",
        chance=0.1, goal_basis="not measured here: the data need a download"),
    "imdb-rnn": WorkloadSpec("imdb-rnn", lambda cfg: imdb.load(cfg.data_dir, max_len=cfg.seq_len), "rnn", "test_acc", "max",
                             "aclImdb in --data-dir, download from ai.stanford.edu", needs_download=True, cell="rnn",
                             description="IMDB sentiment, binary; the seed's tanh RNN on tokens, last seq_len kept "
                                         "(default 256)",
        chance=0.5, goal_basis="not measured here: the data need a download"),
    "text-synthetic-rnn": WorkloadSpec("text-synthetic-rnn", lambda cfg: textsynth.load(max_len=cfg.seq_len), "rnn",
                                       "test_acc", "max", GENERATED, cell="rnn",
                                       description="generated reviews with negation, binary; IMDB's text pipeline offline",
        goal=target_value(0.866, 0.5), chance=0.5,
        goal_basis="test accuracy 0.866 of the tanh RNN (2 seeds, benchmarks/workload_targets.py)"),
    "adding": WorkloadSpec("adding", lambda cfg: sequences.load("adding", cfg.seq_len), "rnn", "test_mse", "min",
                           GENERATED, cell="gru", description="adding problem, regression; T = seq_len (default 50); "
                                                              "constant predictor MSE 1/6",
        goal=target_value(0.00025, 1 / 6), chance=1 / 6,
        goal_basis="test MSE 2.5e-4 at T=20 (2 seeds, benchmarks/workload_targets.py); chance: the constant predictor"),
    "temporal-order": WorkloadSpec("temporal-order", lambda cfg: sequences.load("temporal-order", cfg.seq_len), "rnn",
                                   "test_acc", "max", GENERATED, cell="gru",
                                   description="order of two early symbols, 4 classes; T = seq_len (default 50); chance 0.25",
        goal=target_value(1.0, 0.25), chance=0.25,
        goal_basis="test accuracy 1.000 at T=50 (1 seed, benchmarks/workload_targets.py)"),
    "copy-memory": WorkloadSpec("copy-memory", lambda cfg: sequences.load("copy-memory", cfg.seq_len), "rnn", "test_loss",
                                "min", GENERATED, cell="gru",
                                description="recall 10 symbols after T blanks, classified per step; T = seq_len "
                                            "(default 20); memoryless loss 10 log(8)/(T+20)",
        goal=target_value(0.287, 10 * math.log(8) / 40), chance=10 * math.log(8) / 40,
        goal_basis="test loss 0.287 at T=20 after 40 epochs (1 seed, benchmarks/workload_targets.py; the task is not "
                   "solved there); chance: the memoryless loss at the default T=20"),
}


def get_workload(name: str) -> WorkloadSpec:
    return lookup(WORKLOADS, "workload", name)


def data_key(cfg: TrialConfig) -> tuple[str, int, str]:
    """Everything a workload's loaded tensors depend on: the workload, seq_len, and the data folder as an absolute
    path (a sweep trial changes into the sweep's folder before it loads, so one relative path can name two folders
    in one process). Neither the seed nor n_train reaches a loader: validation splits are carved with a fixed seed,
    and n_train is cut from the loaded bundle."""
    return cfg.workload, cfg.seq_len, str(Path(cfg.data_dir).resolve())


@lru_cache(maxsize=8)
def _decoded(key: tuple[str, int, str]) -> DataBundle:
    # One decode per process and dataset: a reused Ray actor runs trial after trial, studies run many models.
    workload, seq_len, data_dir = key
    return get_workload(workload).load(TrialConfig(workload=workload, seq_len=seq_len, data_dir=data_dir))


@lru_cache(maxsize=1)
def _resident(key: tuple[str, int, str], device: str) -> DataBundle:
    # The bundle's copy on an accelerator, kept for the process's next trial of the same data; one at a time, so an
    # actor between trials holds no more device memory than a trial holds while it runs.
    import torch

    return _decoded(key).to(torch.device(device))


def load_data(cfg: TrialConfig, device: torch.device | None = None) -> DataBundle:
    """The workload's data of `cfg` (on `device`, default the CPU), decoded once per process and then shared:
    callers never modify the tensors in place."""
    key = data_key(cfg)
    data = _decoded(key) if device is None or device.type == "cpu" else _resident(key, str(device))
    if cfg.n_train:
        if cfg.n_train > len(data.train):
            raise ConfigError(f"n_train={cfg.n_train} exceeds the {len(data.train)} training samples of {cfg.workload}")
        data = replace(data, train=data.train.subset(slice(0, cfg.n_train)))
    return data
