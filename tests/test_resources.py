"""--gpus-per-trial: parsing, and how `auto` packs trials onto a GPU from one measured trial."""
from __future__ import annotations

import pytest

from bench.config import ConfigError, TrialConfig
from bench.search.resources import (
    CONTEXT_BYTES,
    MAX_PER_GPU,
    Footprint,
    parse_gpus_per_trial,
    resolve_gpus_per_trial,
    trials_per_gpu,
)

GIB = 2**30


@pytest.mark.parametrize("text, want", [("auto", "auto"), ("AUTO", "auto"), ("0", 0.0), ("0.25", 0.25), (1, 1.0)])
def test_gpus_per_trial_parses_auto_and_numbers(text, want):
    assert parse_gpus_per_trial(text) == want


@pytest.mark.parametrize("bad", ["lots", "-0.5", "nan", ""])
def test_gpus_per_trial_rejects_anything_else_naming_the_value(bad):
    with pytest.raises(ConfigError, match=r"--gpus-per-trial must be 'auto' or a number >= 0"):
        parse_gpus_per_trial(bad)


@pytest.mark.parametrize("fp, cpus_per_gpu, want", [
    # 10 GiB trials on an 80 GiB GPU: memory allows floor(0.85 * 80 / (10 + 0.59)) = 6
    (Footprint(10 * GIB, 80 * GIB, 0.01), 64, (6, "memory")),
    # each trial uses 12% of the matmul peak alone: floor(0.5 / 0.12) = 4 before they queue for the GPU
    (Footprint(GIB, 80 * GIB, 0.12), 64, (4, "throughput")),
    # 3 CPUs feed each GPU, 1 CPU per trial
    (Footprint(GIB, 80 * GIB, 0.01), 3, (3, "CPUs")),
    (Footprint(GIB // 10, 140 * GIB, 0.001), 64, (MAX_PER_GPU, "cap")),
    # a trial that needs more than the GPU still gets one
    (Footprint(100 * GIB, 80 * GIB, 0.9), 64, (1, "memory")),
])
def test_trials_per_gpu_takes_the_tightest_bound(fp, cpus_per_gpu, want):
    assert trials_per_gpu(fp, cpus_per_gpu, cpus_per_trial=1.0) == want


def test_memory_bound_counts_a_cuda_context_per_trial():
    # 0.85 * 20 / (1 + 1) = 8.5 with the context; 17 without it would hit the cap instead
    fp = Footprint(CONTEXT_BYTES, 20 * CONTEXT_BYTES, 0.0)
    assert trials_per_gpu(fp, 1000, 1.0) == (8, "memory")


def never(cfg):
    raise AssertionError("nothing to measure")


def test_auto_without_a_gpu_trains_on_cpus_and_says_so():
    lines = []
    share, info = resolve_gpus_per_trial("auto", {"CPU": 2.0}, TrialConfig(), 1.0, never, lines.append)
    assert share == 0.0 and info["chosen_by"] == "auto: no GPU"
    assert lines == ["no GPU in the Ray cluster: trials train on CPUs"]


def test_an_explicit_share_is_kept_and_nothing_is_measured():
    share, info = resolve_gpus_per_trial(0.5, {"CPU": 16.0, "GPU": 1.0}, TrialConfig(), 1.0, never, print)
    assert share == 0.5 and info["chosen_by"] == "--gpus-per-trial"


def test_auto_with_gpus_measures_the_sweeps_config_once_and_prints_the_choice():
    seen, lines = [], []

    def measure(cfg):
        seen.append(cfg.workload)
        return Footprint(2 * GIB, 80 * GIB, 0.1)  # throughput allows floor(0.5 / 0.1) = 5

    cfg = TrialConfig(workload="digits-cnn")
    share, info = resolve_gpus_per_trial("auto", {"CPU": 16.0, "GPU": 2.0}, cfg, 1.0, measure, lines.append)
    assert seen == ["digits-cnn"] and share == pytest.approx(0.2) and info["trials_per_gpu"] == 5
    assert "5 trials per GPU (0.2 GPU each, limited by throughput)" in lines[0] and "2.00 GiB of 80 GiB" in lines[0]


def test_sweep_rejects_a_bad_gpu_share_before_starting_anything(tmp_path):
    from typer.testing import CliRunner

    from bench.cli import app

    res = CliRunner().invoke(app, ["sweep", "optimizers", "--quick", "--gpus-per-trial", "lots", "--out", str(tmp_path)])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and "--gpus-per-trial must be 'auto'" in lines[0]
    assert not list(tmp_path.iterdir())
