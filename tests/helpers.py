"""Small builders shared by the core tests: a tiny in-memory DataBundle and a fast TrialConfig."""
from __future__ import annotations

import torch

from bench.config import TrialConfig
from bench.data.base import DataBundle, Split


def tiny_bundle(n: int = 256, task: str = "classification", shape: tuple[int, ...] = (1, 16), seed: int = 0) -> DataBundle:
    """A learnable problem: the class is the sign pattern of two input coordinates."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g)
    flat = x.flatten(1)
    if task == "classification":
        y = (flat[:, 0] > 0).long() * 2 + (flat[:, 1] > 0).long()
        num_classes = 4
    elif task == "binary":
        y, num_classes = (flat[:, 0] > 0).float(), 1
    else:
        y, num_classes = flat[:, 0] * 2 + flat[:, 1], 1
    split = lambda a, b: Split(x[a:b], y[a:b])
    return DataBundle(split(0, n * 3 // 5), split(n * 3 // 5, n * 4 // 5), split(n * 4 // 5, n), task, num_classes)


def fast_cfg(**kw) -> TrialConfig:
    base = dict(width=8, depth=1, fc_width=16, epochs=2, batch_size=32, threads=1, probe_every=5)
    return TrialConfig.from_dict({**base, **kw})
