"""ACTIVATIONS registry: module factories injected into every model."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from bench.registry import lookup


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    build: Callable[[], nn.Module]
    gain: float  # nn.init.calculate_gain value, used by xavier/kaiming init
    saturating: bool  # has flat tails where the gradient vanishes
    low: float | None = None  # saturation values (sigmoid 0/1, tanh -1/1); None = unbounded side
    high: float | None = None


ACTIVATIONS: dict[str, ActivationSpec] = {
    "relu": ActivationSpec("relu", nn.ReLU, 2 ** 0.5, False, 0.0, None),
    "leaky_relu": ActivationSpec("leaky_relu", lambda: nn.LeakyReLU(0.01), (2 / (1 + 0.01 ** 2)) ** 0.5, False),
    "elu": ActivationSpec("elu", nn.ELU, 1.0, False, -1.0, None),
    "gelu": ActivationSpec("gelu", nn.GELU, 2 ** 0.5, False),
    "silu": ActivationSpec("silu", nn.SiLU, 2 ** 0.5, False),
    "tanh": ActivationSpec("tanh", nn.Tanh, 5 / 3, True, -1.0, 1.0),
    "sigmoid": ActivationSpec("sigmoid", nn.Sigmoid, 1.0, True, 0.0, 1.0),
    "softsign": ActivationSpec("softsign", nn.Softsign, 1.0, True, -1.0, 1.0),
}


def get_activation(name: str) -> ActivationSpec:
    return lookup(ACTIVATIONS, "activation", name)
