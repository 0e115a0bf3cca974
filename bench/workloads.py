"""WORKLOADS registry: name -> data loader, model family, default RNN cell, recipe, target metric, goal and chance.

A workload owns its recipe (AlgoPerf's Workload owns its model, loss and targets): the TrialConfig fields of the
model it trains (family and architecture) and of its training (optimizer and settings, schedule, batch size,
clipping), with its epochs per budget (`quick`, `full`, and `converged`, the run its goal is measured on). A
sweep, a FAQ experiment or a study that trains a workload starts from its recipe (`recipe_config`) and changes only
what it compares.

Targets (AlgoPerf-style): every workload states the absolute score a run must reach on its target metric
(`goal`) and the score of a predictor that ignores the input (`chance`). A goal lies TARGET_SHARE of the way from
chance to the score the workload's recipe reaches when trained to convergence (`target_value`), measured by
benchmarks/workload_targets.py, which runs exactly the recipe (mean over seeds, one CPU thread); `goal_basis`
records that run: the score, the seeds, the command and the settings it trained, which a test holds equal to the
recipe. Measuring the way from chance makes one rule fit rates and errors alike (for the adding problem's MSE: 90%
of the variance the constant predictor leaves is explained). Workloads whose data need a download were not
measured here and state no goal. The FAQ's sanity gates (and time to target) use them.
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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


BUDGETS = ("quick", "full", "converged")  # the epochs a recipe states: small and full budgets, and its goal's run


@dataclass(frozen=True)
class Recipe:
    """How a workload is trained: TrialConfig overrides for its model and its training, and epochs per budget."""
    settings: dict[str, Any] = field(default_factory=dict)
    epochs: dict[str, int] = field(default_factory=lambda: {"quick": 4, "full": 20, "converged": 40})

    def run(self, budget: str) -> dict[str, Any]:
        """The TrialConfig overrides of one run of the recipe at `budget` (one of BUDGETS)."""
        if budget not in self.epochs:
            raise ConfigError(f"unknown budget {budget!r}; choose one of: {', '.join(self.epochs)}")
        return {**self.settings, "epochs": self.epochs[budget]}

    def __str__(self) -> str:
        settings = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in self.settings.items())
        return f"{settings or 'config defaults'}; epochs " + "/".join(f"{self.epochs[b]}" for b in BUDGETS) + \
            " (" + "/".join(BUDGETS) + ")"


@dataclass(frozen=True)
class GoalBasis:
    """Where a goal comes from: the converged score (mean over `seeds`) of the run `settings` describes, and the
    command that measured it. `settings` must be the workload's recipe at its converged budget (a test checks)."""
    score: float
    seeds: int
    settings: dict[str, Any]
    command: str
    note: str = ""

    def __str__(self) -> str:
        return f"{self.score:g} (mean of {self.seeds} seeds, `{self.command}`){'; ' + self.note if self.note else ''}"


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
    recipe: Recipe = field(default_factory=Recipe)
    chance: float = math.nan  # what a predictor that ignores the input scores on `target`
    goal_basis: GoalBasis | str = ""  # the converged run the goal comes from, or why there is none
    goal: float = field(init=False, default=math.nan)  # the target value a well-trained run reaches (from goal_basis)

    def __post_init__(self) -> None:
        if isinstance(self.goal_basis, GoalBasis):
            object.__setattr__(self, "goal", target_value(self.goal_basis.score, self.chance))

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
TARGETS = "python benchmarks/workload_targets.py --only"

# The flagship sweep's models (bench sweep optimizers). The CNN: Greydanus 2020's two conv blocks (32 and 64
# channels) and head, under the sweep's schedule (5% linear warm-up, cosine decay: at a constant LR the last
# epoch's weights of a tuned momentum run swung by several points from seed to seed); batch 64 gives ~680 steps in
# the quick budget's 12 epochs. The GRU: one layer (a second doubled the step's cost on a CPU core: the cell's
# per-step operations, not its arithmetic, take the time) of 64 units, gradient-norm clipping at 1 (without it the
# LR searches of Adam and momentum sat at chance), batch 100, and a linear warm-up of 144 steps (4 epochs) at every
# budget. RMSprop and Adagrad have no bias correction: their first steps are large, and how many steps of warm-up
# they get decides whether a seed trains. As a share of training (20%, 86 steps of the quick budget's 432) RMSprop at
# lr 1e-2 left 2 of 5 seeds near chance (test accuracy 0.932, 0.089, 0.944, 0.223, 0.958) and Adagrad at lr 0.1 one
# of 3 at 0.685; with 147 steps (a share of 0.34; the recipe fixes 144, the full budget's 20%) the same seeds reached
# 0.940, 0.948, 0.940, 0.959, 0.932 and 0.923, 0.940, 0.931, Adam and AdamW unchanged (0.957, 0.966; lr 3e-2, seed
# 2). Ma & Yarats (2021) likewise size an untuned warm-up by the optimizer (2 / (1 - beta2) steps), not by the
# training's length. At 12 epochs (5% warm-up) Adam reached 0.955 at width 64 and 0.842 at width 32 (lr 3e-2).
CNN = Recipe({"width": 32, "depth": 2, "fc_width": 128, "optimizer": "adam", "lr": 1e-2, "schedule": "warmup_cosine",
              "batch_size": 64}, {"quick": 12, "full": 20, "converged": 30})
GRU = Recipe({"width": 64, "depth": 1, "fc_width": 128, "optimizer": "adam", "lr": 3e-2, "schedule": "warmup_cosine",
              "warmup_steps": 144, "batch_size": 100, "clip_norm": 1.0}, {"quick": 12, "full": 20, "converged": 40})
# Greydanus 2020's MNIST-1D MLP: 3 hidden layers of 256 units, dropout 0.5, Adam at a constant LR. Its quick
# budget is as long as its full one: with dropout 0.5 it learns slowly, and a FAQ experiment gated on its goal (0.63)
# must reach it. At 15 epochs the LR-tuned Adam reached 0.521 (3 seeds) and six FAQ claims were untestable for it;
# at 40, test accuracy 0.667 and 0.659 (seeds 1, 2; validation 0.61-0.63 at 25-30 epochs). A trial costs about 6 s.
MLP = Recipe({"width": 256, "depth": 3, "dropout": 0.5, "optimizer": "adam", "lr": 3e-3},
             {"quick": 40, "full": 40, "converged": 60})
GREYDANUS_MLP = {"width": 256, "depth": 3, "dropout": 0.5, "optimizer": "adam", "lr": 3e-3, "epochs": 60}
LSTM = Recipe({"width": 32, "depth": 2, "optimizer": "adam", "lr": 1e-2}, {"quick": 10, "full": 30, "converged": 50})
TANH_RNN = Recipe({"width": 64, "optimizer": "adam", "lr": 1e-3, "clip_norm": 1.0},
                  {"quick": 20, "full": 40, "converged": 80})
# The recipe of the variant whose goal was measured before the flagship recipes changed (Adam at a constant LR,
# batch 128, 2 GRU layers of 32): it trains what its goal rests on until measured again.
GRU_BEFORE = Recipe({"width": 32, "optimizer": "adam", "lr": 1e-2}, {"quick": 12, "full": 20, "converged": 50})
SEQUENCE = {"width": 32, "optimizer": "adam", "lr": 3e-3, "clip_norm": 1.0, "batch_size": 64}


# The settings each goal was measured with (benchmarks/workload_targets.py), written out rather than taken from the
# recipes, so that a recipe changed without measuring its goal again no longer matches its goal's basis (a test).
GRU_RUN = {"width": 64, "depth": 1, "fc_width": 128, "optimizer": "adam", "lr": 3e-2, "schedule": "warmup_cosine",
           "warmup_steps": 144, "batch_size": 100, "clip_norm": 1.0, "epochs": 40}
CNN_RUN = {"width": 32, "depth": 2, "fc_width": 128, "optimizer": "adam", "lr": 1e-2, "schedule": "warmup_cosine",
           "batch_size": 64, "epochs": 30}
OLD_GRU = {"optimizer": "adam", "lr": 1e-2, "epochs": 50, "width": 32}
SEQ_RUN = {"optimizer": "adam", "lr": 3e-3, "clip_norm": 1.0, "batch_size": 64}
MEASURED_ON: dict[str, dict[str, Any]] = {
    "mnist1d-cnn": CNN_RUN,
    "mnist1d-gru": GRU_RUN,
    "mnist1d-lstm": {"width": 32, "depth": 2, "optimizer": "adam", "lr": 1e-2, "epochs": 50},
    "mnist1d-rnn": {"width": 64, "optimizer": "adam", "lr": 1e-3, "clip_norm": 1.0, "epochs": 80},
    "mnist1d-mlp": GREYDANUS_MLP,
    "mnist1d-shuffled-cnn": CNN_RUN,
    "mnist1d-shuffled-mlp": GREYDANUS_MLP,
    "mnist1d-shuffled-gru": OLD_GRU,
    "mnist1d-imbalanced-cnn": CNN_RUN,
    "digits-cnn": {"optimizer": "adam", "lr": 3e-3, "epochs": 40},
    "text-synthetic-rnn": {**SEQ_RUN, "epochs": 30},
    "adding": {"seq_len": 20, "n_train": 2000, "width": 32, **SEQ_RUN, "epochs": 60},
    "temporal-order": {"width": 32, **SEQ_RUN, "epochs": 40},
    "copy-memory": {"width": 64, **SEQ_RUN, "epochs": 40},
}


def measured(workload: str, score: float, seeds: int, note: str = "") -> GoalBasis:
    """The basis of a goal the targets script measured on the settings MEASURED_ON states for the workload."""
    return GoalBasis(score, seeds, MEASURED_ON[workload], f"{TARGETS} {workload} --seeds {seeds}", note)


NOT_MEASURED = "not measured here: the data need a download"

WORKLOADS: dict[str, WorkloadSpec] = {
    "mnist1d-cnn": WorkloadSpec("mnist1d-cnn", lambda cfg: mnist1d.load("channels"), "cnn", "test_acc", "max",
                                "mnist1d generator (offline)", description="MNIST-1D, 1-D CNN", recipe=CNN, chance=0.1,
                                goal_basis=measured("mnist1d-cnn", 0.958, 3)),
    "mnist1d-gru": WorkloadSpec("mnist1d-gru", lambda cfg: mnist1d.load("sequence"), "rnn", "test_acc", "max",
                                "mnist1d generator (offline)", cell="gru", description="MNIST-1D, GRU over 40 steps",
                                recipe=GRU, chance=0.1, goal_basis=measured("mnist1d-gru", 0.975, 2)),
    "mnist1d-lstm": WorkloadSpec("mnist1d-lstm", lambda cfg: mnist1d.load("sequence"), "rnn", "test_acc", "max",
                                 "mnist1d generator (offline)", cell="lstm", description="MNIST-1D, LSTM over 40 steps",
                                 recipe=LSTM, chance=0.1,
                                 goal_basis=measured("mnist1d-lstm", 0.935, 1,
                                                      "the one of 2 seeds that trained; "
                                                     "the other stayed at chance")),
    "mnist1d-rnn": WorkloadSpec("mnist1d-rnn", lambda cfg: mnist1d.load("sequence"), "rnn", "test_acc", "max",
                                "mnist1d generator (offline)", cell="rnn", description="MNIST-1D, tanh RNN over 40 steps",
                                recipe=TANH_RNN, chance=0.1,
                                goal_basis=measured("mnist1d-rnn", 0.421, 2, "at lr 3e-3 one of 2 seeds "
                                                    "stayed at chance")),
    "mnist1d-mlp": WorkloadSpec("mnist1d-mlp", lambda cfg: mnist1d.load("channels"), "mlp", "test_acc", "max",
                                "mnist1d generator (offline)", description="MNIST-1D, MLP (Greydanus 2020's 3x256)",
                                recipe=MLP, chance=0.1, goal_basis=measured("mnist1d-mlp", 0.689, 3)),
    "mnist1d-shuffled-cnn": WorkloadSpec("mnist1d-shuffled-cnn", lambda cfg: mnist1d.load("channels", shuffle_seq=True),
                                         "cnn", "test_acc", "max", SHUFFLED, description="MNIST-1D without locality, 1-D CNN",
                                         recipe=CNN, chance=0.1,
                                         goal_basis=measured("mnist1d-shuffled-cnn", 0.686, 2)),
    "mnist1d-shuffled-mlp": WorkloadSpec("mnist1d-shuffled-mlp", lambda cfg: mnist1d.load("channels", shuffle_seq=True),
                                         "mlp", "test_acc", "max", SHUFFLED, description="MNIST-1D without locality, MLP",
                                         recipe=MLP, chance=0.1,
                                         goal_basis=measured("mnist1d-shuffled-mlp", 0.676, 2)),
    "mnist1d-shuffled-gru": WorkloadSpec("mnist1d-shuffled-gru", lambda cfg: mnist1d.load("sequence", shuffle_seq=True),
                                         "rnn", "test_acc", "max", SHUFFLED, cell="gru",
                                         description="MNIST-1D without locality, GRU over 40 steps", recipe=GRU_BEFORE,
                                         chance=0.1, goal_basis=measured("mnist1d-shuffled-gru", 0.526, 2)),
    "mnist1d-imbalanced-cnn": WorkloadSpec("mnist1d-imbalanced-cnn", lambda cfg: one_vs_rest(mnist1d.load("channels"), 0),
                                           "cnn", "test_f1", "max", "mnist1d generator (offline)",
                                           description="MNIST-1D digit 0 vs rest (10% positives), binary; "
                                                       "predicting 'rest' always scores 90% accuracy and F1 0",
                                           recipe=CNN, chance=0.0,
                                           goal_basis=measured("mnist1d-imbalanced-cnn", 1.0, 1,
                                                               "chance: the all-'rest' predictor's F1")),
    "digits-cnn": WorkloadSpec("digits-cnn", lambda cfg: digits.load(), "cnn", "test_acc", "max",
                               "scikit-learn load_digits (bundled)", description="8x8 handwritten digits, 2-D CNN",
                               recipe=(DIGITS := Recipe({"optimizer": "adam", "lr": 3e-3},
                                                        {"quick": 10, "full": 20, "converged": 40})),
                               chance=0.1, goal_basis=measured("digits-cnn", 0.981, 2)),
    "cifar10-cnn": WorkloadSpec("cifar10-cnn", lambda cfg: cifar10.load(cfg.data_dir), "cnn", "test_acc", "max",
                                "CIFAR-10 python batches in --data-dir, torchvision download", needs_download=True,
                                description="the seed tutorial's CNN on 32x32 colour images; augment=true: crop+flip",
                                chance=0.1, goal_basis=NOT_MEASURED),
    "imdb-rnn": WorkloadSpec("imdb-rnn", lambda cfg: imdb.load(cfg.data_dir, max_len=cfg.seq_len), "rnn", "test_acc", "max",
                             "aclImdb in --data-dir, download from ai.stanford.edu", needs_download=True, cell="rnn",
                             description="IMDB sentiment, binary; the seed's tanh RNN on tokens, last seq_len kept "
                                         "(default 256)", chance=0.5, goal_basis=NOT_MEASURED),
    "text-synthetic-rnn": WorkloadSpec("text-synthetic-rnn", lambda cfg: textsynth.load(max_len=cfg.seq_len), "rnn",
                                       "test_acc", "max", GENERATED, cell="rnn",
                                       description="generated reviews with negation, binary; IMDB's text pipeline offline",
                                       recipe=(TEXT := Recipe({"optimizer": "adam", "lr": 3e-3, "batch_size": 64,
                                                               "clip_norm": 1.0}, {"quick": 5, "full": 15, "converged": 30})),
                                       chance=0.5, goal_basis=measured("text-synthetic-rnn", 0.866, 2)),
    "adding": WorkloadSpec("adding", lambda cfg: sequences.load("adding", cfg.seq_len), "rnn", "test_mse", "min",
                           GENERATED, cell="gru", description="adding problem, regression; T = seq_len (the recipe's "
                                                              "20); constant predictor MSE 1/6",
                           recipe=(ADDING := Recipe({"seq_len": 20, "n_train": 2000, **SEQUENCE},
                                                    {"quick": 10, "full": 30, "converged": 60})),
                           chance=1 / 6, goal_basis=measured("adding", 0.00025, 2,
                                                             "chance: the constant predictor")),
    "temporal-order": WorkloadSpec("temporal-order", lambda cfg: sequences.load("temporal-order", cfg.seq_len), "rnn",
                                   "test_acc", "max", GENERATED, cell="gru",
                                   description="order of two early symbols, 4 classes; T = seq_len (default 50); chance 0.25",
                                   recipe=(ORDER := Recipe(SEQUENCE, {"quick": 10, "full": 20, "converged": 40})),
                                   chance=0.25, goal_basis=measured("temporal-order", 1.0, 1, "at T=50")),
    "copy-memory": WorkloadSpec("copy-memory", lambda cfg: sequences.load("copy-memory", cfg.seq_len), "rnn", "test_loss",
                                "min", GENERATED, cell="gru",
                                description="recall 10 symbols after T blanks, classified per step; T = seq_len "
                                            "(default 20); memoryless loss 10 log(8)/(T+20)",
                                recipe=(COPY := Recipe({**SEQUENCE, "width": 64},
                                                       {"quick": 10, "full": 20, "converged": 40})),
                                chance=10 * math.log(8) / 40,
                                goal_basis=measured("copy-memory", 0.287, 1, "the task is not solved there; "
                                                    "chance: the memoryless loss at the default T=20")),
}


def recipe_config(workload: str, budget: str | None = "full", /, **changes: Any) -> TrialConfig:
    """The TrialConfig of one run of the workload's recipe at `budget` (None: the recipe's settings, epochs as
    `changes` give them), with `changes` (what an experiment varies). Where the changes pick another optimizer
    than the recipe's, that optimizer trains with its published defaults (e.g. AdamW's weight decay 1e-2) except
    where the changes set them: the recipe's hyperparameters belong to the recipe's optimizer."""
    from bench.components.optimizers import OPTIMIZERS

    recipe = get_workload(workload).recipe
    settings = {**(recipe.run(budget) if budget is not None else recipe.settings), **changes, "workload": workload}
    defaults = lookup(OPTIMIZERS, "optimizer", settings.get("optimizer", TrialConfig.optimizer)).defaults
    return TrialConfig.from_dict({**settings, **{k: v for k, v in defaults.items() if k not in changes}})


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
