"""The seed tutorial's CNN, fixed and generalised: conv+pool blocks, then two linear layers.

The flatten size is measured with a dry forward pass (the seed hard-coded 64*6*6 for a 32x32 input,
which is 64*8*8 after two 2x2 pools). 1-D or 2-D convolutions follow the input's rank.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.components.activations import get_activation
from bench.config import TrialConfig
from bench.data.base import DataBundle


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dims: int, act: type[nn.Module] | callable, batch_norm: bool,
                 residual: bool, pool: bool):
        super().__init__()
        conv, bn, mp = (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d) if dims == 1 else (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
        self.conv = conv(c_in, c_out, 3, padding=1, bias=not batch_norm)
        self.bn = bn(c_out) if batch_norm else nn.Identity()
        self.act = act()
        self.res = None
        if residual:  # an extra conv whose output is added back: y + f(y)
            self.res = nn.Sequential(conv(c_out, c_out, 3, padding=1, bias=not batch_norm),
                                     bn(c_out) if batch_norm else nn.Identity(), act())
        self.pool = mp(2) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn(self.conv(x)))
        if self.res is not None:
            y = y + self.res(y)
        return self.pool(y)


class CNN(nn.Module):
    def __init__(self, in_shape: tuple[int, ...], n_out: int, width: int, depth: int, fc_width: int,
                 activation: str, batch_norm: bool = False, residual: bool = False, dropout: float = 0.0):
        super().__init__()
        dims = len(in_shape) - 1
        if dims not in (1, 2):
            raise ValueError(f"CNN needs (C, L) or (C, H, W) inputs, got per-sample shape {in_shape}")
        act = get_activation(activation).build
        blocks, c, size = [], in_shape[0], min(in_shape[1:])
        for i in range(depth):
            pool = size >= 4  # stop pooling before the feature map vanishes
            blocks.append(ConvBlock(c, width * 2 ** i, dims, act, batch_norm, residual, pool))
            c, size = width * 2 ** i, size // 2 if pool else size
        self.features = nn.Sequential(*blocks)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *in_shape)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, fc_width), act(),
                                  nn.Dropout(dropout), nn.Linear(fc_width, n_out))

    @classmethod
    def from_config(cls, cfg: TrialConfig, data: DataBundle) -> CNN:
        from bench.models import output_size
        return cls(data.input_shape, output_size(data), cfg.width, cfg.depth, cfg.fc_width, cfg.activation,
                   cfg.batch_norm, cfg.residual, cfg.dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x))
