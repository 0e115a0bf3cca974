"""Per-layer gradient statistics collected during training at a fixed step interval.

The probe reads `.grad` after backward (no hooks on the hot path), so its cost is one norm per
parameter every `every` steps.
"""
from __future__ import annotations

import torch
from torch import nn


def probed_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters directly (Linear, Conv, RNN, Embedding, BatchNorm), in forward order."""
    return [(name, m) for name, m in model.named_modules()
            if name and any(True for _ in m.parameters(recurse=False))]


class GradientProbe:
    def __init__(self, model: nn.Module, every: int):
        self.every = every
        self.layers = probed_layers(model)
        self.rows: list[dict] = []

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def record(self, step: int, epoch: int) -> None:
        """Call after backward, before the optimizer step."""
        for name, module in self.layers:
            grads = [p.grad for p in module.parameters(recurse=False) if p.grad is not None]
            weights = [p for p in module.parameters(recurse=False)]
            if not grads:
                continue
            self.rows.append({
                "step": step, "epoch": epoch, "layer": name,
                "grad_norm": float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))),
                "weight_norm": float(torch.linalg.vector_norm(torch.stack([w.detach().norm() for w in weights]))),
            })
