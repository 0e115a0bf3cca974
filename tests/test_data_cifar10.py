"""The CIFAR-10 loader on tiny pickle batches in the official layout, and the batch-wise augmentation."""
import pickle
import urllib.error

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.data import cifar10
from bench.data.base import DatasetMissing
from tests.conftest import CIFAR_CLASSES, tar_gz, write_cifar


def test_loads_batches_as_normalized_float_tensors(tmp_path):
    written = write_cifar(tmp_path / cifar10.FOLDER, per_batch=6, n_test=10)
    data = cifar10.load(tmp_path, download=False)
    assert len(data.train) == 27 and len(data.val) == 3 and len(data.test) == 10  # 10% of 30 for validation
    assert data.train.x.shape == (27, 3, 32, 32) and data.train.x.dtype == torch.float32
    raw = torch.from_numpy(written["test_batch"]).view(10, 3, 32, 32).float() / 255  # rows are channel-major
    assert torch.allclose(data.test.x, (raw - cifar10.MEAN) / cifar10.STD)
    assert data.test.y.tolist() == [(5 + j) % 10 for j in range(10)]
    assert data.class_names == CIFAR_CLASSES and data.num_classes == 10 and data.augment is not None


def test_accepts_bytes_keys_and_the_batches_folder_itself(tmp_path):
    folder = tmp_path / cifar10.FOLDER
    write_cifar(folder)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:  # as re-saved from Python 3
        blob = cifar10.unpickle(folder / name)
        (folder / name).write_bytes(pickle.dumps({k.encode(): v for k, v in blob.items()}))
    assert len(cifar10.load(folder, download=False).test) == 10


def test_extracts_an_archive_given_instead_of_the_folder(tmp_path):
    write_cifar(tmp_path / "src" / cifar10.FOLDER)
    tar_gz(tmp_path / "src" / cifar10.FOLDER, tmp_path / "data" / cifar10.ARCHIVE)
    assert len(cifar10.load(tmp_path / "data", download=False).test) == 10
    assert (tmp_path / "data" / cifar10.FOLDER / "test_batch").is_file()


def test_truncated_archive_leaves_nothing_half_extracted(tmp_path):
    write_cifar(tmp_path / "src" / cifar10.FOLDER)
    archive = tar_gz(tmp_path / "src" / cifar10.FOLDER, tmp_path / "data" / cifar10.ARCHIVE)
    archive.write_bytes(archive.read_bytes()[:5000])
    with pytest.raises(DatasetMissing, match="truncated or corrupt"):
        cifar10.load(tmp_path / "data", download=False)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [cifar10.ARCHIVE]


def _truncate(path):
    path.write_bytes(path.read_bytes()[:1000])


def _wrong_shape(path):
    path.write_bytes(pickle.dumps({"data": np.zeros((4, 1024), np.uint8), "labels": [0, 1, 2, 3]}))


def _label_count(path):
    path.write_bytes(pickle.dumps({"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2]}))


def _label_range(path):
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}))


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def _code(path):
    path.write_bytes(pickle.dumps({"data": _Exploit(), "labels": [0]}))


@pytest.mark.parametrize("damage,message", [(_truncate, "truncated or corrupt"), (_wrong_shape, "expected uint8 .n, 3072."),
                                            (_label_count, "3 labels for 4 images"), (_label_range, "labels must be 0..9"),
                                            (_code, "unexpected object builtins.print")])
def test_damaged_batch_is_a_clear_error(tmp_path, damage, message):
    write_cifar(tmp_path / cifar10.FOLDER)
    damage(tmp_path / cifar10.FOLDER / "data_batch_3")
    with pytest.raises(DatasetMissing, match=message) as err:
        cifar10.load(tmp_path, download=False)
    assert "data_batch_3" in str(err.value) and "\n" not in str(err.value)


def test_missing_batch_names_the_file(tmp_path):
    write_cifar(tmp_path / cifar10.FOLDER)
    (tmp_path / cifar10.FOLDER / "data_batch_5").unlink()
    with pytest.raises(DatasetMissing, match="lacks data_batch_5"):
        cifar10.load(tmp_path, download=False)


def test_missing_dataset_message_says_where_how_and_what_else(tmp_path, monkeypatch):
    def offline(root):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(cifar10, "fetch", offline)
    with pytest.raises(DatasetMissing) as err:
        cifar10.load(tmp_path / "nowhere")
    message = str(err.value)
    assert "\n" not in message and str((tmp_path / "nowhere" / cifar10.FOLDER).resolve()) in message
    assert "download failed: Name or service not known" in message
    assert "--data-dir" in message and "digits-cnn" in message


def test_downloads_only_when_missing(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cifar10, "fetch", lambda root: (calls.append(root), write_cifar(root / cifar10.FOLDER)))
    cifar10.load(tmp_path / "fresh")
    cifar10.load(tmp_path / "fresh")
    assert calls == [tmp_path / "fresh"]


def _windows(image, pad):
    """Every crop of the zero-padded (black) uint8 image and its mirror, normalized as the loader does."""
    padded = cifar10.normalize(F.pad(image.unsqueeze(0), (pad,) * 4))[0]
    size = image.shape[-1]
    crops = [padded[:, i:i + size, j:j + size] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]
    return torch.stack(crops + [c.flip(-1) for c in crops])


def test_augmentation_is_a_black_padded_crop_or_its_mirror():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    out = cifar10.random_crop_flip(cifar10.normalize(images), torch.Generator().manual_seed(0))
    assert out.shape == (6, 3, 32, 32) and out.dtype == torch.float32
    for image, aug in zip(images, out, strict=True):
        distance = (_windows(image, 4) - aug).abs().flatten(1).max(1).values
        assert distance.min() < 1e-5


def test_augmentation_changes_pixels_varies_and_is_reproducible():
    x = cifar10.normalize(torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8))
    a = cifar10.random_crop_flip(x, torch.Generator().manual_seed(1))
    b = cifar10.random_crop_flip(x, torch.Generator().manual_seed(1))
    c = cifar10.random_crop_flip(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    unchanged = (a == x).flatten(1).all(1).float().mean()  # identity needs offset (4, 4) and no flip: 1/162
    assert unchanged < 0.05


def test_augmentation_offsets_and_flips_are_uniform():
    n = 4000
    x = (torch.arange(32.0).view(1, 1, 32, 1) * 100 + torch.arange(32.0).view(1, 1, 1, 32)).expand(n, 3, 32, 32)
    out = cifar10.random_crop_flip(x.contiguous(), torch.Generator().manual_seed(0))
    center, right = out[:, 0, 16, 16], out[:, 0, 16, 17]  # both always inside the original image
    flipped = (right - center) == -1
    dy = (center // 100).long() - 12  # output row 16 shows original row 12 + dy
    assert 0.45 < float(flipped.float().mean()) < 0.55
    assert int(dy.min()) == 0 and int(dy.max()) == 8 and int(torch.bincount(dy).min()) > 0.8 * n / 9
