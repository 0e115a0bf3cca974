"""WORKLOADS registry: name -> data loader, model family, default RNN cell, target metric."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from bench.config import ConfigError, TrialConfig
from bench.data import mnist1d
from bench.data.base import DataBundle
from bench.registry import lookup

Loader = Callable[[TrialConfig], DataBundle]


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    load: Loader
    model: str  # key of bench.models.MODELS
    target: str  # metric the sweep optimises and the report ranks by
    mode: str  # "max" or "min"
    source: str
    needs_download: bool = False
    cell: str = "gru"  # default recurrent cell for rnn workloads
    description: str = ""


WORKLOADS: dict[str, WorkloadSpec] = {
    "mnist1d-cnn": WorkloadSpec("mnist1d-cnn", lambda cfg: mnist1d.load("channels"), "cnn", "test_acc", "max",
                                "mnist1d generator (offline)", description="MNIST-1D, 1-D CNN"),
    "mnist1d-gru": WorkloadSpec("mnist1d-gru", lambda cfg: mnist1d.load("sequence"), "rnn", "test_acc", "max",
                                "mnist1d generator (offline)", cell="gru", description="MNIST-1D, GRU over 40 steps"),
    "mnist1d-lstm": WorkloadSpec("mnist1d-lstm", lambda cfg: mnist1d.load("sequence"), "rnn", "test_acc", "max",
                                 "mnist1d generator (offline)", cell="lstm", description="MNIST-1D, LSTM over 40 steps"),
    "mnist1d-rnn": WorkloadSpec("mnist1d-rnn", lambda cfg: mnist1d.load("sequence"), "rnn", "test_acc", "max",
                                "mnist1d generator (offline)", cell="rnn", description="MNIST-1D, tanh RNN over 40 steps"),
    "mnist1d-mlp": WorkloadSpec("mnist1d-mlp", lambda cfg: mnist1d.load("channels"), "mlp", "test_acc", "max",
                                "mnist1d generator (offline)", description="MNIST-1D, MLP"),
}


def get_workload(name: str) -> WorkloadSpec:
    return lookup(WORKLOADS, "workload", name)


@lru_cache(maxsize=8)
def _cached(name: str, seq_len: int, data_dir: str) -> DataBundle:
    # Keyed on the fields loaders read, so reused Ray actors and studies load each dataset once.
    cfg = TrialConfig(workload=name, seq_len=seq_len, data_dir=data_dir)
    return get_workload(name).load(cfg)


def load_data(cfg: TrialConfig) -> DataBundle:
    data = _cached(cfg.workload, cfg.seq_len, cfg.data_dir)
    if cfg.n_train:
        if cfg.n_train > len(data.train):
            raise ConfigError(f"n_train={cfg.n_train} exceeds the {len(data.train)} training samples of {cfg.workload}")
        from dataclasses import replace
        data = replace(data, train=data.train.subset(slice(0, cfg.n_train)))
    return data
