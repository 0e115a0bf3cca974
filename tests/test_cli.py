"""End-to-end CLI: run writes tidy files; bad input gives one line on stderr and exit code 2."""
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.mark.slow
def test_run_end_to_end(tmp_path):
    res = invoke("run", "--workload", "mnist1d-cnn", "--epochs", "2", "--lr", "3e-3", "--out", str(tmp_path),
                 "--set", "width=8", "--set", "threads=1")
    assert res.exit_code == 0, res.output
    assert "epoch   2" in res.output and "test_acc" in res.output
    folder = next(tmp_path.glob("run-*"))
    trials = pd.read_parquet(folder / "trials.parquet")
    assert trials.loc[0, "width"] == 8 and trials.loc[0, "status"] == "ok"
    epochs = pd.read_parquet(folder / "epochs.parquet")
    assert set(epochs["epoch"]) == {1, 2} and {"train", "val"} <= set(epochs["split"])
    val_loss = epochs[(epochs["split"] == "val") & (epochs["metric"] == "loss")]["value"]
    assert len(val_loss) == 2 and trials.loc[0, "best_val_loss"] == pytest.approx(val_loss.min())
    gradients = pd.read_parquet(folder / "gradients.parquet")
    assert len(gradients) > 0 and set(gradients["trial_id"]) == set(trials["trial_id"])
    provenance = json.loads((folder / "run.json").read_text())
    assert "git_commit" in provenance and "torch" in provenance["versions"]


@pytest.mark.parametrize("args,message", [
    (["--workload", "mnist2d"], "unknown workload 'mnist2d'; choose one of: mnist1d-cnn"),
    (["--optimizer", "adamm"], "unknown optimizer 'adamm'; choose one of:"),
    (["--activation", "relu6"], "unknown activation 'relu6'; choose one of:"),
    (["--lr", "0"], "lr must be > 0"),
    (["--lr", "-0.1"], "lr must be > 0"),
    (["--epochs", "0"], "epochs must be >= 1"),
    (["--set", "nonsense=1"], "unknown config key 'nonsense'"),
    (["--set", "width=wide"], "--set width: 'wide' is not a valid int"),
])
def test_bad_input_one_line_exit_2(tmp_path, args, message):
    res = invoke("run", "--out", str(tmp_path), *args)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.output
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = invoke("run", "--out", str(blocker / "sub"))
    assert res.exit_code == 2 and "cannot write to output folder" in res.stderr


@pytest.mark.parametrize("kind", ["optimizers", "schedules", "activations", "losses", "regularizers", "workloads", "config"])
def test_list(kind):
    res = invoke("list", kind)
    assert res.exit_code == 0
    assert {"optimizers": "nesterov", "schedules": "warmup_cosine", "activations": "softsign", "losses": "bce",
            "regularizers": "label_smoothing", "workloads": "mnist1d-gru", "config": "clip_norm"}[kind] in res.output


def test_list_unknown_kind():
    res = invoke("list", "optimisers")
    assert res.exit_code == 2 and "unknown registry 'optimisers'" in res.stderr


def test_lr_find(tmp_path):
    res = invoke("lr-find", "--workload", "mnist1d-mlp", "--steps", "40", "--out", str(tmp_path), "--set", "width=16")
    assert res.exit_code == 0, res.output
    assert "suggested lr" in res.output
    curve = pd.read_csv(next(tmp_path.glob("lrfind-*")) / "lr_range.csv")
    assert curve["lr"].is_monotonic_increasing and len(curve) >= 5
