"""The FAQ runner's tuning decisions on planted trials: the LR of each level rests on two seeds (the protocol's
confirm step), the grid's ties go to the smaller LR, and refinement looks around the seed-0 best; and
`bench faq --from-runs`, which judges an earlier run's tables without training."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.faq.runner import BUDGETS, Cell, Runner
from bench.search.executors import Inline
from bench.search.space import CONFIRM_SEED_OFFSET

CELL = Cell("g", "adam", {"workload": "mnist1d-cnn", "optimizer": "adam"})


def result(phase: str, lr: float, value: float, mode: str = "max") -> tuple[str, dict]:
    status = "ok" if math.isfinite(value) else "diverged"
    tid = f"g.adam.{phase}-lr{lr:.3g}"
    return tid, {"trial_id": tid, "cell": CELL, "phase": phase, "config": {"lr": lr}, "status": status,
                 "tags": {"objective": value, "tune_mode": mode}}


def runner(tmp_path, confirm: int) -> Runner:
    return Runner(dataclasses.replace(BUDGETS["quick"], confirm=confirm), tmp_path, Inline(), log=lambda line: None)


def planted(tune: dict[float, float], confirm: dict[float, float], mode: str = "max") -> dict[str, dict]:
    return dict([result("tune", lr, v, mode) for lr, v in tune.items()]
                + [result("confirm", lr, v, mode) for lr, v in confirm.items()])


def test_the_lr_that_diverges_on_the_confirm_seed_is_not_chosen(tmp_path):
    """The seed-0 best LR sits at the edge of stability: on the confirm seed it diverges (NaN objective). Chosen
    on one seed the final seeds would re-run it; the confirm step picks the runner-up."""
    results = planted({1e-3: 0.50, 1e-2: 0.91, 1e-1: 0.90}, {1e-2: math.nan, 1e-1: 0.88})
    assert runner(tmp_path, confirm=2).best_lr(CELL, results) == 1e-1
    assert runner(tmp_path, confirm=0).best_lr(CELL, results) == 1e-2  # one seed: the unstable LR


def test_the_choice_is_the_mean_over_both_seeds_in_each_direction(tmp_path):
    results = planted({1e-3: 0.50, 1e-2: 0.91, 1e-1: 0.90}, {1e-2: 0.80, 1e-1: 0.89})  # means 0.855, 0.895
    assert runner(tmp_path, confirm=2).best_lr(CELL, results) == 1e-1
    losses = planted({1e-3: 0.30, 1e-2: 0.05, 1e-1: 0.06}, {1e-2: 0.20, 1e-1: 0.07}, mode="min")
    assert runner(tmp_path, confirm=2).best_lr(CELL, losses) == 1e-1
    unconfirmed = planted({1e-3: 0.30, 1e-2: 0.05, 1e-1: 0.06}, {1e-2: 0.20}, mode="min")  # a confirm run missing
    assert runner(tmp_path, confirm=2).best_lr(CELL, unconfirmed) == 1e-2  # 1e-1 counts as failed: worst


def test_seed0_ranking_breaks_ties_by_the_smaller_lr_and_refines_around_the_best(tmp_path):
    run = runner(tmp_path, confirm=2)
    results = planted({1e-1: 0.9, 1e-2: 0.9, 1e-3: 0.2, 1e-4: math.nan}, {})
    assert [o.params["lr"] for o in run.ranked(CELL, results)] == [1e-2, 1e-1, 1e-3]  # diverged: not ranked
    assert run.refinements(CELL, results) == [pytest.approx(0.00316), pytest.approx(0.0316)]
    assert run.best_lr(CELL, planted({1e-4: math.nan}, {})) is None


def test_confirm_trials_use_the_protocols_confirm_seed_and_their_own_ids(tmp_path):
    run = runner(tmp_path, confirm=2)
    job = run.job(CELL, "confirm", 0.01, CONFIRM_SEED_OFFSET)
    assert job.trial_id == "g.adam.confirm-lr0.01" and job.config.seed == CONFIRM_SEED_OFFSET
    assert CONFIRM_SEED_OFFSET not in range(1, BUDGETS["full"].seeds + 1)  # never a final seed
    assert BUDGETS["quick"].confirm == 2 and BUDGETS["full"].confirm == 3


COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "examples" / "faq" / "runs"


@pytest.mark.slow
def test_from_runs_judges_committed_runs_without_training(tmp_path, monkeypatch):
    """`bench faq --from-runs` re-judges and re-renders an earlier run's tables: no trial trains, no Ray starts,
    and the page states the budget those runs recorded (they predate the confirm step: no confirm runs)."""
    import bench.faq.runner as runner_module
    from bench.faq.questions import QUESTIONS

    monkeypatch.setattr(runner_module, "train", lambda cfg: pytest.fail("a trial trained"))
    res = CliRunner().invoke(app, ["faq", "--questions", "8.2", "--from-runs", str(COMMITTED), "--out", str(tmp_path / "o"),
                                   "--studies", str(tmp_path / "studies")])
    assert res.exit_code == 0, res.output
    assert "starting Ray" not in res.output and f"judged from {COMMITTED / 'losses'}" in res.output
    md = (tmp_path / "o" / "faq.md").read_text()
    budget = next(line for line in md.splitlines() if line.startswith("- Budget:"))
    assert budget.startswith("- Budget: quick: LR grid") and "second seed" not in budget
    table = pd.read_csv(tmp_path / "o" / "verdicts.csv")
    assert set(table["claim"]) == {c.id for q in QUESTIONS if q.id == "8.2" for c in q.claims}


def test_from_runs_without_the_experiment_is_a_one_line_error(tmp_path):
    (tmp_path / "runs" / "optimizers").mkdir(parents=True)
    res = CliRunner().invoke(app, ["faq", "--questions", "8.2", "--from-runs", str(tmp_path / "runs"),
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "\n" not in res.stderr.strip()
    assert res.stderr.startswith("error: ") and "holds no run of experiment 'losses'" in res.stderr
    assert not (tmp_path / "o" / "faq.md").exists()
