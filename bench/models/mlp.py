"""Deep MLP for the gradient studies: depth hidden layers of equal width, optional BN and residual skips.

Residual blocks are pre-activation (He et al. 2016, "Identity mappings"): x + s * Linear(drop(act(BN(x)))); the
stream itself never passes through a non-linearity. The branch is scaled by s = 1/sqrt(depth) by default, so the
stream's variance grows by at most about (1 + 1/depth) per block and stays bounded at any depth (the down-weighted
branch that De & Smith 2020 show batch norm provides implicitly). s = 1 gives the unscaled residual net whose
forward signal grows like 1.5^depth under std sqrt(1/n): the exploding-gradient study's testbed.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from bench.components.activations import get_activation
from bench.config import TrialConfig
from bench.data.base import DataBundle


class Hidden(nn.Module):
    """Plain: Linear -> [BN] -> activation -> [dropout]. The Linear output is the probe point."""

    def __init__(self, n_in: int, n_out: int, act: nn.Module, batch_norm: bool, dropout: float):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.bn = nn.BatchNorm1d(n_out) if batch_norm else nn.Identity()
        self.act = act
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.bn(self.linear(x))))


class Residual(nn.Module):
    """Pre-activation residual block: x + scale * Linear(drop(act(BN(x)))); the Linear output is the probe point."""

    def __init__(self, width: int, act: nn.Module, batch_norm: bool, dropout: float, scale: float):
        super().__init__()
        self.bn = nn.BatchNorm1d(width) if batch_norm else nn.Identity()
        self.act = act
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(width, width)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * self.linear(self.drop(self.act(self.bn(x))))


class MLP(nn.Module):
    def __init__(self, n_in: int, n_out: int, width: int, depth: int, activation: str, batch_norm: bool = False,
                 residual: bool = False, dropout: float = 0.0, residual_scale: float = 0.0):
        super().__init__()
        act = get_activation(activation).build
        scale = residual_scale or 1 / math.sqrt(depth)
        # The first layer changes the width, so it is a plain layer even in a residual net (as a ResNet's stem).
        layers: list[nn.Module] = [Hidden(n_in, width, act(), batch_norm, dropout)]
        layers += [Residual(width, act(), batch_norm, dropout, scale) if residual else
                   Hidden(width, width, act(), batch_norm, dropout) for _ in range(depth - 1)]
        self.hidden = nn.ModuleList(layers)
        self.out = nn.Linear(width, n_out)

    @classmethod
    def from_config(cls, cfg: TrialConfig, data: DataBundle) -> MLP:
        from bench.models import output_size
        return cls(math.prod(data.input_shape), output_size(data), cfg.width, cfg.depth, cfg.activation,
                   cfg.batch_norm, cfg.residual, cfg.dropout, cfg.residual_scale)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)
