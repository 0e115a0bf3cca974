"""End-to-end CLI: run writes tidy files; bad input gives one line on stderr and exit code 2."""
import json
import re
import subprocess
import sys
from dataclasses import fields

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.config import TrialConfig
from bench.registry import REGISTRIES
from bench.search.space import SPACES_DIR
from bench.workloads import get_workload

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.mark.slow
def test_run_end_to_end(tmp_path):
    res = invoke("run", "--workload", "mnist1d-cnn", "--epochs", "2", "--lr", "3e-3", "--out", str(tmp_path),
                 "--set", "width=8", "--set", "threads=1")
    assert res.exit_code == 0, res.output
    assert "epoch   2" in res.output and "test_acc" in res.output
    summary = res.output[res.output.index("status:"):res.output.index("results:")]
    assert not re.search(r"\d\.\d{5,}|\d{7,}|: nan", summary), summary  # no raw floats, no bare NaN
    assert re.search(r"samples_per_sec: [\d,]+ samples/s\n", summary) and re.search(r"wall_time: [\d.]+ s\n", summary)
    assert re.search(r"test_acc: \d+\.\d%\n", summary) and "FLOP/s" in summary
    folder = next(tmp_path.glob("run-*"))
    assert f"next: bench report {folder}" in res.output.replace("\n", "")
    trials = pd.read_parquet(folder / "trials.parquet")
    assert trials.loc[0, "width"] == 8 and trials.loc[0, "status"] == "ok"
    # what was not given comes from the workload's recipe (the model and schedule sweeps and the FAQ train)
    recipe = get_workload("mnist1d-cnn").recipe.settings
    assert trials.loc[0, "schedule"] == recipe["schedule"] and trials.loc[0, "batch_size"] == recipe["batch_size"]
    assert trials.loc[0, "optimizer"] == recipe["optimizer"] and trials.loc[0, "lr"] == 3e-3
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
    (["--lr", "nan"], "lr must be a finite number, got nan"),
    (["--set", "weight_decay=inf"], "weight_decay must be a finite number, got inf"),
    (["--set", "device=gpu"], "device 'gpu' is not one of auto, cpu, cuda, cuda:N, mps"),
    pytest.param(["--set", "device=cuda"], "device 'cuda': this machine has no CUDA GPU; use --set device=auto",
                 marks=pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")),
    (["--set", "device=cuda:99"], "device 'cuda:99': this machine has"),
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


def test_list_config_explains_every_key():
    res = runner.invoke(app, ["list", "config"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    lines = {line.split()[0]: line for line in res.output.splitlines() if line.strip()}
    for f in fields(TrialConfig):
        assert f.metadata.get("doc"), f"TrialConfig.{f.name} has no doc: add doc(default, 'one line') to it"
        assert f.metadata["doc"] in lines[f.name]
    assert "clip the gradient's total norm to this value; 0 = off" in lines["clip_norm"]


def test_list_inits_puts_each_description_in_its_column():
    res = runner.invoke(app, ["list", "inits"], env={"COLUMNS": "200"})
    header = next(line for line in res.output.splitlines() if line.split()[:1] == ["name"])
    assert header.split() == ["name", "description"]
    standard = next(line for line in res.output.splitlines() if line.split()[:1] == ["standard"])
    assert "Glorot & Bengio 2010" in standard[header.index("description"):]


LISTED = [name for name, reg in REGISTRIES.items() if reg.listed]


@pytest.mark.parametrize("argv", [["--help"], ["list", "config"], ["run", "--help"], ["list"], ["list", "spaces"],
                                  *(["list", name] for name in LISTED)])
def test_help_and_listing_import_no_heavy_library(argv):
    """They answer in well under a second because torch, ray, pandas and seaborn are imported only when needed:
    each registry's entries are described without importing what their builders need."""
    code = ("import sys; from typer.testing import CliRunner; from bench.cli import app; "
            f"r = CliRunner().invoke(app, {argv!r}); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'ray', 'pandas', 'seaborn', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("width", ["80", "200"])
@pytest.mark.parametrize("kind", LISTED)
def test_bench_list_is_one_row_per_entry_and_the_entry_shows_every_field(kind, width):
    """`bench list KIND` prints one line per entry, its name and short fields whole (only the description is cut to
    the terminal's width); `bench list KIND NAME` prints every word of every field of that entry."""
    from bench.cli import columns, describe, summary_columns

    res = runner.invoke(app, ["list", kind], env={"COLUMNS": width})
    assert res.exit_code == 0, res.output
    entries = REGISTRIES[kind].entries()
    short = [c for c in summary_columns(list(entries.values())) if c != "description"]
    lines = {line.split()[0]: line for line in res.output.splitlines()[2:] if line.strip() and line.split()[0] in entries}
    assert set(lines) == set(entries) and len(res.output.splitlines()) == len(entries) + 3  # title, header, hint
    for key, spec in entries.items():
        assert all(describe(spec)[c] in lines[key] for c in short), key
        assert len(lines[key].rstrip()) <= int(width)
    key, spec = next(iter(entries.items()))
    one = runner.invoke(app, ["list", kind, key], env={"COLUMNS": width})
    words = set(one.output.split())
    values = [v for col, v in describe(spec).items() if col in columns([spec])]
    assert one.exit_code == 0 and all(word in words for v in values for word in v.split())
    assert "nan" not in values  # a goal not measured reads '-'


def test_unknown_names_get_a_suggestion():
    res = invoke("run", "--optimizer", "Adam")
    assert res.exit_code == 2 and res.stderr.strip().endswith("(did you mean 'adam'?)")
    assert "did you mean 'workloads'" in invoke("list", "workload").stderr
    assert "did you mean 'mnist1d-cnn'" in invoke("list", "workloads", "mnist1d-cnnn").stderr
    assert "did you mean" not in invoke("run", "--optimizer", "zzz").stderr


def test_every_registry_is_listed_without_torch_and_still_builds_with_it():
    """The deferred imports keep each entry whole: the listing names every entry, and the builders behind the
    names still build (an activation its torch module, a cell its torch class)."""
    code = ("import sys; from typer.testing import CliRunner; from bench.cli import app; "
            "r = CliRunner().invoke(app, ['list'], env={'COLUMNS': '250'}); print(r.output); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.rstrip().endswith("False")
    for name in LISTED:
        assert all(f" {key} " in out for key in REGISTRIES[name].entries()), name
    from torch import nn

    from bench.components.activations import ACTIVATIONS
    from bench.models.rnn import RNNModel

    assert isinstance(ACTIVATIONS["leaky_relu"].build(), nn.LeakyReLU)
    assert isinstance(RNNModel(3, 2, "lstm", 4, 1, 4, "relu").rnn, nn.LSTM)


# --- bench sweep's terminal output, around a stand-in for the sweep itself ---------------------------------------

@pytest.fixture
def finished_sweep(tmp_path, monkeypatch):
    """A finished sweep folder named like a real one (with a space in the path) and run_sweep replaced by a stub
    that returns it, so that the CLI's own output is what is tested."""
    import json
    import shutil

    import bench.search.sweep as sweep
    from tests.report_fixture import make_run

    folder = make_run(tmp_path / "my runs" / "optimizers-20250101-120000")
    shutil.copy(SPACES_DIR / "optimizers.yaml", folder / "space.yaml")
    info = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**info, "complete": True, "finished_trials": 9, "total_trials": 9}))
    calls = []
    monkeypatch.setattr(sweep, "run_sweep", lambda *a, **kw: calls.append(kw) or folder)
    return folder, calls


def test_sweep_says_ray_is_starting_and_what_comes_next(finished_sweep):
    import shlex

    folder, calls = finished_sweep
    res = invoke("sweep", "optimizers", "--quick", "--out", str(folder.parent))
    assert res.exit_code == 0, res.output
    assert res.output.index("a private Ray on 127.0.0.1 (20-30 s") < res.output.index("mnist1d-cnn")
    assert f"next: bench report {shlex.quote(str(folder))}" in res.output
    assert "'" in shlex.quote(str(folder))  # the space in "my runs" is quoted, so the line can be pasted
    assert "already complete" not in res.output and len(calls) == 1


def test_resuming_a_complete_sweep_says_so(finished_sweep):
    folder, calls = finished_sweep
    res = invoke("sweep", "--resume", str(folder))
    assert res.exit_code == 0, res.output
    assert f"{folder} was already complete (9 trials): nothing was re-run" in res.output
    assert "private Ray" not in res.output


def test_sweep_leaderboard_is_the_reports(tmp_path, capsys):
    """The terminal's leaderboard is the report's: the same numbers and the same hyperparameter text."""
    from bench.cli import print_leaderboard, sweep_trials
    from bench.report import tables as tb

    rows = [{"trial_id": f"s{i}", "workload": "w", "level": "adam", "phase": "final", "status": "ok", "score": score,
             "lr": 0.0012345, "beta2": 0.99971, "tuned": "lr,beta2", "target_metric": "test_acc", "target_mode": "max",
             "seed": i, "error": ""} for i, score in enumerate([0.80, 0.82, 0.84])]
    pd.DataFrame(rows).to_parquet(tmp_path / "trials.parquet")
    board = print_leaderboard(sweep_trials(tmp_path))
    pd.testing.assert_frame_equal(board, tb.leaderboard(tb.prepare(pd.DataFrame(rows))))
    assert "lr=0.00123, beta2=0.9997" in capsys.readouterr().out


def test_leaderboard_keeps_numbers_whole_at_80_columns():
    from rich.console import Console

    from bench.cli import leaderboard_tables

    best = "lr=0.000123, momentum=0.987, beta1=0.912, beta2=0.9991, eps=1.23e-08, weight_decay=0.000456"
    board = pd.DataFrame([
        {"group": "mnist1d-gru", "level": "nesterov", "seeds": 3, "mean": 0.87654, "ci_low": 0.81234,
         "ci_high": 0.93456, "failed": 0, "failed_tune": 0, "flag": "", "best_params": best, "metric": "test_acc",
         "mode": "max"},
        {"group": "mnist1d-gru", "level": "sgd", "seeds": 2, "mean": 0.5, "ci_low": 0.0, "ci_high": 1.0,
         "failed": 1, "failed_tune": 0, "flag": "", "best_params": best, "metric": "test_acc", "mode": "max"}])
    term = Console(width=80, record=True, color_system=None)
    for table in leaderboard_tables(board):
        term.print(table)
    text = term.export_text()
    assert max(map(len, text.splitlines())) <= 80
    for number in ("0.8765", "[0.8123, 0.9346]", "0.000123", "0.9991", "1.23e-08", "0.000456"):
        assert number in text, f"{number} was wrapped:\n{text}"
    assert "uninformative" in text and "[0.0000, 1.0000]" not in text


def test_faq_ends_with_a_tally_of_the_claims_verdicts(tmp_path):
    """One line after the page's path: each claim counted once, whatever number of comparisons it rests on."""
    from bench.cli import verdict_tally

    table = tmp_path / "verdicts.csv"
    pd.DataFrame({"claim": ["8.1a", "8.1a", "8.1b", "8.2a"], "verdict": ["supported", "supported", "refuted", "supported"],
                  "comparison": ["x", "y", "z", "w"]}).to_csv(table, index=False)
    assert verdict_tally(table) == "claims: 2 supported, 1 refuted (of 3)"


@pytest.mark.parametrize("command", ["run", "lr-find"])
def test_help_names_what_to_type_not_a_python_type(command):
    res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "160"})
    assert res.exit_code == 0 and "KEY=VALUE" in res.output and "list[str]" not in res.output
