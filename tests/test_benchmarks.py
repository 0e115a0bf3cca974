"""Each speed script under benchmarks/ runs on a tiny size and prints its figures (no timing is asserted)."""
from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name: str, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> str:
    """Run a benchmark script in this process (torch is imported once) as `python benchmarks/<name> ARGS`."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(sys, "argv", [name, *args])
    monkeypatch.setattr(torch, "compile", torch.compile)  # restored afterwards, whatever the script sets
    threads = torch.get_num_threads()
    try:
        runpy.run_path(str(BENCHMARKS / name), run_name="__main__")
    finally:
        torch.set_num_threads(threads)
    return capsys.readouterr().out


def ratio(out: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)} = ([0-9.]+)", out)
    assert match, f"no {label} in:\n{out}"
    return float(match.group(1))


@pytest.mark.slow
def test_train_loop_prints_the_three_competitors_and_ratios(monkeypatch, capsys):
    out = run_script("train_loop.py", ["--tiny"], monkeypatch, capsys)
    for row in ("(a) run_trial, loop", "(b) bare loop", "(c) seed DataLoader", "(a) run_trial, end to end"):
        assert re.search(rf"{re.escape(row)}\s+\d+", out), out
    assert ratio(out, "(a)/(b)") > 0 and ratio(out, "(a)/(c)") > 0
    assert re.search(r"training FLOPs per sample \(fwd\+bwd\): 35\.00 M", out)  # the seed CNN's count


@pytest.mark.slow
def test_gpu_benchmark_code_runs_on_cpu(monkeypatch, capsys):
    out = run_script("_gpu_bench.py", ["--device", "cpu", "--tiny", "--compile-backend", "eager"], monkeypatch, capsys)
    rows = re.findall(r"^(False|True)\s+128\s+\d+\s+[0-9.]+\s+[0-9.]+%\s+n/a", out, flags=re.M)
    assert rows == ["False", "True"], out


def test_gpu_check_says_it_skips_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the full check takes minutes")
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu_check.sh")], capture_output=True, text=True, timeout=120,
                          env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no CUDA device: skipping GPU sections"


@pytest.mark.slow
def test_sweep_throughput_prints_threads_rates_and_the_comparison(monkeypatch, capsys):
    out = run_script("sweep_throughput.py", ["--tiny"], monkeypatch, capsys)
    assert re.search(r"num_cpus=1, cfg.threads=1: .*'torch in trial': 1", out), out
    assert len(re.findall(r"actor reuse (on |off): \d+ trials in [0-9.]+ s = \d+ trials/hour = [0-9.]+ of ideal", out)) == 2
    assert ratio(out, "overhead ratio (reuse on)") > 0 and ratio(out, "overhead ratio (reuse off)") > 0
    assert len(re.findall(r"Ray Tune alone, \d+ trials sleeping [0-9.]+ s(?: after importing torch)?: overhead ratio "
                          r"[0-9.]+", out)) == 2
    assert ratio(out, "sweep / script") > 0


@pytest.mark.slow
def test_stacked_seeds_match_sequential_training(monkeypatch, capsys):
    out = run_script("_stacked_seeds.py", ["--tiny", "--device", "cpu"], monkeypatch, capsys)
    match = re.search(r"fp32: .* speed-up [0-9.]+x; stacked - sequential: max \|val loss\| ([0-9.e+-]+), "
                      r"max \|test acc\| ([0-9.]+)", out)
    assert match and float(match.group(1)) < 1e-4 and float(match.group(2)) == 0, out


def test_gpu_sweep_inputs_are_a_valid_16_trial_sweep(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from _gpu_sweep import prepare

    from bench.data import cifar10
    from bench.search.protocol import Plan
    from bench.search.space import load_space

    prepare(tmp_path, n_train=500)
    space = load_space(tmp_path / "gpu-share.yaml")
    assert Plan(space).total() == 16
    data = cifar10.load(space.fixed["data_dir"], download=False)  # the workload's loader reads our files
    assert data.input_shape == (3, 32, 32) and len(data.train) + len(data.val) == 500
