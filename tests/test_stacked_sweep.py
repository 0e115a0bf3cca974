"""A sweep's final seeds trained as one stacked model (run_sweep(stack_seeds=True), the default on a GPU): the
searcher hands a group's final seeds out as one task where the config allows, and the records equal an unstacked
sweep's. The sweeps here run in this process: the searcher's suggestions go straight to sweep_trial, as Tune would
hand them to a worker one at a time."""
from __future__ import annotations

import json
import math

import pytest
from ray.tune.search import Searcher

from bench.results import ResultStore
from bench.search.protocol import FINAL, Plan
from bench.search.space import load_space
from bench.search.trial import members, sweep_trial
from bench.search.tune import ProtocolSearcher
from tests.test_sweep import TINY, tiny_space

ONE_LEVEL = {"trials_per_level": 2, "epochs": 2, "seeds": 3, "confirm": 1, "asha": False}


def drive(space, folder, stack: bool, run=sweep_trial) -> list[dict]:
    """Every task of a sweep, each run to its end before the next is asked for; returns the tasks."""
    searcher = ProtocolSearcher(Plan(space), folder, 1, stack_seeds=stack)
    tasks = []
    while isinstance(task := searcher.suggest(f"t{len(tasks)}"), dict):
        searcher.on_trial_complete(f"t{len(tasks)}", run(task))
        tasks.append(task)
    assert task == Searcher.FINISHED, "the searcher waits for trials it handed out that never finished"
    return tasks


def fake_run(task: dict) -> dict:
    """A task's outcome without training: every trial ok, its objective from its seed and lr."""
    outcomes = [{"trial_id": tid, "final": True, "status": "ok", "score": 0.5, "objective": cfg["lr"] + cfg["seed"] / 1e3}
                for tid, cfg in members(task)]
    return {**outcomes[0], "outcomes": outcomes} if task.get("stack") else outcomes[0]


def test_stacked_sweep_records_equal_the_unstacked_sweeps(tmp_path):
    space = load_space(tiny_space(levels=["adam"], budget=ONE_LEVEL, fixed={**TINY, "probe_every": 0}))
    plain, stacked = drive(space, tmp_path / "plain", False), drive(space, tmp_path / "stacked", True)
    finals = [t for t in stacked if t["phase"] == FINAL]
    assert len(finals) == 1 and [e["seed"] for e in finals[0]["stack"]] == [1, 2, 3]
    assert len([t for t in plain if t["phase"] == FINAL]) == 3 and not any(t.get("stack") for t in plain)
    records = {d: {r.trial_id: r for r in ResultStore(tmp_path / d).finished()} for d in ("plain", "stacked")}
    assert sorted(records["plain"]) == sorted(records["stacked"]) and len(records["plain"]) == 2 + 1 + 3
    for tid, want in records["plain"].items():
        got = records["stacked"][tid]
        assert (got.config, got.status, got.tags.keys()) == (want.config, want.status, want.tags.keys()), tid
        assert got.tags["score"] == pytest.approx(want.tags["score"], rel=1e-4), tid
        assert got.tags["objective"] == pytest.approx(want.tags["objective"], rel=1e-4), tid
        assert got.final["test_loss"] == pytest.approx(want.final["test_loss"], rel=1e-4), tid
    timers = {records["stacked"][tid].epochs[0]["epoch_time"] for tid in records["stacked"] if ".seed-" in tid}
    assert len(timers) == 1  # the three seeds trained as one run: one epoch timer


def test_each_stacked_seed_is_written_down_before_it_starts(tmp_path):
    space = load_space(tiny_space(levels=["adam"], budget=ONE_LEVEL))
    searcher = ProtocolSearcher(Plan(space), tmp_path, 1, stack_seeds=True)
    for k in range(3):  # 2 tuning trials, 1 confirm trial
        searcher.on_trial_complete(f"t{k}", fake_run(searcher.suggest(f"t{k}")))
    task = searcher.suggest("t3")
    assert [e["seed"] for e in task["stack"]] == [1, 2, 3] and searcher.suggest("t4") is None
    written = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "suggested").glob("*.seed-*.json")}
    assert {d["seed"] for d in written.values()} == {1, 2, 3}
    assert all(d["params"] == {"lr": task["config"]["lr"]} for d in written.values())  # the chosen config
    searcher.on_trial_complete("t3", fake_run(task))
    assert searcher.plan.finished() and searcher.suggest("t5") == Searcher.FINISHED


@pytest.mark.parametrize("fixed, stack, stacked", [
    ({}, True, True), ({}, False, False), ({"dropout": 0.1}, True, False), ({"batch_norm": True}, True, False),
])
def test_seeds_are_stacked_only_when_asked_and_the_config_allows(tmp_path, fixed, stack, stacked):
    space = load_space(tiny_space(levels=["adam"], budget=ONE_LEVEL, fixed={**TINY, **fixed}))
    finals = [t for t in drive(space, tmp_path, stack, run=fake_run) if t["phase"] == FINAL]
    assert [len(members(t)) for t in finals] == ([3] if stacked else [1, 1, 1])
    assert sorted(cfg["seed"] for t in finals for _, cfg in members(t)) == [1, 2, 3]
    assert all(math.isfinite(cfg["lr"]) for t in finals for _, cfg in members(t))


@pytest.mark.parametrize("flag, want", [([], None), (["--stack-seeds"], True), (["--no-stack-seeds"], False)])
def test_sweep_command_passes_the_stacking_choice_on(flag, want, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import bench.search.sweep
    from bench.cli import app

    seen = {}

    def fake_run_sweep(space, out, **kw):
        seen.update(kw)
        raise KeyboardInterrupt  # the command's clean stop: nothing else runs

    monkeypatch.setattr(bench.search.sweep, "run_sweep", fake_run_sweep)
    res = CliRunner().invoke(app, ["sweep", "optimizers", "--quick", "--out", str(tmp_path), *flag])
    assert res.exit_code == 130 and seen["stack_seeds"] is want, res.output
