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


def test_a_resumed_runs_wall_time_is_the_sum_of_its_sessions(tmp_path):
    """RunClock: a new run starts at 0 sessions; a resumed one carries what its run.json recorded, also while it runs
    (so a kill keeps the earlier sessions); one written before sessions were counted is one session; and the FAQ's
    training-time line says which of the two it sums."""
    import time

    from bench.faq.main import trained_in
    from bench.results import RunClock

    assert RunClock().carried() == {} and RunClock().fields()["sessions"] == 1
    resumed = RunClock({"wall_time": 100.0, "sessions": 2, "complete": False})
    assert resumed.carried() == {"wall_time": 100.0, "sessions": 2}
    time.sleep(0.2)
    done = resumed.fields()
    assert done["sessions"] == 3 and 100.2 <= done["wall_time"] < 110
    assert RunClock({"wall_time": 7.0}).carried() == {"wall_time": 7.0, "sessions": 1}  # from before sessions counted
    assert RunClock({"complete": False}).fields()["sessions"] == 1  # a killed first session recorded no time
    for edited in ({"wall_time": "1 h", "sessions": 2}, {"wall_time": True}, {"wall_time": float("inf")}):
        assert RunClock(edited).carried() == {} and RunClock(edited).fields()["sessions"] == 1  # no time: dropped
    assert RunClock({"wall_time": 9, "sessions": "two"}).carried() == {"wall_time": 9.0, "sessions": 1}
    for name, info in {"a": {"wall_time": 60.0, "sessions": 2}, "b": {"wall_time": 60.0, "sessions": 1}}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps({**info, "cpu_count": 2}))
    assert "trained for 2 min 0 s in all" in trained_in(tmp_path, None) and "each over all of its sessions" in \
        trained_in(tmp_path, None)
    (tmp_path / "b" / "run.json").write_text(json.dumps({"wall_time": 60.0, "cpu_count": 2}))
    assert "records its last session only" in trained_in(tmp_path, None)
