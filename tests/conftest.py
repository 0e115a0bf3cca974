"""Tiny datasets in the exact on-disk formats of CIFAR-10 and IMDB, so the real loaders run offline in tests; bench's
CLI signal handlers for the tests of interrupts."""
from __future__ import annotations

import os
import pickle
import signal
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

# pytest-xdist's workers export COLUMNS=80 and LINES=24, which rich reads once, when bench.cli makes its console: the
# width would then stay fixed at 80 for every test in the worker, and tests that widen the terminal through COLUMNS
# (bench list) would see their rows cut. Without them the console reads the terminal's size when it prints.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# (split, label) -> {file name: text}: line breaks as IMDB writes them, non-ASCII text, an empty review,
# and words that occur only in the test split (they must map to <unk>).
IMDB_REVIEWS = {
    ("train", "pos"): {"0_9.txt": "A great film.<br /><br />Great acting, great score!",
                       "1_8.txt": "Amélie was charming; the café scenes are great.",
                       "2_10.txt": "I loved it. Loved it!!", "3_7.txt": "Great great GREAT fun."},
    ("train", "neg"): {"4_1.txt": "Awful.<br />Truly awful, boring plot.", "5_2.txt": "",
                       "6_3.txt": "Boring, boring... I didn't like it.", "7_4.txt": "Bad film, bad acting – naïve plot."},
    ("test", "pos"): {"0_10.txt": "Great fun, zyzzyva!<br />Loved the acting.", "1_9.txt": "Charming and great."},
    ("test", "neg"): {"2_1.txt": "Boring and awful, quixotic plot.", "3_2.txt": "Bad."},
}
# Files that sit in the real archive next to the reviews and must be ignored.
IMDB_EXTRAS = {"README": "Large Movie Review Dataset v1.0", "imdb.vocab": "the\nand\n", "imdbEr.txt": "0.1\n",
               "train/labeledBow.feat": "0 0:7 1:2\n", "train/unsupBow.feat": "0:1\n",
               "train/urls_pos.txt": "http://www.imdb.com/title/tt0453418/usercomments\n",
               "train/urls_neg.txt": "http://x\n", "train/urls_unsup.txt": "http://y\n",
               "train/unsup/0_0.txt": "An unlabeled review that must not be read.",
               "test/labeledBow.feat": "1 0:3\n", "test/urls_pos.txt": "http://z\n", "test/urls_neg.txt": "http://w\n"}


def write_cifar(folder: Path, per_batch: int = 6, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """cifar-10-batches-py as the official archive lays it out: pickled dicts of uint8 rows of 3072 channel-major
    pixels and int labels (str keys, protocol 2, like the original Python 2 files). Returns the written arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        n = n_test if name == "test_batch" else per_batch
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(n)]
        blob = {"batch_label": f"batch {i}", "labels": labels, "data": data,
                "filenames": [f"img_{i}_{j}.png" for j in range(n)]}
        (folder / name).write_bytes(pickle.dumps(blob, protocol=2))
        written[name] = data
    meta = {"num_cases_per_batch": per_batch, "label_names": list(CIFAR_CLASSES), "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def write_imdb(root: Path) -> Path:
    """An aclImdb tree with the labeled reviews and the extra files; returns the aclImdb folder."""
    tree = root / "aclImdb"
    for (split, label), reviews in IMDB_REVIEWS.items():
        for name, text in reviews.items():
            path = tree / split / label / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for name, text in IMDB_EXTRAS.items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tree


def tar_gz(source: Path, archive: Path) -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=source.name)
    return archive


@pytest.fixture
def bench_cache(tmp_path, monkeypatch) -> Path:
    """A private cache folder, so tests never read or write the user's cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("BENCH_CACHE", str(path))
    return path


@pytest.fixture
def cifar_dir(tmp_path) -> Path:
    """A --data-dir holding cifar-10-batches-py/ (5 x 6 training images, 10 test images)."""
    write_cifar(tmp_path / "cifar" / "cifar-10-batches-py")
    return tmp_path / "cifar"


@pytest.fixture
def imdb_dir(tmp_path, bench_cache) -> Path:
    """A --data-dir holding an extracted aclImdb/ tree."""
    write_imdb(tmp_path / "imdb")
    return tmp_path / "imdb"


@pytest.fixture
def imdb_archive_dir(tmp_path, bench_cache) -> Path:
    """A --data-dir holding only aclImdb_v1.tar.gz (the same reviews, unextracted)."""
    tree = write_imdb(tmp_path / "imdb-src")
    tar_gz(tree, tmp_path / "imdb-tgz" / "aclImdb_v1.tar.gz")
    return tmp_path / "imdb-tgz"


@pytest.fixture
def cli_signals():
    """bench's CLI signal handlers (errors.signals_as_interrupts) installed over the defaults of a command started
    from a terminal, whatever this suite inherited (a suite a script starts in the background has SIGINT ignored,
    nohup SIGHUP); afterwards this process's own handlers and an empty record of received signals. Yields
    bench.errors."""
    from bench import errors

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    hook = sys.unraisablehook
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    errors.signals_as_interrupts()
    try:
        yield errors
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        sys.unraisablehook = hook
        errors.forget_interrupts()
