"""The workload benchmark scripts run end to end on a tiny size (their figures come from full runs, not tests)."""
from __future__ import annotations

import math
import runpy
from dataclasses import replace
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def script(monkeypatch):
    """Load a benchmark script as a module (not as __main__), restoring torch's thread count afterwards."""
    threads = torch.get_num_threads()
    yield lambda name: runpy.run_path(str(BENCHMARKS / name), run_name="benchmark")
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_mnist1d_baselines_quick(script, capsys):
    module = script("mnist1d_baselines.py")
    results = module["main"](["--quick", "--models", "mlp"])
    assert set(results) == {"mlp"} and 0.0 <= results["mlp"][0] <= 1.0
    out = capsys.readouterr().out
    assert "mnist1d-mlp  seed 0" in out and "published" in out
    assert module["passed"]({"cnn": [0.95, 0.93, 0.94]}) and not module["passed"]({"gru": [0.9, 0.85, 0.86]})


@pytest.mark.slow
def test_workload_targets_runs_the_workloads_recipe(script, capsys, monkeypatch):
    from bench import workloads

    module = script("workload_targets.py")
    assert module["main"](["--only", "mnist1d-mlp", "--seeds", "1", "--epochs", "1"]).keys() == {"mnist1d-mlp"}
    out = capsys.readouterr().out
    assert "mnist1d-mlp              seed 0 ok" in out and "STALE" not in out  # the goal rests on this recipe
    changed = workloads.Recipe({**workloads.MLP.settings, "width": 32}, workloads.MLP.epochs)  # a recipe changed ...
    monkeypatch.setitem(workloads.WORKLOADS, "mnist1d-mlp",
                        replace(workloads.WORKLOADS["mnist1d-mlp"], recipe=changed))  # ... without a new measurement
    assert "STALE: measured on other settings" in module["summary"]("mnist1d-mlp", [0.5])


@pytest.mark.slow
def test_adding_task_quick(script, capsys):
    module = script("adding_task.py")
    rows = module["main"](["--quick", "--cells", "gru,rnn"])
    assert [(r["cell"], r["T"], r["steps"]) for r in rows] == [("gru", 10, 20), ("rnn", 10, 20)]
    assert all(math.isfinite(r["test_mse"]) for r in rows)
    assert "baseline (constant 1.0): test MSE 0.1667" in capsys.readouterr().out


def test_adding_claims_follow_the_stated_thresholds(script):
    claims = script("adding_task.py")["claims"]
    rows = [{"cell": "gru", "T": 50, "test_mse": m} for m in (1e-4, 2e-4, 0.1)]
    rows += [{"cell": "rnn", "T": 200, "test_mse": m} for m in (0.16, 0.05, math.nan)]
    assert [(c[1], c[2]) for c in claims(rows)] == [("2/3", True), ("2/3", True)]
    rows[1]["test_mse"] = 0.02  # 0.02 > 1/60: not a 10x win
    rows[3]["test_mse"] = 0.01
    assert [(c[1], c[2]) for c in claims(rows)] == [("1/3", False), ("1/3", False)]
