"""MODELS registry: model families built from a TrialConfig and the data's shape, activation injected."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.components.activations import get_activation
from bench.components.inits import apply_init
from bench.config import TrialConfig
from bench.registry import lookup

if TYPE_CHECKING:  # each family's module (and torch) is imported when a model is built, not when MODELS is listed
    from torch import nn

    from bench.data.base import DataBundle


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[TrialConfig, DataBundle, str], nn.Module]  # (cfg, data, cell) -> model
    description: str


def _cnn(cfg: TrialConfig, data: DataBundle, cell: str) -> nn.Module:
    from bench.models.cnn import CNN

    return CNN.from_config(cfg, data)


def _rnn(cfg: TrialConfig, data: DataBundle, cell: str) -> nn.Module:
    from bench.models.rnn import RNNModel

    return RNNModel.from_config(cfg, data, cell)


def _mlp(cfg: TrialConfig, data: DataBundle, cell: str) -> nn.Module:
    from bench.models.mlp import MLP

    return MLP.from_config(cfg, data)


MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec("cnn", _cnn, "conv+pool blocks then two linear layers (1-D or 2-D from the input shape)"),
    "rnn": ModelSpec("rnn", _rnn, "recurrent net (rnn, relu_rnn, irnn, lstm, gru) on tokens or real-valued steps"),
    "mlp": ModelSpec("mlp", _mlp, "deep fully-connected net on flattened inputs"),
}


# Recurrent cells: rnn_cell name -> (torch.nn class name, its options). Names, not classes, so that the registry
# table can check a config's rnn_cell without importing torch.
CELLS: dict[str, tuple[str, dict]] = {
    "rnn": ("RNN", {"nonlinearity": "tanh"}),
    "relu_rnn": ("RNN", {"nonlinearity": "relu"}),
    "irnn": ("RNN", {"nonlinearity": "relu"}),  # Le et al. 2015: ReLU + identity recurrence
    "lstm": ("LSTM", {}),
    "gru": ("GRU", {}),
}


def output_size(data: DataBundle) -> int:
    return data.num_classes if data.task == "classification" else 1


def build_model(family: str, cfg: TrialConfig, data: DataBundle, cell: str = "gru") -> nn.Module:
    model = lookup(MODELS, "model", family).build(cfg, data, cell)
    if family != "rnn":  # recurrent inits are the cell's own (identity, forget bias, radius)
        apply_init(model, cfg.init, get_activation(cfg.activation).gain)
    return model
