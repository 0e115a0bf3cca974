"""Every workload loads and trains a step; variants for the FAQ; the seed tutorial's model bugs stay fixed."""
import math
import urllib.error
from dataclasses import replace

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from bench import cli
from bench.components.losses import resolve_loss
from bench.config import ConfigError, TrialConfig
from bench.data import cifar10, imdb, mnist1d
from bench.metrics import score
from bench.models import build_model
from bench.models.rnn import CELLS
from bench.search.space import load_space
from bench.train import run_trial
from bench.workloads import WORKLOADS, load_data, recipe_config, target_value

FIXTURE = {"cifar10-cnn": "cifar_dir", "imdb-rnn": "imdb_dir"}  # download workloads run on the tiny on-disk copies


def tiny_cfg(name: str, data_dir: str = "data", **kw) -> TrialConfig:
    return TrialConfig(workload=name, data_dir=data_dir, width=4, depth=2, fc_width=8, epochs=1, max_steps=1,
                       batch_size=8, threads=1, probe_every=0, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("name", WORKLOADS)
def test_every_workload_loads_and_trains_one_step(name, request):
    spec = WORKLOADS[name]
    assert spec.needs_download == (name in FIXTURE)
    data_dir = str(request.getfixturevalue(FIXTURE[name])) if name in FIXTURE else "data"
    result = run_trial(tiny_cfg(name, data_dir, n_train=0 if name in FIXTURE else 64))  # 64: evaluating train is cheap
    assert result.status == "ok", result.error
    assert math.isfinite(result.final[spec.target])  # the metric sweeps rank by exists for this workload
    data = load_data(tiny_cfg(name, data_dir))
    for key in data.baseline:
        assert key in result.final  # baselines are stated in the metric's own name


def test_sequence_workloads_state_their_baseline():
    for name in ("adding", "temporal-order", "copy-memory"):
        assert WORKLOADS[name].target in load_data(tiny_cfg(name, seq_len=12)).baseline


def test_list_shows_model_metric_and_download_and_the_entry_its_source():
    # A wide terminal through COLUMNS: setting console.width would leave it fixed for later tests (monkeypatch
    # restores the width it read, 80, as a fixed width).
    res = CliRunner().invoke(cli.app, ["list", "workloads"], env={"COLUMNS": "400"})
    assert res.exit_code == 0
    rows = {line.split()[0]: line.split() for line in res.output.splitlines()
            if line.split()[:1] and line.split()[0] in WORKLOADS}
    assert set(WORKLOADS) == set(rows)
    for name, spec in WORKLOADS.items():
        assert spec.model in rows[name] and spec.target in rows[name]
        assert ("yes" if spec.needs_download else "no") in rows[name]
        one = CliRunner().invoke(cli.app, ["list", "workloads", name], env={"COLUMNS": "400"})
        assert spec.source in one.output and spec.description in one.output


def test_run_reads_data_dir(cifar_dir, tmp_path):
    res = CliRunner().invoke(cli.app, ["run", "--workload", "cifar10-cnn", "--data-dir", str(cifar_dir), "--epochs", "1",
                                       "--out", str(tmp_path / "runs"), "--set", "max_steps=1", "--set", "width=4",
                                       "--set", "threads=1", "--quiet"])
    assert res.exit_code == 0, res.output
    trials = pd.read_parquet(next((tmp_path / "runs").glob("run-*")) / "trials.parquet")
    assert trials.loc[0, "data_dir"] == str(cifar_dir) and "test_acc_airplane" in trials.columns


def test_run_without_dataset_is_one_line_exit_2(tmp_path, bench_cache, monkeypatch):
    def offline(*args, **kw):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(imdb, "fetch", offline)
    res = CliRunner().invoke(cli.app, ["run", "--workload", "imdb-rnn", "--data-dir", str(tmp_path / "none"),
                                       "--out", str(tmp_path / "runs")])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--data-dir" in lines[0] and "text-synthetic-rnn" in lines[0]


def test_imbalanced_variant_makes_accuracy_misleading():
    data = load_data(tiny_cfg("mnist1d-imbalanced-cnn"))
    assert data.task == "binary" and data.num_classes == 1 and data.train.y.dtype == torch.float32
    share = float(data.test.y.mean())
    assert 0.08 < share < 0.12
    always_rest = score(torch.full((len(data.test), 1), -5.0), data.test.y, data, binary=True, per_class=False)
    assert always_rest["acc"] == pytest.approx(1 - share) == pytest.approx(data.baseline["test_acc"])
    assert always_rest["f1"] == 0.0 and always_rest["recall"] == 0.0


def test_shuffled_variant_is_one_fixed_permutation_of_the_steps():
    plain, shuffled = mnist1d.load("channels"), mnist1d.load("channels", shuffle_seq=True)
    assert torch.equal(plain.train.y, shuffled.train.y)
    a, b = plain.train.x[:, 0], shuffled.train.x[:, 0]
    perm = (b[0][:, None] == a[0][None, :]).float().argmax(1)  # where each shuffled step came from
    assert torch.allclose(b, a[:, perm], atol=1e-6)
    assert not torch.equal(perm, torch.arange(40))


def test_seed_cnn_flatten_size_is_computed_on_cifar(cifar_dir):
    data = cifar10.load(cifar_dir, download=False)
    model = build_model("cnn", TrialConfig(workload="cifar10-cnn"), data)  # width 32, two conv+pool blocks
    assert model.head[2].in_features == 64 * 8 * 8  # the seed hard-coded 64*6*6
    assert model(data.test.x).shape == (10, 10)


@pytest.fixture
def imdb_data(imdb_dir):
    return imdb.load(imdb_dir, min_freq=1)


def test_seed_rnn_gives_one_raw_logit_per_review(imdb_data):
    model = build_model("rnn", TrialConfig(workload="imdb-rnn", width=8, fc_width=8), imdb_data, "rnn")
    out = model(imdb_data.test.x, imdb_data.test.lengths)
    assert out.shape == (4, 1)  # one logit per review, not one per time step
    assert not any(isinstance(m, (torch.nn.LogSoftmax, torch.nn.Softmax, torch.nn.Sigmoid)) for m in model.modules())
    assert out.abs().min() > 0  # a LogSoftmax over a single output would always give 0
    assert resolve_loss("auto", imdb_data.task).name == "bce"  # BCE-with-logits takes raw logits


@pytest.mark.parametrize("cell", CELLS)
def test_padding_does_not_decide_the_prediction(imdb_data, cell):
    torch.manual_seed(0)
    model = build_model("rnn", TrialConfig(workload="imdb-rnn", width=8, fc_width=8), imdb_data, cell).eval()
    split = imdb_data.test
    reference = model(split.x, split.lengths)
    wider = torch.cat([split.x, torch.zeros(len(split), 17, dtype=torch.long)], 1)
    assert torch.allclose(model(wider, split.lengths), reference, atol=1e-6)
    steps = torch.arange(split.x.shape[1])
    garbage = torch.where(steps >= split.lengths[:, None], torch.randint(2, imdb_data.vocab_size, split.x.shape), split.x)
    assert not torch.equal(garbage, split.x)
    assert torch.allclose(model(garbage, split.lengths), reference, atol=1e-6)
    assert not torch.allclose(model(garbage), model(split.x))  # without lengths, padding would leak in


def basis_config(name: str) -> TrialConfig:
    """The configuration the workload's goal was measured on, as its recorded basis names it."""
    return TrialConfig.from_dict({**WORKLOADS[name].goal_basis.settings, "workload": name})


MEASURED = [name for name, spec in WORKLOADS.items() if math.isfinite(spec.goal)]


@pytest.mark.parametrize("name", MEASURED)
def test_every_goal_rests_on_the_model_and_recipe_the_workload_trains(name):
    # A recipe changed without measuring its goal again (or a goal measured on another model) fails here.
    spec = WORKLOADS[name]
    assert basis_config(name) == recipe_config(name, "converged")
    assert spec.goal == target_value(spec.goal_basis.score, spec.chance)
    assert f"--only {name} " in spec.goal_basis.command  # the targets script reruns exactly this workload's recipe


def test_a_goal_measured_on_another_model_is_caught(monkeypatch):
    spec = WORKLOADS["mnist1d-mlp"]
    other = replace(spec.goal_basis, settings={**spec.goal_basis.settings, "width": 32, "depth": 2})  # the 2x32 MLP
    monkeypatch.setitem(WORKLOADS, "mnist1d-mlp", replace(spec, goal_basis=other))
    assert basis_config("mnist1d-mlp") != recipe_config("mnist1d-mlp", "converged")


def test_the_mnist1d_mlp_is_greydanus_2020s_and_sweeps_train_the_recipe():
    cfg = recipe_config("mnist1d-mlp", "quick")
    assert (cfg.width, cfg.depth, cfg.dropout, cfg.epochs) == (256, 3, 0.5, WORKLOADS["mnist1d-mlp"].recipe.epochs["quick"])
    gru = load_space("optimizers").quick_version().base_config("adam", "mnist1d-gru")
    assert (gru.depth, gru.clip_norm, gru.batch_size, gru.epochs) == (1, 1.0, 100, 12)
    with pytest.raises(ConfigError, match="unknown budget 'tiny'; choose one of: quick, full, converged"):
        recipe_config("mnist1d-mlp", "tiny")
