"""Each speed script under benchmarks/ runs on a tiny size and prints its figures (no timing is asserted)."""
from __future__ import annotations

import re
import runpy
import statistics
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


def check_train_loop_arithmetic(out: str) -> None:
    """The printed ratios are the medians of the per-round rates, and GFLOP/s and 'of peak' follow from the
    rates, the FLOP count and the peak (figures are printed rounded, hence the tolerances)."""
    rounds = [tuple(map(float, r)) for r in
              re.findall(r"round \d+/\d+: a_bench (\d+), b_bare (\d+), c_seed (\d+) samples/s", out)]
    assert rounds, out
    for label, (i, j) in {"(a)/(b)": (0, 1), "(a)/(c)": (0, 2), "(b)/(c)": (1, 2)}.items():
        assert ratio(out, label) == pytest.approx(statistics.median(r[i] / r[j] for r in rounds), rel=0.03)
    flops = float(re.search(r"fwd\+bwd\): ([0-9.]+) M", out).group(1)) * 1e6
    peak = float(re.search(r"matmul peak: ([0-9.]+) GFLOP/s", out).group(1)) * 1e9
    for rate, gflops, share in re.findall(r"^\(\w\) [^\n]*?\s(\d+)\s+([0-9.]+)\s+(\d+)%$", out, flags=re.M):
        assert float(gflops) == pytest.approx(float(rate) * flops / 1e9, rel=0.02, abs=0.06)
        assert float(share) == pytest.approx(100 * float(rate) * flops / peak, abs=1)


@pytest.mark.slow
def test_train_loop_prints_the_three_competitors_and_ratios(monkeypatch, capsys):
    out = run_script("train_loop.py", ["--tiny"], monkeypatch, capsys)
    for row in ("(a) run_trial, loop", "(b) bare loop", "(c) seed DataLoader", "(a) run_trial, end to end"):
        assert re.search(rf"{re.escape(row)}\s+\d+", out), out
    check_train_loop_arithmetic(out)
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
    assert done.stdout.strip() == "no CUDA device: skipping GPU sections (--smoke runs them at a tiny size on the CPU)"


@pytest.mark.slow
def test_sweep_throughput_prints_threads_rates_and_the_comparison(monkeypatch, capsys):
    out = run_script("sweep_throughput.py", ["--tiny"], monkeypatch, capsys)
    assert re.search(r"num_cpus=1, cfg.threads=1: .*'torch in trial': 1", out), out
    assert len(re.findall(r"actor reuse (on |off): \d+ trials in [0-9.]+ s = \d+ trials/hour = [0-9.]+ of ideal", out)) == 2
    pairs = re.findall(r"(\d+) trials in ([0-9.]+) s = .*\n.*overhead ratio \(reuse \w+\) = ([0-9.]+) \(wall / \(trials' "
                       r"own time / (\d+) slots\).*trials' own time ([0-9.]+) s on average", out)
    assert len(pairs) == 2, out
    for n, wall, overhead, slots, own in pairs:  # overhead = wall / (the trials' own time / slots)
        assert float(overhead) == pytest.approx(float(wall) / (float(own) * int(n) / int(slots)), rel=0.05)
    ideal = float(re.search(r"ideal (\d+) trials/hour", out).group(1))
    for n, wall, rate, share in re.findall(r"(\d+) trials in ([0-9.]+) s = (\d+) trials/hour = ([0-9.]+) of ideal", out):
        assert float(rate) == pytest.approx(int(n) * 3600 / float(wall), rel=0.03, abs=1)
        assert float(share) == pytest.approx(float(rate) / ideal, rel=0.02, abs=0.01)
    assert len(re.findall(r"Ray Tune alone, \d+ trials sleeping [0-9.]+ s(?: after importing torch)?: overhead ratio "
                          r"[0-9.]+", out)) == 2
    script, sweep = map(float, re.search(r"Optuna script: ([0-9.]+) s   bench sweep: ([0-9.]+) s", out).groups())
    # both times are printed to 0.05 s (a tiny script takes ~0.2 s): the ratio lies within what they allow
    assert (sweep - 0.05) / (script + 0.05) - 0.005 <= ratio(out, "sweep / script") <= \
        (sweep + 0.05) / max(script - 0.05, 1e-9) + 0.005


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


def test_trial_startup_prints_both_modes_and_their_ratios(monkeypatch, capsys):
    out = run_script("trial_startup.py", ["--tiny"], monkeypatch, capsys)
    for workload in ("mnist1d-cnn", "cifar10-cnn"):
        walls = re.findall(rf"{workload}\s+(decoded per trial|cached)\s+wall\s+([0-9.]+) s, overhead\s+([0-9.]+) s", out)
        assert [mode for mode, _, _ in walls] == ["decoded per trial", "cached"], out
        (_, w0, o0), (_, w1, o1) = walls
        line = re.search(rf"{workload} .*overhead ratio per-trial decode / cached: ([0-9.]+)x; trial wall ratio "
                         r"([0-9.]+)x", out)
        assert line and float(line.group(1)) == pytest.approx(float(o0) / float(o1), rel=0.1), out
        assert float(line.group(2)) == pytest.approx(float(w0) / float(w1), rel=0.1), out


@pytest.mark.slow
def test_runner_overhead_prints_each_runner_with_its_overhead(monkeypatch, capsys):
    out = run_script("runner_overhead.py", ["--trials", "2", "--steps", "2", "--slots", "2"], monkeypatch, capsys)
    rows = [line.split() for line in out.splitlines() if line.startswith(("in-process", "  ray tune", "ray tune"))]
    assert [r[0] for r in rows][:1] == ["in-process"] and len(rows) >= 2, out
    assert "wall_vs_in_process" in out and "overhead_per_trial_s" in out


@pytest.mark.slow
def test_report_scale_builds_a_many_level_sweep_and_reports_it(monkeypatch, capsys, tmp_path):
    out = run_script("report_scale.py", ["--levels", "10", "--trials", "10", "--keep", str(tmp_path)], monkeypatch,
                     capsys)
    assert re.search(r"10 levels x 10 tuning trials \(\+3 seeds each\): built in [0-9.]+ s, bench report in [0-9.]+ s "
                     r"wall, [0-9.]+ s CPU", out), out
    import pandas as pd

    trials = pd.read_parquet(tmp_path / "scale-run" / "trials.parquet")
    assert len(trials) == 10 * 13 and trials["level"].nunique() == 10
    assert (tmp_path / "reports" / "scale" / "index.html").is_file()
