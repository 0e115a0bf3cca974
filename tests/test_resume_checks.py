"""A resume checks what it resumes: run.json records the bench version and the plan (a sweep's resolved space, a FAQ
experiment's cells and budget, a study's size and seeds), and a --resume whose inputs differ is refused with one
line naming the difference, unless --force (recorded in run.json). Each part carries the sha256 of its content: a
part edited by hand, or named unlike its trial, is named, set aside and run again, never read. The sweeps here run
in this process (InProcess in place of Ray Tune), a few seconds each."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bench.config import ConfigError
from bench.results import UNREADABLE, ResultStore, TrialRecord, read_part
from bench.search import sweep
from bench.search.runners import InProcess
from bench.status import TrialStatus
from tests.test_hardening import bench, one_line_error, tiny_space, tree
from tests.test_resume import TIMINGS

SPACE = tiny_space(levels=["adam"], budget={"trials_per_level": 2, "epochs": 1, "seeds": 1})
FINAL = "mnist1d-cnn.adam.seed-1"  # the final seed's trial: its score is the leaderboard's


def rec(trial_id: str = "t0", score: float = 0.5) -> TrialRecord:
    return TrialRecord(trial_id, {"phase": "final", "score": score}, {"lr": 0.01, "seed": 1}, TrialStatus.OK,
                       {"test_acc": score}, [{"epoch": 1, "val_acc": score}], [])


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


# --- parts: a checksum inside each, a name that is its trial's ----------------------------------------------------
def test_a_part_edited_by_hand_is_named_set_aside_and_never_read(tmp_path, capsys):
    store = ResultStore(tmp_path)
    store.add(rec("t0", 0.5))
    store.add(rec("t1", 0.6))
    path = store.parts / "t0.json"
    part = json.loads(path.read_text())
    assert len(part["sha256"]) == 64 and read_part(path).final == {"test_acc": 0.5}
    part["final"]["test_acc"] = 0.99  # a better score, typed in
    path.write_text(json.dumps(part))
    assert [r.trial_id for r in store.finished()] == ["t1"]
    [line] = warnings(capsys.readouterr().err)
    assert str(path) in line and "no longer matches its sha256" in line
    assert not path.exists() and (tmp_path / UNREADABLE / "t0.json").exists()


def test_parts_without_a_checksum_still_read_and_key_order_does_not_matter(tmp_path):
    old = tmp_path / "parts" / "t0.json"
    old.parent.mkdir()
    old.write_text(json.dumps(asdict(rec("t0"))))  # a part written before checksums
    assert read_part(old).final == {"test_acc": 0.5}
    ResultStore(tmp_path).add(rec("t1"))
    new = tmp_path / "parts" / "t1.json"
    reordered = dict(reversed(list(json.loads(new.read_text()).items())))
    new.write_text(json.dumps(reordered, indent=1))  # the same content laid out otherwise
    assert read_part(new) == rec("t1")


def test_a_part_named_unlike_its_trial_is_named_and_left_out(tmp_path, capsys):
    store = ResultStore(tmp_path)
    store.add(rec("t0"))
    store.add(rec("t1"))
    (store.parts / "t1.json").rename(store.parts / "t2.json")
    assert [r.trial_id for r in store.finished()] == ["t0"]
    [line] = warnings(capsys.readouterr().err)
    assert str(store.parts / "t2.json") in line and "holds trial 't1'" in line


# --- sweeps: run in this process ---------------------------------------------------------------------------------
@pytest.fixture
def in_process(monkeypatch):
    monkeypatch.setattr(sweep, "RayTune", lambda *args, **kwargs: InProcess())


def trials(folder: Path) -> pd.DataFrame:
    df = pd.read_parquet(folder / "trials.parquet")
    return df.drop(columns=[c for c in TIMINGS if c in df]).sort_values("trial_id").reset_index(drop=True)


def test_a_resumed_sweep_reruns_an_edited_part_and_ends_as_an_uninterrupted_run(tmp_path, in_process, capsys):
    folder = sweep.run_sweep(SPACE, tmp_path / "runs", progress=False)
    whole = trials(folder)
    path = folder / "parts" / f"{FINAL}.json"
    part = json.loads(path.read_text())
    part["final"]["test_acc"] = part["tags"]["score"] = 1.0
    path.write_text(json.dumps(part))
    capsys.readouterr()
    assert sweep.run_sweep(SPACE, tmp_path / "runs", resume=folder, progress=False) == folder
    assert str(path) in "\n".join(warnings(capsys.readouterr().err))
    pd.testing.assert_frame_equal(trials(folder), whole)
    assert json.loads((folder / "run.json").read_text())["resumed_with"] == 4  # the edited trial trained again


def test_a_sweep_resume_with_other_inputs_is_refused_and_forced(tmp_path, in_process):
    folder = sweep.run_sweep(SPACE, tmp_path / "runs", progress=False)
    run = json.loads((folder / "run.json").read_text())
    assert run["bench_version"] and len(run["plan_sha256"]) == 64 and run["plan"] == run["space"]
    (folder / "parts" / f"{FINAL}.json").unlink()  # an interrupted run: the final seed is left to train
    before = tree(folder)
    edited = tiny_space(levels=["adam"], budget={"trials_per_level": 2, "epochs": 2, "seeds": 1})
    with pytest.raises(ConfigError, match=r"other inputs \(budget\.epochs 1 -> 2\).*--force"):
        sweep.run_sweep(edited, tmp_path / "runs", resume=folder, progress=False)
    with pytest.raises(ConfigError, match=r"other inputs \(name \"tiny\" -> \"other\""):  # another sweep's folder
        sweep.run_sweep({**SPACE, "name": "other"}, tmp_path / "runs", resume=folder, progress=False)
    assert tree(folder) == before  # nothing written
    sweep.run_sweep(edited, tmp_path / "runs", resume=folder, progress=False, force=True)
    run = json.loads((folder / "run.json").read_text())
    assert run["complete"] and run["forced"] == ["budget.epochs 1 -> 2"] and run["plan"]["budget"]["epochs"] == 2
    assert json.loads((folder / "parts" / f"{FINAL}.json").read_text())["config"]["epochs"] == 2


def test_a_sweep_run_of_another_bench_version_is_refused(tmp_path, in_process):
    folder = sweep.run_sweep(SPACE, tmp_path / "runs", progress=False)
    run = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**run, "bench_version": "0.0.1"}))
    with pytest.raises(ConfigError, match=r"bench version 0\.0\.1 -> "):
        sweep.run_sweep(SPACE, tmp_path / "runs", resume=folder, progress=False)
    del run["bench_version"]  # a run.json from before it was recorded: its versions.bench counts
    (folder / "run.json").write_text(json.dumps({**run, "versions": {**run["versions"], "bench": "0.0.2"}}))
    with pytest.raises(ConfigError, match=r"bench version 0\.0\.2 -> "):
        sweep.run_sweep(SPACE, tmp_path / "runs", resume=folder, progress=False)


def test_bench_sweep_resume_with_an_edited_space_is_one_line_and_bench_report_names_a_renamed_part(tmp_path,
                                                                                                    in_process):
    folder = sweep.run_sweep(SPACE, tmp_path / "runs", progress=False)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_space(levels=["adam"], budget={"trials_per_level": 2, "epochs": 3, "seeds": 1})))
    before = tree(folder)
    one_line_error(bench("sweep", str(path), "--resume", str(folder)), str(folder), "budget.epochs 1 -> 3", "--force")
    assert tree(folder) == before
    for table in folder.glob("*.parquet"):  # an interrupted run: the report reads the parts
        table.unlink()
    (folder / "parts" / f"{FINAL}.json").rename(folder / "parts" / "renamed.json")
    res = bench("report", str(folder), "--out", str(tmp_path / "reports"))
    assert res.returncode == 0 and "Traceback" not in res.stdout + res.stderr, res.stderr[-2000:]
    [line] = warnings(res.stderr)
    assert "renamed.json" in line and f"holds trial '{FINAL}'" in line


# --- studies and the FAQ -----------------------------------------------------------------------------------------
def test_a_study_resume_with_other_settings_is_refused_before_anything_is_deleted_and_forced(tmp_path):
    from bench.studies.common import Study

    quiet = lambda line: None  # noqa: E731
    Study("demo", tmp_path, "tiny", 1, quiet, "notes").lock.close()
    (tmp_path / "demo" / "cache").mkdir()
    (tmp_path / "demo" / "cache" / "kept.json").write_text("{}")
    before = tree(tmp_path / "demo")
    with pytest.raises(ConfigError, match=r"other inputs \(size \"tiny\" -> \"quick\"\)"):
        Study("demo", tmp_path, "quick", 1, quiet, "notes", resume=True)
    assert tree(tmp_path / "demo") == before
    study = Study("demo", tmp_path, "quick", 1, quiet, "notes", resume=True, force=True)
    study.lock.close()
    run = json.loads((tmp_path / "demo" / "run.json").read_text())
    assert run["forced"] == ['size "tiny" -> "quick"'] and run["plan"]["size"] == "quick"


def test_a_faq_resume_with_another_budget_is_refused_before_anything_trains_and_forced(tmp_path, monkeypatch):
    import bench.faq.main
    from bench.faq.main import answer, experiments_for, select
    from bench.results import plan_identity, provenance
    from bench.search.experiment import BUDGETS, experiment_identity

    [exp] = experiments_for(select(["8.2"]), BUDGETS["quick"])
    runs = tmp_path / "runs"
    ResultStore(runs / exp.name).write_provenance(provenance({**experiment_identity(exp, BUDGETS["quick"]),
                                                              "complete": False}))
    assert plan_identity("faq", {"a": (1, 2)})["plan"] == {"a": [1, 2]}  # as run.json gives it back
    monkeypatch.setattr(InProcess, "run", lambda *a, **k: pytest.fail("a trial trained"))
    faq = lambda **kw: answer(["8.2"], "tiny", tmp_path / "out", runs, tmp_path / "studies", reuse=True,  # noqa: E731
                              runner=InProcess(), log=lambda line: None, **kw)
    with pytest.raises(ConfigError, match=rf"{runs / exp.name} was started with other inputs "
                                          r"\(budget\.name \"quick\" -> \"tiny\"\).*--force"):
        faq()
    assert tree(runs / exp.name) == ["run.json"]

    def run_experiment(exp, budget, root, runner, log, forced, resume):
        raise RuntimeError(f"forced: {forced}")

    monkeypatch.setattr(bench.faq.main, "run_experiment", run_experiment)
    with pytest.raises(RuntimeError, match=r"forced: \['budget\.name \"quick\" -> \"tiny\"'\]"):
        faq(force=True)
