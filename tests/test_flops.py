"""FLOP counting, the matmul peak, and run_trial's speed features: achieved FLOP/s, threads, torch.compile,
channels_last, end-of-epoch train metrics on a fixed subset, and a lean import path for sweep workers."""
from __future__ import annotations

import functools
import subprocess
import sys

import pytest
import torch
from torch import nn

from bench.config import TrialConfig
from bench.data.base import DataBundle, Split
from bench.flops import matmul_peak, train_flops_per_sample
from bench.models.cnn import CNN
from bench.train import TRAIN_EVAL_MIN, channels_last, run_trial, train_eval_subset
from tests.helpers import fast_cfg, tiny_bundle


class TwoLayer(nn.Module):
    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.fc1, self.drop, self.fc2 = nn.Linear(8, 16), nn.Dropout(dropout), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


def test_linear_flops_are_exact():
    # forward 2*(8*16 + 16*4); backward: both weight gradients again, plus fc2's input gradient only
    # (the data need no gradient), so not the 3x rule: 384 + 384 + 128.
    assert train_flops_per_sample(TwoLayer(), torch.randn(5, 8)) == 896


def test_seed_cnn_flops_match_the_formula():
    model = CNN((3, 32, 32), 10, width=32, depth=2, fc_width=128, activation="relu")
    conv1, conv2 = 32 * 32 * 32 * 3 * 9 * 2, 16 * 16 * 64 * 32 * 9 * 2  # out pixels * C_out * C_in * k*k * 2
    fc1, fc2 = 64 * 8 * 8 * 128 * 2, 128 * 10 * 2
    forward, input_grads = conv1 + conv2 + fc1 + fc2, conv2 + fc1 + fc2
    assert train_flops_per_sample(model, torch.randn(3, 3, 32, 32)) == 2 * forward + input_grads


def test_counting_leaves_model_and_rng_untouched_and_sees_through_compile():
    model = TwoLayer(dropout=0.5)
    before, x = {k: v.clone() for k, v in model.state_dict().items()}, torch.randn(4, 8)
    rng = torch.get_rng_state()
    flops = train_flops_per_sample(torch.compile(model), x)  # compile is lazy: nothing compiles
    assert flops == 896
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_different_architectures_are_not_confused_by_the_cache():
    small = CNN((1, 16), 4, width=4, depth=1, fc_width=8, activation="relu")
    large = CNN((1, 16), 4, width=8, depth=1, fc_width=8, activation="relu")
    x = torch.randn(2, 1, 16)
    assert train_flops_per_sample(large, x) > train_flops_per_sample(small, x) > 0


def test_matmul_peak_is_measured_once_per_thread_count(monkeypatch):
    import bench.flops

    measured = []
    monkeypatch.setattr(bench.flops, "_peak_cache", {})
    monkeypatch.setattr(bench.flops, "measure_matmul_peak",
                        lambda device, dtype: measured.append((str(device), dtype, torch.get_num_threads())) or
                        1e9 * len(measured))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert matmul_peak("cpu") == matmul_peak("cpu") == 1e9  # cached: the same measurement, not a new one
        torch.set_num_threads(2)
        assert matmul_peak("cpu") == 2e9 and matmul_peak("cpu", torch.bfloat16) == 3e9
    finally:
        torch.set_num_threads(threads)
    assert measured == [("cpu", torch.float32, 1), ("cpu", torch.float32, 2), ("cpu", torch.bfloat16, 2)]


def test_run_trial_reports_achieved_flops_against_the_peak():
    threads_seen = []
    result = run_trial(fast_cfg(threads=1, device="cpu"), data=tiny_bundle(),
                       report=lambda row: threads_seen.append(torch.get_num_threads()))
    assert result.status == "ok" and threads_seen == [1, 1]  # cfg.threads is what torch uses inside the trial
    final = result.final
    assert final["peak_flops_per_sec"] == matmul_peak("cpu", torch.float32)
    for row in result.epochs:
        assert row["flops_per_sec"] == pytest.approx(final["flops_per_sample"] * row["samples_per_sec"])
        assert row["peak_fraction"] == pytest.approx(row["flops_per_sec"] / final["peak_flops_per_sec"])
    epoch_times = [row["epoch_time"] for row in result.epochs]
    trained = sum(row["samples_per_sec"] * t for row, t in zip(result.epochs, epoch_times, strict=True))
    assert final["samples_per_sec"] == pytest.approx(trained / sum(epoch_times))
    assert 0 < final["peak_fraction"] == pytest.approx(final["flops_per_sec"] / final["peak_flops_per_sec"])


@pytest.mark.slow
def test_compiled_model_trains_evaluates_and_probes_like_eager(monkeypatch):
    # backend="eager" runs dynamo's tracing, guards and graph switching (train / inference_mode eval) without
    # spending a minute in C++ code generation; inductor itself is exercised by benchmarks/gpu_check.sh.
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    cfg = fast_cfg(device="cpu", probe_every=2)
    eager, compiled = run_trial(cfg, data=tiny_bundle()), run_trial(cfg.replace(compile=True), data=tiny_bundle())
    assert compiled.status == "ok"
    assert compiled.final["test_loss"] == pytest.approx(eager.final["test_loss"], rel=1e-4)
    # Probe steps run the eager module: a compiled graph would silently skip the activation hooks.
    assert [r["act_mean"] for r in compiled.gradients] == pytest.approx([r["act_mean"] for r in eager.gradients], rel=1e-4)
    assert compiled.final["flops_per_sample"] == eager.final["flops_per_sample"]


@pytest.mark.slow
def test_bench_run_compile_flag_reaches_the_trial(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bench.cli import app
    from bench.results import read_run

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    done = CliRunner().invoke(app, ["run", "--compile", "--epochs", "1", "--set", "n_train=200", "--quiet",
                                    "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    trials = read_run(next(tmp_path.glob("run-*")))["trials"]
    assert bool(trials["compile"].iloc[0]) and trials["status"].iloc[0] == "ok"


def test_channels_last_data_keep_their_values_and_batches_keep_the_layout():
    x = torch.randn(12, 3, 8, 8)
    data = DataBundle(Split(x[:8], torch.arange(8) % 2), Split(x[8:10], torch.zeros(2).long()),
                      Split(x[10:], torch.ones(2).long()), "classification", 2)
    converted = channels_last(data)
    for before, after in zip((data.train, data.val, data.test), (converted.train, converted.val, converted.test), strict=True):
        assert after.x.is_contiguous(memory_format=torch.channels_last) and torch.equal(after.x, before.x)
    assert converted.train.subset(torch.tensor([3, 0, 5])).x.is_contiguous(memory_format=torch.channels_last)


def test_2d_cnn_trains_with_nhwc_weights(monkeypatch):
    import bench.train

    models = []
    build = bench.train.build_model
    monkeypatch.setattr(bench.train, "build_model", lambda *a: models.append(build(*a)) or models[-1])
    data = DataBundle(*(Split(torch.randn(32, 3, 8, 8), torch.randint(0, 4, (32,))) for _ in range(3)), "classification", 4)
    result = run_trial(fast_cfg(device="cpu", epochs=1), data=data)
    assert result.status == "ok"
    assert models[0].features[0].conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_cuda_path_when_present():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    data = DataBundle(*(Split(torch.randn(64, 3, 16, 16), torch.randint(0, 4, (64,))) for _ in range(3)),
                      "classification", 4)
    cfg = TrialConfig(workload="mnist1d-cnn", width=8, depth=2, fc_width=16, epochs=1, batch_size=16, device="cuda")
    result = run_trial(cfg, data=data)
    assert result.status == "ok"
    assert result.final["peak_flops_per_sec"] == matmul_peak("cuda", torch.bfloat16)  # amp: bf16 matmuls


@pytest.mark.parametrize(("n_train", "n_val", "expected"), [(5000, 300, TRAIN_EVAL_MIN), (5000, 3000, 3000), (1000, 300, 1000)])
def test_train_metrics_use_a_fixed_subset_as_large_as_validation(n_train, n_val, expected):
    split = lambda n: Split(torch.arange(n, dtype=torch.float32)[:, None], torch.zeros(n).long())
    data = DataBundle(split(n_train), split(n_val), split(10), "classification", 2)
    subset = train_eval_subset(data)
    values = subset.x.squeeze(1)
    assert len(subset) == expected and len(values.unique()) == expected  # distinct training samples
    assert torch.equal(train_eval_subset(data).x, subset.x)  # the same for every trial
    assert values.max() > 0.9 * n_train or expected == n_train  # drawn from the whole set, not its head


def test_binary_scores_match_sklearn_including_undefined_cases():
    from sklearn.metrics import precision_recall_fscore_support

    from bench.metrics import binary_scores

    g = torch.Generator().manual_seed(0)
    cases = [(torch.zeros(5).long(), torch.tensor([0, 1, 0, 1, 1])), (torch.tensor([1, 0, 1]), torch.zeros(3).long()),
             (torch.zeros(4).long(), torch.zeros(4).long())]
    cases += [(torch.randint(0, 2, (12,), generator=g), torch.randint(0, 2, (12,), generator=g)) for _ in range(20)]
    for pred, truth in cases:
        expected = precision_recall_fscore_support(truth, pred, average="binary", zero_division=0)[:3]
        assert list(binary_scores(pred, truth).values()) == pytest.approx([float(v) for v in expected])


def test_sweep_workers_and_the_cli_start_without_importing_sklearn():
    # sklearn took 40% of a sweep worker's import time; only the digits workload needs it, when it loads.
    code = "import sys, bench.search.trial, bench.cli; sys.exit('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_first_epoch_throughput_leaves_out_the_set_up_of_the_first_step(monkeypatch):
    import time

    from bench.train import Trainer

    step, calls = Trainer.train_step, []

    def slow_first_step(self, batch, epoch):  # as a CUDA context, kernel selection or compilation would be
        calls.append(epoch)
        if len(calls) == 1:
            time.sleep(1.0)
        return step(self, batch, epoch)

    monkeypatch.setattr(Trainer, "train_step", slow_first_step)
    result = run_trial(fast_cfg(epochs=1, probe_every=0, device="cpu"), data=tiny_bundle())
    first = result.epochs[0]
    n = len(calls) * 32
    assert first["epoch_time"] > 1.0  # the epoch's own time still counts the set-up ...
    assert first["samples_per_sec"] * first["epoch_time"] > 2 * n  # ... its samples/s does not
