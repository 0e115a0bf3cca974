"""CIFAR-10 (Krizhevsky 2009) from its python pickle batches, held as one normalized float tensor per split.

Looks in --data-dir for `cifar-10-batches-py/` (or the folder itself), then for `cifar-10-python.tar.gz`,
and downloads through torchvision when neither is there. Every batch is checked for its shape, label
count and label range (the test fixtures are tiny, so an md5 check alone would prove nothing). Random
crop (padding 4) and horizontal flip run batch-wise on tensors, on the device the batch lives on.
"""
from __future__ import annotations

import io
import pickle
import tarfile
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.data.base import DataBundle, DatasetMissing, Split, split_off_validation

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)  # per-channel statistics of the training set
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
_FIX = "pass --data-dir DIR with cifar-10-batches-py/ or cifar-10-python.tar.gz in it, or use the offline workload digits-cnn"


def load(data_dir: str | Path = "data", download: bool = True) -> DataBundle:
    """45,000 train / 5,000 validation / 10,000 test images as (N, 3, 32, 32) float32, normalized per channel."""
    folder = locate(Path(data_dir), download)
    train, val = split_off_validation(Split(*_read_batches(folder, TRAIN_BATCHES)))  # split as uint8: less memory
    test = Split(*_read_batches(folder, (TEST_BATCH,)))
    train, val, test = (Split(normalize(s.x), s.y) for s in (train, val, test))
    return DataBundle(train, val, test, task="classification", num_classes=10, augment=random_crop_flip,
                      class_names=_class_names(folder))


def locate(root: Path, download: bool) -> Path:
    """The batches folder under root; extracts a present archive, else downloads through torchvision."""
    folder = root if (root / TEST_BATCH).is_file() else root / FOLDER
    if folder.is_dir():
        return folder
    archive = root / ARCHIVE
    if archive.is_file():
        _extract(archive, root)
        return folder
    reason = "download disabled"
    if download:
        try:
            fetch(root)
            return folder
        except (OSError, RuntimeError, tarfile.TarError, EOFError) as e:  # URLError is an OSError; a bad md5 a RuntimeError
            reason = f"download failed: {getattr(e, 'reason', e)}"
    raise DatasetMissing(f"CIFAR-10 not found: no {folder.resolve()} or {archive.resolve()} ({reason}); {_FIX}")


def fetch(root: Path) -> None:
    """Download and extract the official archive (torchvision checks its md5)."""
    from torchvision.datasets import CIFAR10  # slow import: only when downloading

    CIFAR10(str(root), train=False, download=True)


def _extract(archive: Path, root: Path) -> None:
    """Extract beside the target and move the folder in at the end: a failed extraction leaves nothing behind."""
    with tempfile.TemporaryDirectory(dir=root, prefix=".extract-") as tmp:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise DatasetMissing(f"CIFAR-10 archive {archive.resolve()} is truncated or corrupt ({e}); delete it and "
                                 f"download it again, or {_FIX}") from None
        if not (Path(tmp) / FOLDER).is_dir():
            raise DatasetMissing(f"CIFAR-10 archive {archive.resolve()} has no {FOLDER}/ folder; {_FIX}")
        (Path(tmp) / FOLDER).rename(root / FOLDER)


class _ArrayUnpickler(pickle.Unpickler):
    """Loads only what CIFAR batches contain (dicts, lists, bytes, numpy arrays): a pickle cannot run code."""
    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")}  # encode: protocol-2 bytes

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def unpickle(path: Path) -> dict[str, object]:
    """A batch dict with str keys, whether it was written by Python 2 (the official files) or 3 (str or bytes keys)."""
    # latin1 is what numpy needs for Python 2 array pickles; it maps the official str keys to str
    raw = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in raw.items()}


def read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One pickle batch -> (n, 3, 32, 32) uint8 images and (n,) int64 labels, after checking both."""
    try:
        batch = unpickle(path)
        data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"], dtype=np.int64)
    except FileNotFoundError:
        raise DatasetMissing(f"CIFAR-10 folder {path.parent.resolve()} lacks {path.name}; {_FIX}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise DatasetMissing(f"CIFAR-10 file {path.resolve()} is truncated or corrupt ({e}); delete the folder and "
                             f"download it again, or {_FIX}") from None
    problem = _check(data, labels)
    if problem:
        raise DatasetMissing(f"CIFAR-10 file {path.resolve()} is not a CIFAR-10 batch ({problem}); {_FIX}")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels)


def _check(data: np.ndarray, labels: np.ndarray) -> str:
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        return f"data is {data.dtype} {data.shape}, expected uint8 (n, 3072)"
    if labels.shape != (len(data),):
        return f"{len(labels)} labels for {len(data)} images"
    if len(labels) == 0 or labels.min() < 0 or labels.max() > 9:
        return "labels must be 0..9"
    return ""


def _read_batches(folder: Path, names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_batch(folder / name) for name in names]
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


def _class_names(folder: Path) -> tuple[str, ...]:
    try:
        names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in unpickle(folder / "batches.meta")["label_names"])
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return CLASSES  # the names are cosmetic; the standard order is fixed by the dataset
    return names if len(names) == 10 else CLASSES


def normalize(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 with zero mean and unit variance per channel (training-set statistics)."""
    return (x.float() / 255 - MEAN) / STD


def random_crop_flip(x: torch.Tensor, generator: torch.Generator | None, pad: int = 4) -> torch.Tensor:
    """Random crop from a zero-padded (black in pixel space) image and a horizontal flip with probability 1/2."""
    n, c, h, w = x.shape
    black = (-MEAN / STD).to(x.device, x.dtype)
    padded = F.pad(x - black, (pad, pad, pad, pad)) + black
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n, 1), generator=generator, device=x.device)
    rows = (dy + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx + torch.arange(w, device=x.device))[:, None, None, :]
    out = padded[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None],
                 rows, cols]
    flip = torch.rand(n, generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)
