"""Train, validation and test rows are disjoint for every workload, checked by content (a hash of each row's
inputs): a validation split drawn from inside the training rows, or a test set that leaks into training, fails."""
import hashlib

import pytest
import torch

from bench.config import TrialConfig
from bench.data.base import Split, split_off_validation
from bench.workloads import WORKLOADS, load_data

FIXTURE = {"cifar10-cnn": "cifar_dir", "imdb-rnn": "imdb_dir"}  # download workloads use the tiny on-disk copies


def row_hashes(split: Split) -> list[str]:
    rows = split.x.flatten(1).contiguous().cpu().numpy()
    return [hashlib.sha1(r.tobytes()).hexdigest() for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize("name", WORKLOADS)
def test_train_val_and_test_rows_are_disjoint(name, request):
    data_dir = str(request.getfixturevalue(FIXTURE[name])) if name in FIXTURE else "data"
    data = load_data(TrialConfig(workload=name, data_dir=data_dir))
    hashes = {part: row_hashes(getattr(data, part)) for part in ("train", "val", "test")}
    assert all(hashes.values())
    every = [h for part in hashes.values() for h in part]
    assert len(set(every)) == len(every), "a row sits in two splits (or twice in one)"


def test_validation_split_is_carved_out_of_the_training_rows():
    x = torch.arange(200, dtype=torch.float32).unsqueeze(1)
    train, val = split_off_validation(Split(x, torch.zeros(200, dtype=torch.long)), frac=0.1, seed=0)
    assert (len(train), len(val)) == (180, 20)
    kept, held = set(train.x.squeeze(1).tolist()), set(val.x.squeeze(1).tolist())
    assert not kept & held and kept | held == set(range(200))
    again = split_off_validation(Split(x, torch.zeros(200, dtype=torch.long)), frac=0.1, seed=0)[1]
    assert torch.equal(again.x, val.x)  # fixed: independent of the trial seed


def test_mnist1d_validation_comes_from_the_4000_training_sequences_only():
    data = load_data(TrialConfig(workload="mnist1d-cnn"))
    assert (len(data.train), len(data.val), len(data.test)) == (3600, 400, 1000)
