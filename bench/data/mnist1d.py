"""MNIST-1D (Greydanus 2020): generated offline by the `mnist1d` package, cached as .npz.

4,000 training and 1,000 test sequences of length 40, 10 classes. Published test accuracies:
logistic 32%, MLP 68%, CNN 94%, GRU 91%.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.data.base import DataBundle, Split, cache_dir, split_off_validation


def _arrays(shuffle_seq: bool) -> dict[str, np.ndarray]:
    path = cache_dir() / f"mnist1d{'-shuffled' if shuffle_seq else ''}.npz"
    if path.exists():
        with np.load(path) as f:
            return dict(f)
    from mnist1d.data import get_dataset_args, make_dataset  # generation is slow (per-sample numpy): cache it

    args = get_dataset_args()
    args.shuffle_seq = shuffle_seq
    raw = make_dataset(args)
    arrays = {k: np.asarray(raw[k]) for k in ("x", "y", "x_test", "y_test")}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return arrays


def load(layout: str = "channels", shuffle_seq: bool = False) -> DataBundle:
    """layout: "channels" gives (N, 1, 40) for CNNs and MLPs; "sequence" gives (N, 40, 1) for RNNs."""
    a = _arrays(shuffle_seq)
    x, xt = torch.tensor(a["x"], dtype=torch.float32), torch.tensor(a["x_test"], dtype=torch.float32)
    shape = (lambda t: t.unsqueeze(1)) if layout == "channels" else (lambda t: t.unsqueeze(-1))
    train, val = split_off_validation(Split(shape(x), torch.tensor(a["y"], dtype=torch.long)))
    test = Split(shape(xt), torch.tensor(a["y_test"], dtype=torch.long))
    return DataBundle(train, val, test, task="classification", num_classes=10,
                      class_names=tuple(str(i) for i in range(10)))
