"""MODELS registry: model families built from a TrialConfig and the data's shape, activation injected."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from bench.components.activations import get_activation
from bench.components.inits import apply_init
from bench.config import TrialConfig
from bench.data.base import DataBundle
from bench.models.cnn import CNN
from bench.models.mlp import MLP
from bench.models.rnn import RNNModel
from bench.registry import lookup


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[TrialConfig, DataBundle, str], nn.Module]  # (cfg, data, cell) -> model
    description: str


MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec("cnn", lambda cfg, data, cell: CNN.from_config(cfg, data),
                     "conv+pool blocks then two linear layers (1-D or 2-D from the input shape)"),
    "rnn": ModelSpec("rnn", lambda cfg, data, cell: RNNModel.from_config(cfg, data, cell),
                     "recurrent net (rnn, relu_rnn, irnn, lstm, gru) on tokens or real-valued steps"),
    "mlp": ModelSpec("mlp", lambda cfg, data, cell: MLP.from_config(cfg, data),
                     "deep fully-connected net on flattened inputs"),
}


def output_size(data: DataBundle) -> int:
    return data.num_classes if data.task == "classification" else 1


def build_model(family: str, cfg: TrialConfig, data: DataBundle, cell: str = "gru") -> nn.Module:
    model = lookup(MODELS, "model", family).build(cfg, data, cell)
    if family != "rnn":  # recurrent inits are the cell's own (identity, forget bias, radius)
        apply_init(model, cfg.init, get_activation(cfg.activation).gain)
    return model
