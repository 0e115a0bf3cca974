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


def footprint(family: str, cfg: TrialConfig, data: DataBundle, cell: str = "gru") -> tuple[int, int]:
    """(parameters, activation values of one mini-batch) of the model a config builds, measured on PyTorch's meta
    device: shapes without storage, so a model too large to allocate is sized in milliseconds. A recurrent net's
    activations are counted from its shape (each of T steps keeps a few hidden-sized gate values per layer);
    the others' by a forward pass of one meta batch. A size that overflows even a meta tensor returns -1, -1."""
    import torch

    batch = min(cfg.batch_size, len(data.train))
    try:
        with torch.device("meta"):
            model = lookup(MODELS, "model", family).build(cfg, data, cell)
            params = sum(p.numel() for p in model.parameters())
            if family == "rnn":
                steps = data.train.x.shape[1] if data.train.x.dim() > 1 else 1
                return params, batch * steps * cfg.width * cfg.depth * 8
            sizes: list[int] = []
            leaves = [m for m in model.modules() if not any(m.children())]
            hooks = [m.register_forward_hook(lambda m, i, out: sizes.append(out.numel())) for m in leaves]
            model(torch.empty(batch, *data.input_shape, device="meta"))
            for hook in hooks:
                hook.remove()
            return params, sum(sizes)
    except RuntimeError as e:  # "Storage size calculation overflowed": beyond any machine
        if "overflow" not in str(e):
            raise
        return -1, -1


def check_model_fits(family: str, cfg: TrialConfig, data: DataBundle, cell: str, device: object) -> None:
    """Refuse a model whose parameters, gradients, optimiser state and one batch's activations exceed the memory
    of the device it would train on, naming the sizes to shrink."""
    from bench.memory import PER_ACTIVATION, PER_PARAM, check_fits

    params, acts = footprint(family, cfg, data, cell)
    need = float("inf") if params < 0 else params * PER_PARAM + acts * PER_ACTIVATION
    sizes = f"width={cfg.width}, depth={cfg.depth}, fc_width={cfg.fc_width}, batch_size={cfg.batch_size}"
    what = f"{cfg.workload} at {sizes}" + (f" ({params:,} parameters)" if params >= 0 else "")
    check_fits(what, need, device, "choose a smaller width, depth, fc_width, seq_len or batch_size")
