"""--dry-run: the plan (groups, trials per phase, epochs, slots) and a wall-time estimate from a calibration on this
machine, for a sweep, the FAQ and a study; nothing runs and nothing is written."""
from __future__ import annotations

import os

import pytest
import yaml
from typer.testing import CliRunner

from bench.cli import app
from bench.search.estimate import (
    RAY_START_S,
    TRIAL_OVERHEAD_S,
    Estimate,
    Price,
    asha_epochs,
    calibrate_plans,
    calibration_key,
    price_plan,
)
from bench.search.protocol import Plan
from bench.search.space import load_space

runner = CliRunner()
SPACE = {"name": "tiny", "compare": "optimizer", "levels": ["adam", "sgd"], "workloads": ["mnist1d-cnn", "mnist1d-mlp"],
         "fixed": {"width": 4, "fc_width": 8, "depth": 1, "n_train": 256},
         "tune": {"lr": {"min": 1.0e-3, "max": 1.0e-1, "scaling": "log"}},
         "budget": {"trials_per_level": 3, "epochs": 4, "seeds": 2, "confirm": 1, "asha": False}}


def test_asha_prices_a_tuning_trial_at_the_epochs_it_runs_on_average():
    # rungs 1 and 3 of 9 epochs, a third going on at each: 1 + (3 - 1) / 3 + (9 - 3) / 9
    assert asha_epochs(9, [1, 3], 3) == pytest.approx(1 + 2 / 3 + 6 / 9)
    assert asha_epochs(9, [], 3) == 9


def test_a_price_is_setup_plus_steps_plus_one_evaluation_per_epoch():
    p = Price(setup=2.0, per_step=0.1, per_eval=0.5, steps_per_epoch=10)
    assert p.trial(3) == pytest.approx(2 + 30 * 0.1 + 3 * 0.5)
    assert p.trial(3, max_steps=15) == pytest.approx(2 + 15 * 0.1 + 2 * 0.5)  # max_steps ends it in epoch 2


def test_levels_that_differ_only_in_the_optimizer_share_one_calibration():
    plan = Plan(load_space(SPACE))
    seen, prices = [], {}
    price = Price(1.0, 0.01, 0.1, 4)
    calibrate_plans([plan, plan], prices, lambda cfgs: [seen.append(c.workload) or price for c in cfgs])
    calibrate_plans([plan], prices, lambda cfgs: [seen.append(c.workload) or price for c in cfgs])  # priced already
    rows, seconds, trials = price_plan(plan, prices, "tiny")
    assert sorted(seen) == ["mnist1d-cnn", "mnist1d-mlp"]  # adam and sgd: one calibration per workload
    assert trials == plan.total() == 4 * (3 + 1 + 2)
    assert [(r["tune"], r["confirm"], r["final"], r["epochs"]) for r in rows] == [(3, 1, 2, 4)] * 4
    assert seconds == pytest.approx(trials * price.trial(4))
    a, b = (g.base for g in plan.groups[:2])
    assert calibration_key(a) == calibration_key(b) and calibration_key(a) != calibration_key(a.replace(width=8))


def test_the_calibration_runs_at_the_niceness_of_rays_workers(monkeypatch):
    from bench.search.estimate import like_workers

    monkeypatch.setenv("RAY_worker_niceness", "7")
    assert like_workers(os.nice, [0]) == [min(19, os.nice(0) + 7)]  # os.nice(0): the process's niceness


def test_the_wall_time_divides_the_trials_among_the_slots():
    est = Estimate([], trial_seconds=100.0, trials=10, slots=4, extra_seconds=7.0)
    assert est.wall == pytest.approx(RAY_START_S + (100 + 10 * TRIAL_OVERHEAD_S) / 4 + 7)


def files_under(folder) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


@pytest.mark.slow
def test_sweep_dry_run_prints_the_plan_and_an_estimate_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_worker_niceness", "0")  # the test's own share of a busy machine, not a nice-15 one
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    monkeypatch.chdir(tmp_path)
    before = files_under(tmp_path)
    res = runner.invoke(app, ["sweep", str(path), "--dry-run", "--out", "runs"])
    assert res.exit_code == 0, res.output
    assert f"trials: 24 in 4 groups; slots: {os.cpu_count()} at once" in res.output
    assert "estimated wall time: " in res.output and "mnist1d-mlp" in res.output
    assert files_under(tmp_path) == before and not (tmp_path / "runs").exists()
    res = runner.invoke(app, ["sweep", str(path), "--dry-run", "--resume", "last"])
    assert res.exit_code == 2 and "drop --resume" in res.output


@pytest.mark.slow
def test_faq_and_study_dry_runs_write_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_worker_niceness", "0")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["faq", "--dry-run", "--budget", "tiny", "--questions", "8.1", "--out", "o", "--runs", "r"])
    assert res.exit_code == 0, res.output
    assert "trials: " in res.output and "estimated wall time: " in res.output and files_under(tmp_path) == []
    res = runner.invoke(app, ["study", "vanishing", "--quick", "--dry-run", "--out", "s"])
    assert res.exit_code == 0, res.output
    assert "deep_steps 300" in res.output and "as measured in" in res.output and files_under(tmp_path) == []
    res = runner.invoke(app, ["study", "vanishing", "--dry-run", "--out", "s"])  # full: never measured here
    assert res.exit_code == 0 and "no measured run at this size" in res.output
