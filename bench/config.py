"""TrialConfig: the one flat, frozen description of a trial, with strict parsing from dicts."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any


class ConfigError(ValueError):
    """A user-facing configuration problem; the CLI prints it as one line."""


@dataclass(frozen=True)
class TrialConfig:
    # what is trained
    workload: str = "mnist1d-cnn"
    seq_len: int = 0  # synthetic sequence tasks: T; 0 = the workload's default
    n_train: int = 0  # cap on training samples (overfitting studies); 0 = all
    data_dir: str = "data"
    # model
    width: int = 32  # CNN base channels / RNN hidden size / MLP width
    depth: int = 2  # CNN conv blocks / RNN layers / MLP hidden layers
    fc_width: int = 128  # hidden units of the classifier head
    activation: str = "relu"
    init: str = "default"
    batch_norm: bool = False
    residual: bool = False
    residual_scale: float = 0.0  # MLP residual branch multiplier; 0 = 1/sqrt(depth) (1 = unscaled, explodes)
    dropout: float = 0.0
    rnn_cell: str = "auto"  # auto = the workload's cell; rnn, irnn, lstm, gru
    forget_bias: float = 0.0  # LSTM forget-gate bias at init (Jozefowicz et al. 2015 use 1)
    rnn_radius: float = 0.0  # rescale recurrent weights to this spectral radius; 0 = leave
    # optimisation
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    alpha: float = 0.99  # RMSprop's squared-gradient decay (torch's default; Tieleman & Hinton 2012 use 0.9)
    weight_decay: float = 0.0
    wd_mode: str = "coupled"  # coupled (L2 in the gradient) or decoupled (Loshchilov & Hutter)
    decay_bias_norm: bool = False  # weight decay on biases and norm parameters too (off: only on weight matrices)
    schedule: str = "constant"
    warmup_frac: float = 0.05
    lr_gamma: float = 0.1
    step_frac: float = 0.33
    loss: str = "auto"  # auto = the workload's loss
    label_smoothing: float = 0.0
    clip_norm: float = 0.0  # 0 = off
    clip_value: float = 0.0  # 0 = off
    weight_clip: float = 0.0  # clamp every weight to [-c, c] after each step; 0 = off
    early_stop: int = 0  # patience in epochs on validation loss; 0 = off
    augment: bool = False
    epochs: int = 10
    batch_size: int = 128
    max_steps: int = 0  # stop after this many optimiser steps; 0 = no cap
    seed: int = 0
    # measurement and execution
    probe_every: int = 50  # optimiser steps between gradient probes; 0 = off
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0 = leave as set by the environment
    amp: bool = True  # bf16 autocast when on CUDA; ignored on CPU
    compile: bool = False

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
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("momentum", "beta1", "beta2", "alpha"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not self.eps > 0:
            raise ConfigError(f"eps must be > 0, got {self.eps}")
        if self.wd_mode not in ("coupled", "decoupled"):
            raise ConfigError(f"wd_mode must be 'coupled' or 'decoupled', got {self.wd_mode!r}")
        for name in ("width", "depth", "fc_width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("residual_scale", "weight_decay", "clip_norm", "clip_value", "weight_clip", "label_smoothing"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")


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


def config_fields() -> list[str]:
    return [f.name for f in fields(TrialConfig)]
