"""ACTIVATIONS registry: module factories injected into every model."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.registry import lookup

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    build: Callable[[], nn.Module]
    gain: float  # nn.init.calculate_gain value, used by xavier/kaiming init
    saturating: bool  # has flat tails where the gradient vanishes
    low: float | None = None  # saturation values (sigmoid 0/1, tanh -1/1); None = unbounded side
    high: float | None = None


def module(cls: str, *args: float) -> Callable[[], nn.Module]:
    """A factory of torch.nn.<cls>(*args) that imports torch only when called: listing the registry stays light."""
    def build() -> nn.Module:
        from torch import nn
        return getattr(nn, cls)(*args)
    return build


ACTIVATIONS: dict[str, ActivationSpec] = {
    "relu": ActivationSpec("relu", module("ReLU"), 2 ** 0.5, False, 0.0, None),
    "leaky_relu": ActivationSpec("leaky_relu", module("LeakyReLU", 0.01), (2 / (1 + 0.01 ** 2)) ** 0.5, False),
    "elu": ActivationSpec("elu", module("ELU"), 1.0, False, -1.0, None),
    "gelu": ActivationSpec("gelu", module("GELU"), 2 ** 0.5, False),
    "silu": ActivationSpec("silu", module("SiLU"), 2 ** 0.5, False),
    "tanh": ActivationSpec("tanh", module("Tanh"), 5 / 3, True, -1.0, 1.0),
    "sigmoid": ActivationSpec("sigmoid", module("Sigmoid"), 1.0, True, 0.0, 1.0),
    "softsign": ActivationSpec("softsign", module("Softsign"), 1.0, True, -1.0, 1.0),
}


def get_activation(name: str) -> ActivationSpec:
    return lookup(ACTIVATIONS, "activation", name)
