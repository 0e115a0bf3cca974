"""IMDB movie-review sentiment (Maas et al. 2011) from its original aclImdb layout, extracted or as the .tar.gz.

Looks in --data-dir for an `aclImdb/` folder (or the folder itself), then for `aclImdb_v1.tar.gz`, and
downloads the archive from its original location when neither is there. Only train|test x pos|neg
reviews are read; unsup/, *.feat, urls_*.txt, README and imdb.vocab are ignored. The vocabulary is the
25,000 most frequent training tokens seen at least twice, built without the validation reviews; each review
keeps its last 256 tokens (cfg.seq_len overrides). The encoded tensors are cached (keyed by the options and
the files' names and sizes), so tokenization runs once.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import torch

from bench.data.base import DataBundle, DatasetMissing, Split, cache_dir
from bench.data.text import text_bundle

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ARCHIVE = "aclImdb_v1.tar.gz"
DEFAULT_MAX_LEN = 256  # tokens kept per review, the last ones of longer reviews; cfg.seq_len overrides
GROUPS = (("train", "pos"), ("train", "neg"), ("test", "pos"), ("test", "neg"))
_REVIEW = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/([^/]+\.txt)$")
_CACHE_VERSION = 1  # bump when tokenization or encoding changes
_FIX = "pass --data-dir DIR with aclImdb/ or aclImdb_v1.tar.gz in it, or use the offline workload text-synthetic-rnn"

Reviews = dict[tuple[str, str], list[tuple[str, str]]]  # (split, label) -> [(file name, text)]


def load(data_dir: str | Path = "data", max_len: int = 0, max_size: int = 25_000, min_freq: int = 2,
         download: bool = True) -> DataBundle:
    """The binary IMDB bundle: (N, T) token ids padded with 0, true lengths, y float 0/1 (1 = positive)."""
    source = locate(Path(data_dir), download)
    options = {"max_len": max_len or DEFAULT_MAX_LEN, "max_size": max_size, "min_freq": min_freq,
               "version": _CACHE_VERSION}
    path = cache_dir() / f"imdb-{fingerprint(source, options)}.pt"
    bundle = _read_cache(path)
    if bundle is None:
        reviews = read_archive(source) if source.is_file() else read_tree(source)
        texts = {g: [text for _, text in sorted(reviews[g])] for g in GROUPS}
        bundle = text_bundle(texts["train", "pos"] + texts["train", "neg"],
                             [1] * len(texts["train", "pos"]) + [0] * len(texts["train", "neg"]),
                             texts["test", "pos"] + texts["test", "neg"],
                             [1] * len(texts["test", "pos"]) + [0] * len(texts["test", "neg"]),
                             options["max_len"], max_size, min_freq)
        _write_cache(path, bundle)
    return bundle


def locate(root: Path, download: bool) -> Path:
    """The extracted aclImdb folder or the archive under root; downloads the archive when both are absent."""
    tree = root if (root / "train").is_dir() and root.name == "aclImdb" else root / "aclImdb"
    archive = root / ARCHIVE
    if (tree / "train").is_dir():
        return tree
    if archive.is_file():
        return archive
    reason = "download disabled"
    if download:
        try:
            root.mkdir(parents=True, exist_ok=True)
            fetch(URL, archive)
            return archive
        except (urllib.error.URLError, OSError) as e:
            reason = f"download from {URL} failed: {getattr(e, 'reason', e)}"
    raise DatasetMissing(f"IMDB not found: no {tree.resolve()} or {archive.resolve()} ({reason}); {_FIX}")


def fetch(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Download to dest via a .part file, so an interrupted download never looks like a dataset."""
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as f:
            expected = int(response.headers.get("Content-Length") or -1)
            while chunk := response.read(1 << 20):
                f.write(chunk)
        if expected >= 0 and part.stat().st_size != expected:
            raise OSError(f"got {part.stat().st_size} of {expected} bytes")
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)


def read_tree(tree: Path) -> Reviews:
    reviews: Reviews = {}
    for split, label in GROUPS:
        folder = tree / split / label
        try:
            names = sorted(name for name in os.listdir(folder) if name.endswith(".txt")) if folder.is_dir() else []
        except OSError as e:
            raise DatasetMissing(f"IMDB folder {folder.resolve()} is unreadable ({e.strerror}); re-extract it or "
                                 f"{_FIX}") from None
        reviews[split, label] = [(name, _read_review(folder / name)) for name in names]
    return _complete(reviews, tree)


def _read_review(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        problem = e.strerror or str(e)
    except UnicodeDecodeError as e:
        problem = f"byte {e.object[e.start:e.start + 1]!r} at offset {e.start} is not UTF-8"
    raise DatasetMissing(f"IMDB review {path.resolve()} is unreadable ({problem}); re-extract the archive or {_FIX}")


def read_archive(archive: Path) -> Reviews:
    """Stream the .tar.gz once; a truncated or corrupt archive raises instead of yielding part of the data."""
    reviews: Reviews = {g: [] for g in GROUPS}
    try:
        # gzip, not tarfile's own "r|gz", checks the end-of-stream marker and CRC: tarfile alone reads a
        # truncated archive as a shorter one
        with gzip.open(archive, "rb") as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
            for member in tar:
                match = _REVIEW.search(member.name)
                if match and member.isfile():
                    text = tar.extractfile(member).read().decode("utf-8")
                    reviews[match[1], match[2]].append((match[3], text))
            while gz.read(1 << 20):  # to the gzip trailer, past the tar's end-of-archive blocks
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error, UnicodeDecodeError) as e:
        raise DatasetMissing(f"IMDB archive {archive.resolve()} is truncated or corrupt ({e}); delete it to download it "
                             f"again, or {_FIX}") from None
    return _complete(reviews, archive)


def _complete(reviews: Reviews, where: Path) -> Reviews:
    empty = [f"{split}/{label}" for split, label in GROUPS if not reviews.get((split, label))]
    if empty:
        raise DatasetMissing(f"IMDB data in {where.resolve()} has no reviews in {', '.join(empty)}; {_FIX}")
    return reviews


def fingerprint(source: Path, options: dict) -> str:
    """Hash of the options and the review files' names and sizes (the archive's size and mtime)."""
    if source.is_file():
        stat = source.stat()
        listing: list = [source.name, stat.st_size, stat.st_mtime_ns]
    else:
        folders = [source / split / label for split, label in GROUPS]
        listing = [sorted((e.name, e.stat().st_size) for e in os.scandir(f) if e.name.endswith(".txt")) if f.is_dir() else []
                   for f in folders]
    return hashlib.sha256(json.dumps([options, listing]).encode()).hexdigest()[:20]


def _write_cache(path: Path, bundle: DataBundle) -> None:
    splits = {name: [s.x, s.y, s.lengths] for name, s in (("train", bundle.train), ("val", bundle.val),
                                                          ("test", bundle.test))}
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save({**splits, "vocab_size": bundle.vocab_size}, tmp)
    tmp.replace(path)


def _read_cache(path: Path) -> DataBundle | None:
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, weights_only=True)
        splits = {name: Split(*blob[name]) for name in ("train", "val", "test")}
    except Exception:  # an unreadable cache is rebuilt from the data, never trusted
        return None
    return DataBundle(**splits, task="binary", num_classes=1, vocab_size=blob["vocab_size"], class_names=("neg", "pos"))
