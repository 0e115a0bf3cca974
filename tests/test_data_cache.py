"""The per-process dataset cache of workloads.load_data: a worker decodes a dataset once for all the trials it runs
(Tune reuses actors), those trials train exactly as on freshly loaded data, and no trial gets another config's data."""
from __future__ import annotations

import os
from dataclasses import replace

import pytest
import torch

from bench import workloads
from bench.config import TrialConfig
from bench.results import ResultStore
from bench.search.protocol import TUNE, Plan
from bench.search.space import load_space
from bench.workloads import WORKLOADS, load_data
from tests.conftest import write_cifar
from tests.test_sweep import tiny_space


def clear() -> None:
    workloads._decoded.cache_clear()
    workloads._resident.cache_clear()


@pytest.fixture
def decodes(monkeypatch):
    """Every workload's loader wrapped to record (workload, seq_len, data_dir) of each call; the cache starts empty."""
    calls = []
    for name, spec in list(WORKLOADS.items()):
        def load(cfg, _load=spec.load):
            calls.append((cfg.workload, cfg.seq_len, cfg.data_dir))
            return _load(cfg)
        monkeypatch.setitem(WORKLOADS, name, replace(spec, load=load))
    clear()
    yield calls
    clear()


def trial_task(tmp_path, trial_id: str, lr: float, seed: int) -> dict:
    space = load_space(tiny_space())
    g = Plan(space).groups[0]
    cfg = g.config({"lr": lr}, seed, 1).replace(epochs=2, n_train=256, probe_every=0)
    return {"trial_id": trial_id, "out": str(tmp_path), "config": cfg.to_dict(), "tags": g.tags(space, TUNE),
            "metric": g.metric, "mode": g.mode, "target": g.target, "report_epochs": []}


def results(tmp_path) -> dict:
    """trial id -> (final metrics, epoch rows) without the timings, which differ between any two runs."""
    timed = ("time", "wall_time", "epoch_time", "samples_per_sec", "flops_per_sec", "peak_fraction")
    strip = lambda d: {k: v for k, v in d.items() if k not in timed}
    return {r.trial_id: (strip(r.final), [strip(e) for e in r.epochs]) for r in ResultStore(tmp_path).finished()}


def test_two_trials_in_one_worker_decode_the_data_once_and_train_as_on_fresh_data(tmp_path, decodes):
    from bench.search.trial import sweep_trial

    first, second = trial_task(tmp_path / "a", "t0", 0.05, 0), trial_task(tmp_path / "a", "t1", 0.01, 3)
    assert sweep_trial(first)["status"] == sweep_trial(second)["status"] == "ok"
    assert len(decodes) == 1  # the second trial used the first one's tensors
    clear()  # the same second trial on freshly decoded data: what a new worker would train
    assert sweep_trial({**second, "out": str(tmp_path / "b")})["status"] == "ok"
    assert len(decodes) == 2
    assert results(tmp_path / "a")["t1"] == results(tmp_path / "b")["t1"]


def test_the_cache_tells_seq_len_and_n_train_apart(decodes):
    short, long = (load_data(TrialConfig(workload="adding", seq_len=n)) for n in (12, 20))
    assert short.train.x.shape[1] == 12 and long.train.x.shape[1] == 20
    full = load_data(TrialConfig(workload="adding", seq_len=12))
    cut = load_data(TrialConfig(workload="adding", seq_len=12, n_train=16))
    assert full is short and len(cut.train) == 16 and len(full.train) > 16  # n_train is cut, never cached
    assert len(decodes) == 2


def test_the_cache_tells_data_folders_apart_even_under_one_relative_path(tmp_path, decodes, monkeypatch):
    """A sweep trial changes into the sweep's folder before loading: `data` in two folders is two datasets."""
    for k, folder in enumerate(("one", "two")):
        write_cifar(tmp_path / folder / "data" / "cifar-10-batches-py", seed=k)
    cfg = TrialConfig(workload="cifar10-cnn", data_dir="data")
    monkeypatch.chdir(tmp_path / "one")
    one = load_data(cfg)
    same = load_data(cfg.replace(data_dir=str(tmp_path / "one" / "data")))
    monkeypatch.chdir(tmp_path / "two")
    two = load_data(cfg)
    assert same is one and not torch.equal(one.test.x, two.test.x)
    assert [os.path.relpath(d, tmp_path) for _, _, d in decodes] == [os.path.join("one", "data"),
                                                                     os.path.join("two", "data")]
