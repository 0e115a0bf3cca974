"""The FAQ's experiments on the protocol's engine: each cell a protocol group proposed by the LR grid, its LR
resting on two seeds (the confirm step), refinement around the seed-0 best, a cell that takes another level's LR
waiting for that choice; the driver running the searcher's trials in process with the trial cache; and
`bench faq --from-runs`, which judges an earlier run's tables without training."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.report.units import duration
from bench.search.experiment import BUDGETS, Cell, Experiment, plan_experiment, run_experiment
from bench.search.protocol import TrialSummary
from bench.search.runners import InProcess
from bench.search.space import CONFIRM_SEED_OFFSET
from bench.search.tune import GridSearch, ProtocolSearcher

CNN = {"workload": "mnist1d-cnn", "optimizer": "adam"}
GRID = (1e-3, 1e-2, 1e-1)


def plan_of(cells, confirm=2, refine=False, lrs=GRID):
    budget = dataclasses.replace(BUDGETS["quick"], lrs=lrs, refine=refine, confirm=confirm)
    return plan_experiment(Experiment("e", "optimizer", tuple(cells)), budget, Path("unused"), print)


def plant(g, tune: dict[float, float], confirm: dict[float, float] = ()):
    """Finished tuning trials at the grid's LRs, then confirm trials of the LRs given (-inf/inf: diverged)."""
    for tid, lr in zip(g.tuning_ids(), GRID, strict=False):
        if lr in tune:
            g.record(TrialSummary(tid, {"lr": lr}, "ok" if math.isfinite(tune[lr]) else "diverged", tune[lr]))
    for cid, o in g.confirm_ids().items():
        if o.params["lr"] in dict(confirm):
            v = dict(confirm)[o.params["lr"]]
            g.record(TrialSummary(cid, o.params, "ok" if math.isfinite(v) else "diverged", v))


def test_the_lr_that_diverges_on_the_confirm_seed_is_not_chosen():
    """The seed-0 best LR sits at the edge of stability: on the confirm seed it diverges. Chosen on one seed the
    final seeds would re-run it; the confirm step picks the runner-up."""
    g = plan_of([Cell("g", "adam", CNN)]).groups[0]
    assert g.grid == GRID and g.trials == 3 and g.confirm == 2 and g.confirm_seed == CONFIRM_SEED_OFFSET
    plant(g, {1e-3: 0.50, 1e-2: 0.91, 1e-1: 0.90}, {1e-2: -math.inf, 1e-1: 0.88})
    assert g.best().params == {"lr": 1e-1}
    alone = plan_of([Cell("g", "adam", CNN)], confirm=0).groups[0]
    plant(alone, {1e-3: 0.50, 1e-2: 0.91, 1e-1: 0.90})
    assert alone.best().params == {"lr": 1e-2}  # one seed: the unstable LR


def test_the_choice_is_the_mean_over_both_seeds_in_each_direction():
    g = plan_of([Cell("g", "adam", CNN)]).groups[0]
    plant(g, {1e-3: 0.50, 1e-2: 0.91, 1e-1: 0.90}, {1e-2: 0.80, 1e-1: 0.89})  # means 0.855, 0.895
    assert g.best().params == {"lr": 1e-1}
    g = plan_of([Cell("a", "gru", {"workload": "adding", "seq_len": 20})]).groups[0]
    assert (g.metric, g.mode) == ("val_mse", "min")
    plant(g, {1e-3: 0.30, 1e-2: 0.05, 1e-1: 0.06}, {1e-2: 0.20, 1e-1: 0.07})
    assert g.best().params == {"lr": 1e-1}


def test_the_grid_refines_around_its_seed0_best_with_ties_to_the_smaller_lr(tmp_path):
    g = plan_of([Cell("g", "adam", CNN)], refine=True).groups[0]
    assert g.trials == 5
    grid = GridSearch(g)
    assert [grid.ask("t", t, None) for t in g.tuning_ids()[:3]] == [{"lr": lr} for lr in GRID]
    plant(g, {1e-3: 0.2, 1e-2: 0.9, 1e-1: 0.9})
    assert [grid.ask("t", t, None)["lr"] for t in g.tuning_ids()[3:]] == [pytest.approx(0.00316), pytest.approx(0.0316)]
    dead = plan_of([Cell("g", "adam", CNN)], refine=True)
    plant(dead.groups[0], {lr: -math.inf for lr in GRID})
    searcher = ProtocolSearcher(dead, tmp_path, 1)
    assert searcher.suggest("t") == "FINISHED" and dead.finished()  # nothing to refine around: never run
    assert dead.groups[0].done[dead.groups[0].tuning_ids()[3]].status == "error"


def test_a_cell_with_another_levels_lr_waits_for_that_choice():
    plan = plan_of([Cell("g", "adam", CNN), Cell("g", "adam+wd", {**CNN, "weight_decay": 1e-4}, lr="adam")])
    tuned, follower = plan.groups
    assert follower.lr_from is tuned and not follower.tuned and follower.next_final() is None
    plant(tuned, {1e-3: 0.5, 1e-2: 0.9, 1e-1: 0.8}, {1e-2: 0.9, 1e-1: 0.8})
    assert follower.next_final() == ("g.adam+wd.seed-1", 1) and follower.best().params == {"lr": 1e-2}
    dead = plan_of([Cell("g", "adam", CNN), Cell("g", "adam+wd", CNN, lr="adam")])
    plant(dead.groups[0], {lr: -math.inf for lr in GRID})
    assert dead.groups[1].dropped() and dead.finished()


def test_the_in_process_driver_runs_the_searchers_trials_and_trains_identical_ones_once(tmp_path):
    cells = (Cell("g", "adam", CNN), Cell("g", "fixed", CNN, lr=0.005))  # not a grid LR: no config in common
    lines: list[str] = []
    first = run_experiment(Experiment("one", "optimizer", cells), BUDGETS["tiny"], tmp_path, InProcess(), lines.append)
    trials = pd.read_parquet(first / "trials.parquet")
    assert trials.groupby(["level", "phase"]).size().to_dict() == {
        ("adam", "confirm"): 2, ("adam", "final"): 2, ("adam", "tune"): 2, ("fixed", "final"): 2}
    assert set(trials.loc[trials["phase"] == "confirm", "seed"]) == {CONFIRM_SEED_OFFSET}
    assert not any("(cached)" in line for line in lines)
    run_experiment(Experiment("two", "optimizer", cells[1:]), BUDGETS["tiny"], tmp_path, InProcess(), lines.append)
    assert sum("(cached)" in line for line in lines) == 2  # the fixed cell's seeds: identical configs


def test_a_cache_entry_edited_by_hand_is_discarded_and_its_trial_trains_again(tmp_path, capsys):
    """A cache entry is a part (same checks, same sha256): one whose score was edited after its trial wrote it
    must not feed a later experiment; it is named in a warning, discarded, and its trial trains again, giving the
    first run's score."""
    import json

    cells = (Cell("g", "fixed", CNN, lr=0.005),)
    first = pd.read_parquet(run_experiment(Experiment("one", "optimizer", cells), BUDGETS["tiny"], tmp_path,
                                           InProcess(), print) / "trials.parquet")
    entries = sorted((tmp_path / "cache").glob("*.json"))
    assert len(entries) == len(first) == 2
    data = json.loads(entries[0].read_text())
    edited = data["trial_id"]
    data["final"]["test_acc"] = 0.999  # the sha256 inside now disagrees
    entries[0].write_text(json.dumps(data))
    lines: list[str] = []
    again = pd.read_parquet(run_experiment(Experiment("two", "optimizer", cells), BUDGETS["tiny"], tmp_path,
                                           InProcess(), lines.append) / "trials.parquet")
    assert f"unusable cache entry {entries[0]}" in capsys.readouterr().err
    assert sum("(cached)" in line for line in lines) == 1  # the other seed's entry still serves
    scores = [df.set_index("seed")["test_acc"] for df in (first, again)]
    pd.testing.assert_series_equal(*scores)  # the edited one trained again, to its true score
    assert edited.startswith("g.fixed") and json.loads(entries[0].read_text())["final"]["test_acc"] != 0.999


def test_sweeps_and_experiments_write_one_kind_of_trial_tags():
    """Both front-ends' records carry TrialTags: each names its comparison group (a sweep's is its workload), the
    FAQ its experiment, a sweep its sweep, and neither writes the other's. No tag is named `workload`: that
    column of a record is its config's."""
    from dataclasses import fields

    from bench.search.protocol import FINAL, Plan, TrialTags
    from bench.search.space import load_space

    names = {f.name for f in fields(TrialTags)}
    group = plan_of([Cell("g", "adam", CNN)]).groups[0]
    assert (group.group, group.workload) == ("g", "mnist1d-cnn")  # a FAQ group is not its config's workload
    faq = group.tags(None, "tune")
    assert set(faq) <= names and (faq["experiment"], faq["group"], faq["level"]) == ("e", "g", "adam")
    assert faq["tune_mode"] == "max" and not {"sweep", "workload", "chance"} & set(faq)
    space = load_space({"name": "s", "compare": "optimizer", "levels": ["adam"], "workloads": ["mnist1d-cnn"],
                        "tune": {"lr": {"min": 1e-3, "max": 1e-1, "scaling": "log"}}, "budget": {"confirm": 0}})
    g = Plan(space).groups[0]
    sweep = g.tags(space, FINAL)
    assert set(sweep) <= names and (sweep["sweep"], sweep["group"], sweep["lr_min"]) == ("s", "mnist1d-cnn", 1e-3)
    assert not {"experiment", "tune_mode"} & set(sweep) and "workload" not in names


def test_the_faq_describes_and_judges_but_never_trains_or_reads_data_itself():
    """bench/faq imports neither the training core nor the workloads (AST scan of every module, lazy imports
    included): what it needs of them comes through the engine (bench.search.experiment)."""
    import ast

    import bench.faq

    forbidden = {"bench.train", "bench.workloads"}
    for path in Path(bench.faq.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module, *(f"{node.module}.{a.name}" for a in node.names)] if isinstance(node, ast.ImportFrom) else []
            assert not forbidden & set(names), f"{path.name} line {node.lineno} imports {forbidden & set(names)}"


COMMITTED = Path(__file__).resolve().parents[1] / "reports" / "examples" / "faq" / "runs"


@pytest.mark.slow
def test_from_runs_judges_committed_runs_without_training(tmp_path, monkeypatch):
    """`bench faq --from-runs` re-judges and re-renders an earlier run's tables: no trial trains, no Ray starts,
    and the page states the budget those runs recorded (the recipes' quick epochs, each LR confirmed on a second
    seed) and that it
    was judged, not trained, in those minutes."""
    import bench.faq.main
    from bench.faq.questions import QUESTIONS

    monkeypatch.setattr(bench.faq.main, "run_experiment", lambda *a, **k: pytest.fail("a trial trained"))
    res = CliRunner().invoke(app, ["faq", "--questions", "8.2", "--from-runs", str(COMMITTED), "--out", str(tmp_path / "o"),
                                   "--studies", str(tmp_path / "studies")])
    assert res.exit_code == 0, res.output
    assert "starting Ray" not in res.output and f"judged from {COMMITTED / 'losses'}" in res.output
    md = (tmp_path / "o" / "faq.md").read_text()
    budget = next(line for line in md.splitlines() if line.startswith("- Budget:"))
    assert budget.startswith("- Budget: quick: LR grid") and "second seed" in budget and "recipe's epochs" in budget
    generated = next(line for line in md.splitlines() if line.startswith("- Generated:"))
    infos = [json.loads(p.read_text()) for p in COMMITTED.glob("*/run.json")]  # the training's time, from its run.json
    assert "no trial trained" in generated and f"{len(infos)} experiments and studies that trained for " \
        f"{duration(sum(i['wall_time'] for i in infos))} in all on 2 CPU cores, no GPU" in generated, generated
    table = pd.read_csv(tmp_path / "o" / "verdicts.csv")
    assert set(table["claim"]) == {c.id for q in QUESTIONS if q.id == "8.2" for c in q.claims}


def test_from_runs_without_the_experiment_is_a_one_line_error(tmp_path):
    (tmp_path / "runs" / "optimizers").mkdir(parents=True)
    res = CliRunner().invoke(app, ["faq", "--questions", "8.2", "--from-runs", str(tmp_path / "runs"),
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "\n" not in res.stderr.strip()
    assert res.stderr.startswith("error: ") and "holds no run of experiment 'losses'" in res.stderr
    assert not (tmp_path / "o").exists()  # nothing written, not even an empty --out folder
