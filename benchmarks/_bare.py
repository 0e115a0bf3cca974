"""The hand-written training loop the benchmarks compare bench against."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def bare_train(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, epochs: int,
               batch_size: int) -> bool:
    """The loop anyone would write over in-memory tensors: shuffle indices, slice, step. Returns False when the
    loss stopped being finite (checked once per epoch: a per-step check would sync and slow it)."""
    n = len(x)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if not torch.isfinite(loss):
            return False
    return True
