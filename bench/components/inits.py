"""INITS registry: weight initialisations applied to every Linear/Conv layer after the model is built."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.registry import lookup

if TYPE_CHECKING:  # torch is imported where an init runs, so that `bench list inits` does not load it
    import torch
    from torch import nn

InitFn = Callable[["torch.Tensor", float], None]  # (weight, activation gain)


@dataclass(frozen=True)
class InitSpec:
    name: str
    fn: InitFn | None  # None = keep PyTorch's default
    description: str


def _fan_in(w: torch.Tensor) -> int:
    return w.shape[1] * (w[0, 0].numel() if w.dim() > 2 else 1)


def standard(w: torch.Tensor, gain: float) -> None:
    from torch import nn

    bound = 1 / math.sqrt(_fan_in(w))  # Glorot & Bengio's "standard" heuristic U[-1/sqrt(n), 1/sqrt(n)]
    nn.init.uniform_(w, -bound, bound)


def lecun(w: torch.Tensor, gain: float) -> None:
    from torch import nn

    nn.init.normal_(w, 0.0, 1 / math.sqrt(_fan_in(w)))  # std sqrt(1/n): He et al.'s failing "Xavier-style" case


def xavier(w: torch.Tensor, gain: float) -> None:
    from torch import nn

    nn.init.xavier_uniform_(w, gain=gain)


def kaiming(w: torch.Tensor, gain: float) -> None:
    from torch import nn

    nn.init.normal_(w, 0.0, gain / math.sqrt(_fan_in(w)))


def orthogonal(w: torch.Tensor, gain: float) -> None:
    from torch import nn

    nn.init.orthogonal_(w, gain=gain)


INITS: dict[str, InitSpec] = {
    "default": InitSpec("default", None, "PyTorch's default (kaiming-uniform with a=sqrt(5))"),
    "standard": InitSpec("standard", standard, "U[-1/sqrt(fan_in), 1/sqrt(fan_in)] (Glorot & Bengio 2010, eq. 1)"),
    "xavier": InitSpec("xavier", xavier,
                       "normalized init U[+-gain*sqrt(6/(fan_in+fan_out))] (Glorot & Bengio 2010)"),
    "lecun": InitSpec("lecun", lecun, "N(0, 1/fan_in)"),
    "kaiming": InitSpec("kaiming", kaiming,
                        "N(0, gain^2/fan_in), gain of the activation (He et al. 2015 for ReLU)"),
    "orthogonal": InitSpec("orthogonal", orthogonal, "orthogonal (Saxe et al. 2014)"),
}


def apply_init(model: nn.Module, name: str, gain: float) -> None:
    from torch import nn

    spec = lookup(INITS, "init", name)
    if spec.fn is None:
        return
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            spec.fn(module.weight.data, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
