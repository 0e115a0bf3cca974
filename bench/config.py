"""TrialConfig: the one flat, frozen description of a trial, with strict parsing from dicts."""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, fields
from typing import Any


class ConfigError(ValueError):
    """A user-facing configuration problem; the CLI prints it as one line."""


def doc(default: Any, text: str) -> Any:
    """A config field with its one-line explanation (field metadata "doc", shown by `bench list config`)."""
    return dataclasses.field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class TrialConfig:
    # what is trained
    workload: str = doc("mnist1d-cnn", "the task: data, model family, loss and target metric (bench list workloads)")
    seq_len: int = doc(0, "sequence length T of the sequence tasks (tokens kept for text); 0 = the workload's default")
    n_train: int = doc(0, "cap on training samples (overfitting studies); 0 = all")
    data_dir: str = doc("data", "folder holding (or receiving) downloaded datasets: CIFAR-10, IMDB")
    # model
    width: int = doc(32, "CNN base channels / RNN hidden size / MLP width")
    depth: int = doc(2, "CNN conv blocks / RNN layers / MLP hidden layers")
    fc_width: int = doc(128, "hidden units of the classifier head")
    activation: str = doc("relu", "hidden activation (bench list activations)")
    init: str = doc("default", "weight initialisation (bench list inits); default = PyTorch's own")
    batch_norm: bool = doc(False, "batch normalization after each hidden layer")
    residual: bool = doc(False, "residual (skip) connections around hidden blocks")
    residual_scale: float = doc(0.0, "MLP residual branch multiplier; 0 = 1/sqrt(depth) (1 = unscaled, explodes)")
    dropout: float = doc(0.0, "dropout probability on hidden activations, in [0, 1)")
    rnn_cell: str = doc("auto", "recurrent cell: rnn, relu_rnn, irnn, lstm, gru; auto = the workload's cell")
    forget_bias: float = doc(0.0, "LSTM forget-gate bias at init (Jozefowicz et al. 2015 use 1)")
    rnn_radius: float = doc(0.0, "rescale recurrent weights to this spectral radius at init; 0 = leave them")
    # optimisation
    optimizer: str = doc("adam", "optimizer (bench list optimizers)")
    lr: float = doc(1e-3, "learning rate (the peak LR under a schedule); > 0")
    momentum: float = doc(0.9, "momentum of SGD with momentum / Nesterov, in [0, 1)")
    beta1: float = doc(0.9, "Adam/AdamW decay of the gradient average, in [0, 1)")
    beta2: float = doc(0.999, "Adam/AdamW decay of the squared-gradient average, in [0, 1)")
    eps: float = doc(1e-8, "Adam/AdamW/RMSprop/Adagrad denominator term; > 0")
    alpha: float = doc(0.99, "RMSprop's squared-gradient decay (torch's default; Tieleman & Hinton 2012 use 0.9)")
    weight_decay: float = doc(0.0, "weight decay strength; 0 = off")
    wd_mode: str = doc("coupled", "coupled (L2 in the gradient) or decoupled (Loshchilov & Hutter) weight decay")
    decay_bias_norm: bool = doc(False, "weight decay on biases and norm parameters too (off: only on weight matrices)")
    schedule: str = doc("constant", "learning-rate schedule (bench list schedules)")
    warmup_frac: float = doc(0.05, "share of training spent warming the LR up (warmup schedules, one-cycle)")
    warmup_steps: int = doc(0, "warm-up length in optimizer steps, whatever the training's length (replaces "
                               "warmup_frac); 0 = use warmup_frac")
    lr_gamma: float = doc(0.1, "LR decay factor: per step (step), at the end (exponential), per plateau")
    step_frac: float = doc(0.33, "step schedule: share of training between two LR drops")
    loss: str = doc("auto", "loss function (bench list losses); auto = the workload's own")
    label_smoothing: float = doc(0.0, "label smoothing of classification targets; 0 = off")
    clip_norm: float = doc(0.0, "clip the gradient's total norm to this value; 0 = off")
    clip_value: float = doc(0.0, "clip every gradient element to [-c, c]; 0 = off")
    weight_clip: float = doc(0.0, "clamp every weight to [-c, c] after each step; 0 = off")
    early_stop: int = doc(0, "stop after this many epochs without a better validation score (early_stop_on); 0 = off")
    early_stop_on: str = doc("target", "what early stopping watches on the validation set: target = the workload's "
                             "target metric (what its claims are scored on), loss = the validation loss")
    augment: bool = doc(False, "data augmentation (CIFAR-10: random crop and flip)")
    epochs: int = doc(10, "passes over the training data; >= 1")
    batch_size: int = doc(128, "samples per mini-batch; >= 1")
    max_steps: int = doc(0, "stop after this many optimiser steps; 0 = no cap")
    seed: int = doc(0, "seed of torch, numpy and random: model init, data order, dropout")
    # measurement and execution
    probe_every: int = doc(50, "optimiser steps between per-layer gradient probes; 0 = off")
    device: str = doc("auto", "cpu, cuda, cuda:N; auto = a GPU when there is one")
    threads: int = doc(0, "torch intra-op threads; 0 = leave as set by the environment")
    amp: bool = doc(True, "bf16 autocast on CUDA; ignored on CPU")
    compile: bool = doc(False, "torch.compile the model (pays off on a GPU for long runs)")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r}; valid keys: {', '.join(known)}")
        return cls(**{k: _coerce(k, known[k].type, v) for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrialConfig:
        return TrialConfig.from_dict({**self.to_dict(), **changes})

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.type == "float" and not math.isfinite(getattr(self, f.name)):
                raise ConfigError(f"{f.name} must be a finite number, got {getattr(self, f.name)}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            raise ConfigError(f"device {self.device!r} is not one of auto, cpu, cuda, cuda:N, mps")
        if self.early_stop_on not in ("target", "loss"):
            raise ConfigError(f"early_stop_on must be 'target' or 'loss', got {self.early_stop_on!r}")
        if self.wd_mode not in ("coupled", "decoupled"):
            raise ConfigError(f"wd_mode must be 'coupled' or 'decoupled', got {self.wd_mode!r}")
        for name, bounds in RANGES.items():
            bounds.check(name, getattr(self, name))


@dataclass(frozen=True)
class Range:
    """The values a numeric field may take: [low, high], either end open, with what the bounds mean."""
    low: float
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False
    note: str = ""

    def check(self, name: str, value: float) -> None:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        if above and below:
            return
        if self.high <= 1:  # a fraction: both ends say what it is
            want = f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"
        elif not above:
            want = f"{'>' if self.open_low else '>='} {_number(self.low)}"
        else:
            want = f"{'<' if self.open_high else '<='} {_number(self.high)}"
        raise ConfigError(f"{name} must be {want}{f' ({self.note})' if self.note else ''}, got {value}")


def _number(x: float) -> str:
    """A bound as people read it: 4,294,967,295 rather than 4.29497e+09."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


UNIT = Range(0, 1, open_high=True)
# Real-valued settings reach float32 tensors (an LR of 3e37 overflows torch's conversion); 1e9 is beyond any use.
SCALE = Range(0, 1e9)
# Upper bounds on counts stop values that would overflow torch's int64 step counters or spin for ever before a
# size check could run; they lie far above anything that trains (the studies use epochs=100,000 with max_steps).
RANGES: dict[str, Range] = {
    "seq_len": Range(0, 10**7, note="0 = the workload's default"),
    "n_train": Range(0, 10**9, note="0 = all training samples"),
    "width": Range(1, 2**24), "depth": Range(1, 1000), "fc_width": Range(1, 2**24),
    "residual_scale": SCALE, "forget_bias": Range(-1e9, 1e9), "dropout": UNIT,
    "rnn_radius": Range(0, 100, note="0 = leave the weights"),
    "lr": Range(0, 1e9, open_low=True), "momentum": UNIT, "beta1": UNIT, "beta2": UNIT, "alpha": UNIT,
    "eps": Range(0, 1e9, open_low=True), "weight_decay": SCALE,
    "warmup_frac": UNIT, "warmup_steps": Range(0, 10**12, note="0 = use warmup_frac"),
    "lr_gamma": Range(0, 1, open_low=True), "step_frac": Range(0, 1, open_low=True),
    "label_smoothing": UNIT, "clip_norm": SCALE, "clip_value": SCALE, "weight_clip": SCALE,
    "early_stop": Range(0, 10**9, note="0 = off"), "epochs": Range(1, 10**9), "batch_size": Range(1, 2**31),
    "max_steps": Range(0, 10**12, note="0 = no cap"), "seed": Range(0, 2**32 - 1, note="numpy's seed range"),
    "probe_every": Range(0, 10**12, note="0 = off"), "threads": Range(0, 1024, note="0 = as the environment sets"),
}


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _coerce(key: str, type_name: str, value: Any) -> Any:
    """Accept exact types, ints for floats, and numpy scalars (as Optuna/Ray hand back); reject the rest."""
    want = _TYPES[type_name]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, want) and not (want is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"config key {key!r} must be {type_name}, got {type(value).__name__} {value!r}")


_BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def parse_text(key: str, raw: str) -> Any:
    """A value typed on the command line (`--set KEY=VALUE`) as the type of the field it sets."""
    types = {f.name: f.type for f in fields(TrialConfig)}
    if key not in types:
        raise ConfigError(f"unknown config key {key!r} in --set; see `bench list config`")
    try:
        return _BOOLS[raw.lower()] if types[key] == "bool" else _TYPES[types[key]](raw)
    except (KeyError, ValueError):
        raise ConfigError(f"--set {key}: {raw!r} is not a valid {types[key]}") from None


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Mini-batches per epoch: the last, partial batch counts when it holds at least 2 samples (BN needs 2)."""
    return max(1, n // batch_size + (1 if n % batch_size >= 2 else 0))
