"""scikit-learn's bundled 8x8 handwritten digits (UCI optdigits test set, 1,797 images): a real image set offline."""
from __future__ import annotations

import torch

from bench.data.base import DataBundle, Split, split_off_validation

TEST_FRAC = 0.2


def load() -> DataBundle:
    """(N, 1, 8, 8) float32 in [0, 1]; a fixed stratified 20% test split, then 10% of the rest for validation."""
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import and only this workload needs it
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16  # pixel counts are 0..16
    y = torch.tensor(digits.target, dtype=torch.long)
    train_idx, test_idx = train_test_split(torch.arange(len(y)).numpy(), test_size=TEST_FRAC, stratify=y.numpy(),
                                           random_state=0)
    train, val = split_off_validation(Split(x[train_idx], y[train_idx]))
    return DataBundle(train, val, Split(x[test_idx], y[test_idx]), task="classification", num_classes=10,
                      class_names=tuple(str(i) for i in range(10)))
