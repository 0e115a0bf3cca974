"""A run opens in Optuna's and TensorBoard's tools: after a tiny sweep (in this process), RUN/optuna.log holds one
Optuna study per group with every trial (params, per-epoch values, state, attributes), optuna-dashboard serves it
on 127.0.0.1, a resumed run appends without duplicates, and RUN/tensorboard/<trial_id>/ holds each trial's
scalars and HParams session."""
import json
import struct
import threading
import urllib.request
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import optuna
import pandas as pd
import pytest
import yaml

from bench.results import ResultStore, atomic_write
from bench.search.journal import JOURNAL, export_run, journal_storage, write_journal
from bench.search.protocol import Plan
from bench.search.runners import InProcess
from bench.search.space import load_space
from bench.tensorboard import TENSORBOARD_DIR

SPACE = {"name": "tiny", "compare": "optimizer", "levels": ["adam", "sgd"], "workloads": ["mnist1d-cnn"],
         "fixed": {"width": 4, "fc_width": 8, "depth": 1, "n_train": 256, "probe_every": 4},
         "tune": {"lr": {"min": 1.0e-3, "max": 1.0e-1, "scaling": "log"}},
         "budget": {"trials_per_level": 2, "epochs": 2, "seeds": 1, "confirm": 1, "startup_trials": 2}}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny sweep's run folder: 2 levels x (2 tuning + 1 confirm + 1 final) trials."""
    folder = tmp_path_factory.mktemp("run")
    space = load_space(SPACE)
    atomic_write(folder / "space.yaml", yaml.safe_dump(space.to_dict(), sort_keys=False).encode())
    InProcess().run(Plan(space), folder, None)
    ResultStore(folder).consolidate()
    return folder


def studies(folder: Path) -> dict[str, list]:
    storage = journal_storage(folder)
    return {s.study_name: optuna.load_study(study_name=s.study_name, storage=storage).trials
            for s in optuna.get_all_study_summaries(storage)}


def test_every_group_is_a_study_with_every_trial(run):
    trials = pd.read_parquet(run / "trials.parquet")
    epochs = pd.read_parquet(run / "epochs.parquet")
    found = studies(run)
    assert set(found) == {"mnist1d-cnn.adam", "mnist1d-cnn.sgd"}
    for name, ts in found.items():
        mine = trials[trials["trial_id"].str.startswith(name + ".")].set_index("trial_id")
        assert sorted(t.user_attrs["trial_id"] for t in ts) == sorted(mine.index) and len(ts) == 4
        for t in ts:
            row = mine.loc[t.user_attrs["trial_id"]]
            assert t.user_attrs["phase"] == row["phase"] and t.user_attrs["seed"] == row["seed"]
            assert t.user_attrs["status"] == row["status"] == "ok" and t.state == optuna.trial.TrialState.COMPLETE
            assert t.params == {"lr": pytest.approx(row["lr"])} and t.value == pytest.approx(row["objective"])
            val = epochs[(epochs["trial_id"] == row.name) & (epochs["split"] == "val") & (epochs["metric"] == "acc")]
            assert t.intermediate_values == pytest.approx(dict(zip(val["epoch"], val["value"], strict=True)))
            assert t.distributions["lr"].low == 1e-3 and t.distributions["lr"].log  # the sweep's own range
        final = next(t for t in ts if t.user_attrs["phase"] == "final")
        assert final.user_attrs["test_acc"] == pytest.approx(mine.loc[final.user_attrs["trial_id"], "test_acc"])


def test_a_resumed_run_appends_only_new_trials(run, tmp_path):
    records = ResultStore(run).finished()
    assert write_journal(tmp_path, records[:3]) == 3  # the run so far, when it was interrupted
    assert write_journal(tmp_path, records) == len(records) - 3  # resumed: the rest, once
    export_run(tmp_path, tensorboard=False)
    ids = [t.user_attrs["trial_id"] for ts in studies(tmp_path).values() for t in ts]
    assert sorted(ids) == sorted(r.trial_id for r in records)
    assert not (tmp_path / TENSORBOARD_DIR).exists()


def test_a_stopped_trial_is_pruned_and_a_diverged_one_failed(run, tmp_path):
    records = ResultStore(run).finished()[:2]
    records[0].status, records[1].status, records[1].tags["objective"] = "stopped", "diverged", float("-inf")
    write_journal(tmp_path, records)
    states = {t.user_attrs["trial_id"]: t.state for ts in studies(tmp_path).values() for t in ts}
    assert states == {records[0].trial_id: optuna.trial.TrialState.PRUNED,
                      records[1].trial_id: optuna.trial.TrialState.FAIL}


class Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_optuna_dashboard_serves_the_run_on_loopback(run):
    import optuna_dashboard

    server = make_server("127.0.0.1", 0, optuna_dashboard.wsgi(str(run / JOURNAL)), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        listed = json.loads(urllib.request.urlopen(f"{base}/api/studies", timeout=30).read())
        names = {s["study_name"]: s["study_id"] for s in listed["study_summaries"]}
        assert set(names) == {"mnist1d-cnn.adam", "mnist1d-cnn.sgd"}
        detail = json.loads(urllib.request.urlopen(f"{base}/api/studies/{names['mnist1d-cnn.sgd']}", timeout=30).read())
        assert len(detail["trials"]) == 4
    finally:
        server.shutdown()
        server.server_close()


def events(folder: Path) -> list:
    """Every Event of the event files under folder (TFRecord framing: length, its CRC, the data, its CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    out = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            (n,) = struct.unpack("<Q", data[pos:pos + 8])
            out.append(Event.FromString(data[pos + 12:pos + 12 + n]))
            pos += 12 + n + 4
    return out


def scalars(folder: Path) -> dict[str, dict[int, float]]:
    found: dict[str, dict[int, float]] = {}
    for e in events(folder):
        for v in e.summary.value:
            if v.HasField("simple_value"):
                found.setdefault(v.tag, {})[e.step] = v.simple_value
    return found


def session_hparams(folder: Path) -> dict:
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    for e in events(folder):
        for v in e.summary.value:
            if v.tag == "_hparams_/session_start_info":
                info = HParamsPluginData.FromString(v.metadata.plugin_data.content).session_start_info
                return {k: x.WhichOneof("kind") and getattr(x, x.WhichOneof("kind")) for k, x in info.hparams.items()}
    return {}


def test_tensorboard_holds_each_trials_scalars_and_hparams(run):
    trials = pd.read_parquet(run / "trials.parquet").set_index("trial_id")
    epochs = pd.read_parquet(run / "epochs.parquet")
    root = run / TENSORBOARD_DIR
    assert sorted(p.name for p in root.iterdir()) == sorted(trials.index)
    for tid, row in trials.iterrows():
        found = scalars(root / tid)
        mine = epochs[epochs["trial_id"] == tid]
        for (split, metric), rows in mine.groupby(["split", "metric"]):
            tag = f"{metric}/{split}" if f"{metric}/{split}" in found else metric  # lr, samples_per_sec: no split
            expected = dict(zip(rows["epoch"], rows["value"], strict=True))
            assert found[tag] == pytest.approx(expected, rel=1e-6), tag
        assert {"loss/train", "loss/val", "acc/val", "lr"} <= set(found)
        assert found["final/test_acc"] == pytest.approx({2: row["test_acc"]}, rel=1e-6)
        assert set(found["grad_norm/total"]) and any(t.startswith("grad_norm/") and t != "grad_norm/total" for t in found)
        hp = session_hparams(root / tid)
        assert hp["phase"] == row["phase"] and hp["level"] == row["level"] and hp["seed"] == row["seed"]
        assert hp["lr"] == pytest.approx(row["lr"]) and hp["optimizer"] == row["optimizer"]


@pytest.mark.parametrize("resume", [False, True])
def test_a_study_run_starts_its_journal_and_tensorboard_afresh(tmp_path, resume):
    """A study's trial ids repeat from run to run: its journal is rebuilt from this run's trials, not appended to."""
    from bench.studies.common import Study

    folder = tmp_path / "demo"
    (folder / TENSORBOARD_DIR / "demo.relu.seed-0").mkdir(parents=True)
    (folder / JOURNAL).write_text("{}\n")
    study = Study("demo", tmp_path, "tiny", 1, lambda line: None, "notes", resume=resume)
    study.lock.close()
    assert not (folder / JOURNAL).exists() and not (folder / TENSORBOARD_DIR).exists()
