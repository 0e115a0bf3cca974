import json

import pandas as pd

from bench.results import ResultStore, merge_runs, read_run, record
from bench.train import run_trial
from tests.helpers import fast_cfg, tiny_bundle


def test_store_round_trip_and_tidy_tables(tmp_path):
    result = run_trial(fast_cfg(workload="mnist1d-mlp", epochs=2), data=tiny_bundle(128))
    store = ResultStore(tmp_path / "run")
    store.add(record("t0", result, {"phase": "single"}))
    store.write_provenance({"command": "x"})
    tables = store.consolidate()
    trials = tables["trials"]
    assert list(trials["trial_id"]) == ["t0"] and trials.loc[0, "phase"] == "single"
    assert trials.loc[0, "lr"] == result.config["lr"] and trials.loc[0, "status"] == "ok"
    epochs = tables["epochs"]
    assert set(epochs.columns) == {"trial_id", "epoch", "split", "metric", "value"}
    val_loss = epochs.query("split == 'val' and metric == 'loss'").sort_values("epoch")["value"].tolist()
    assert val_loss == [e["val_loss"] for e in result.epochs]
    run = read_run(tmp_path / "run")
    pd.testing.assert_frame_equal(run["trials"], trials)
    assert run["provenance"] == {"command": "x"}
    assert not list((tmp_path / "run").glob(".*"))  # no temporary files left behind


def test_read_interrupted_run_from_parts_and_merge(tmp_path):
    for name in ("a", "b"):
        store = ResultStore(tmp_path / name)
        store.add(record("t0", run_trial(fast_cfg(workload="mnist1d-mlp", epochs=1), data=tiny_bundle(64)), {}))
    assert len(read_run(tmp_path / "a")["trials"]) == 1  # no consolidate: read from parts
    merged = merge_runs([tmp_path / "a", tmp_path / "b"])
    assert sorted(merged["trials"]["trial_id"]) == ["a/t0", "b/t0"]
    assert json.loads((tmp_path / "a" / "parts" / "t0.json").read_text())["trial_id"] == "t0"
