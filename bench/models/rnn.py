"""Recurrent family: vanilla (tanh / ReLU / IRNN), LSTM and GRU over tokens or real-valued steps.

Fixes the seed tutorial's RNN: the classifier reads the final hidden state at each sequence's true
length (packed sequences), not every time step, and emits raw logits (no LogSoftmax before BCE).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bench.components.activations import get_activation
from bench.config import ConfigError, TrialConfig
from bench.data.base import DataBundle
from bench.models import CELLS


class RNNModel(nn.Module):
    def __init__(self, n_in: int, n_out: int, cell: str, hidden: int, layers: int, fc_width: int, activation: str,
                 vocab_size: int = 0, dropout: float = 0.0, forget_bias: float = 0.0, radius: float = 0.0,
                 per_step: bool = False):
        super().__init__()
        self.per_step = per_step  # one output per time step (copy-memory) instead of one per sequence
        if cell not in CELLS:
            raise ConfigError(f"unknown rnn_cell {cell!r}; choose one of: auto, {', '.join(CELLS)}")
        self.embed = nn.Embedding(vocab_size, n_in, padding_idx=0) if vocab_size else None
        rnn_cls, kwargs = CELLS[cell]
        self.rnn = getattr(nn, rnn_cls)(n_in, hidden, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0, **kwargs)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, fc_width),
                                  get_activation(activation).build(), nn.Linear(fc_width, n_out))
        self._init_recurrence(cell, forget_bias, radius)

    def _init_recurrence(self, cell: str, forget_bias: float, radius: float) -> None:
        h = self.rnn.hidden_size
        for name, p in self.rnn.named_parameters():
            with torch.no_grad():
                if cell == "irnn" and name.startswith("weight_hh"):
                    p.copy_(torch.eye(h))
                elif cell == "irnn" and name.startswith("weight_ih"):
                    nn.init.normal_(p, 0.0, 0.001)
                elif cell == "irnn" and name.startswith("bias"):
                    p.zero_()
                if cell == "lstm" and name.startswith("bias_ih"):
                    p[h:2 * h] = forget_bias  # gate order i, f, g, o
                elif cell == "lstm" and name.startswith("bias_hh"):
                    p[h:2 * h] = 0.0
                if radius > 0 and name.startswith("weight_hh") and cell in ("rnn", "relu_rnn"):
                    p.mul_(radius / torch.linalg.eigvals(p).abs().max())

    @classmethod
    def from_config(cls, cfg: TrialConfig, data: DataBundle, cell: str) -> RNNModel:
        from bench.models import output_size
        n_in = cfg.width if data.vocab_size else data.input_shape[-1]  # embedding dim = hidden size
        return cls(n_in, output_size(data), cfg.rnn_cell if cfg.rnn_cell != "auto" else cell, cfg.width, cfg.depth,
                   cfg.fc_width, cfg.activation, data.vocab_size, cfg.dropout, cfg.forget_bias, cfg.rnn_radius,
                   per_step=data.train.y.dim() > 1)  # per-step targets need per-step outputs

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            x = self.embed(x)
        steps = x.shape[1]
        if lengths is not None:
            x = pack_padded_sequence(x, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(x)
        if self.per_step:
            if lengths is not None:
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
            return self.head(out).transpose(1, 2)  # (N, classes, T): the layout cross_entropy takes
        h = state[0] if isinstance(state, tuple) else state
        return self.head(h[-1])
