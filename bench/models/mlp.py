"""Deep MLP for the gradient studies: depth hidden layers of equal width, optional BN and residual skips."""
from __future__ import annotations

import math

import torch
from torch import nn

from bench.components.activations import get_activation
from bench.config import TrialConfig
from bench.data.base import DataBundle


class Hidden(nn.Module):
    """Linear -> [BN] -> activation -> [dropout]; with residual, x + that (Linear output is the probe point)."""

    def __init__(self, n_in: int, n_out: int, act: nn.Module, batch_norm: bool, residual: bool, dropout: float):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.bn = nn.BatchNorm1d(n_out) if batch_norm else nn.Identity()
        self.act = act
        self.drop = nn.Dropout(dropout)
        self.residual = residual and n_in == n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(self.act(self.bn(self.linear(x))))
        return x + y if self.residual else y


class MLP(nn.Module):
    def __init__(self, n_in: int, n_out: int, width: int, depth: int, activation: str, batch_norm: bool = False,
                 residual: bool = False, dropout: float = 0.0):
        super().__init__()
        act = get_activation(activation).build
        sizes = [n_in] + [width] * depth
        self.hidden = nn.ModuleList(Hidden(a, b, act(), batch_norm, residual, dropout)
                                    for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.out = nn.Linear(width, n_out)

    @classmethod
    def from_config(cls, cfg: TrialConfig, data: DataBundle) -> MLP:
        from bench.models import output_size
        return cls(math.prod(data.input_shape), output_size(data), cfg.width, cfg.depth, cfg.activation,
                   cfg.batch_norm, cfg.residual, cfg.dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)
