"""A CIFAR-shaped dataset written in CIFAR-10's python-pickle format, and the loaders the benchmarks compare.

`write_cifar10` produces cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta} as the official
archive lays them out (pickled dicts with keys data, labels, batch_label, filenames; uint8 rows of 3072 =
3x32x32 channel-major pixels), so torchvision's reader parses them unchanged; only the MD5 checks of the real
files are switched off. The official files are Python 2 pickles whose str keys load as str with
encoding="latin1"; ours are written with str keys, which load the same way.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import CIFAR10

FOLDER = "cifar-10-batches-py"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN, STD = 0.5, 0.5  # the seed tutorial's transforms.Normalize((0.5,)*3, (0.5,)*3)


def _batch(rng: np.random.Generator, n: int, label: str) -> dict:
    labels = rng.integers(0, len(CLASSES), n)
    # Class-dependent brightness so that the data are learnable, not pure noise.
    pixels = rng.integers(0, 160, (n, 3072)) + (labels[:, None] * 9)
    return {"batch_label": label, "labels": labels.tolist(), "data": pixels.astype(np.uint8),
            "filenames": [f"img_{label}_{i}.png" for i in range(n)]}


def write_cifar10(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Write n_train samples over five training batches and n_test in test_batch under root; return root."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [n_train // 5 + (1 if i < n_train % 5 else 0) for i in range(5)]
    for i, size in enumerate(sizes, 1):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(_batch(rng, size, f"training batch {i} of 5"), protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(_batch(rng, n_test, "testing batch 1 of 1"), protocol=2))
    meta = {"label_names": list(CLASSES), "num_cases_per_batch": sizes[0], "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return Path(root)


class LocalCIFAR10(CIFAR10):
    """torchvision's CIFAR10 reader with the checksums of the official files removed (ours are generated)."""
    train_list = [[f"data_batch_{i}", None] for i in range(1, 6)]
    test_list = [["test_batch", None]]
    meta = {**CIFAR10.meta, "md5": None}


def read_tensors(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The split as normalised float tensors (N, 3, 32, 32), identical to ToTensor + Normalize per image."""
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    entries = [pickle.loads((Path(root) / FOLDER / name).read_bytes(), encoding="latin1") for name in names]
    pixels = np.concatenate([e["data"] for e in entries]).reshape(-1, 3, 32, 32)
    x = (torch.from_numpy(pixels).float() / 255 - MEAN) / STD
    return x, torch.tensor([label for e in entries for label in e["labels"]])
