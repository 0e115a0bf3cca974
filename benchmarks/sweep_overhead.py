"""Sweep overhead: what Ray Tune + Optuna add on top of training, against the ideal and a hand-written loop.

1. Overhead: N short trials (about --trial-seconds each) through `run_sweep` on a local Ray that is already
   up, with and without actor reuse, and with one 2-thread slot instead of two 1-thread slots. Ratio =
   sweep wall time / ideal, ideal = the same trials' own training time / parallel slots. "Own time" is taken
   two ways: as the trials report it (run_trial's wall_time: includes a fresh worker's first-trial warm-up)
   and re-measured here, warm, in this process on one thread (the stricter ideal). Goal: < 1.3 for 2 s trials.
2. The bar: a hand-written single-process Optuna script (TPE, one thread, no Ray) compares 7 optimizers on the
   MNIST-1D CNN with 12 LR-tuning trials + 5 seed re-runs each (119 trials), against `bench sweep` doing the
   same work on all cores (ASHA off), Ray start-up included. Goal: bench/hand-written <= 1.

Machines here are shared and noisy: the competitors run back to back in one process and the load average is
printed with each figure.

    python benchmarks/sweep_overhead.py                  # both parts, the bar at 20 epochs (long)
    python benchmarks/sweep_overhead.py --bar-epochs 5   # a shorter bar
    python benchmarks/sweep_overhead.py --tiny           # seconds: checks that everything runs
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
import torch

from bench.config import TrialConfig
from bench.search.protocol import tuning_metric
from bench.search.space import load_space
from bench.search.tune import ray_session, run_sweep
from bench.train import run_trial
from bench.workloads import get_workload, load_data

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"]
RUNS = {"reuse": {}, "no-reuse": {"reuse_actors": False}, "wide": {"cpus_per_trial": 2}}  # wide: 1 slot x 2 threads


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=16, help="short trials in the overhead measurement (even)")
    p.add_argument("--trial-seconds", type=float, default=2.0, help="target length of one short trial")
    p.add_argument("--bar-epochs", type=int, default=20, help="epochs per trial in the 119-trial comparison")
    p.add_argument("--bar-trials", type=int, default=12, help="LR-tuning trials per optimizer in the comparison")
    p.add_argument("--bar-seeds", type=int, default=5, help="seed re-runs per optimizer in the comparison")
    p.add_argument("--width", type=int, default=32, help="CNN base channels (the workload's default is 32)")
    p.add_argument("--runs", default=",".join(RUNS), help=f"overhead runs to make, comma-separated: {', '.join(RUNS)}")
    p.add_argument("--skip-bar", action="store_true", help="only the overhead measurement")
    p.add_argument("--tiny", action="store_true", help="tiny sizes, actor reuse only: a smoke test of the script")
    args = p.parse_args()
    if args.tiny:
        args.trials, args.trial_seconds, args.bar_epochs, args.bar_trials, args.bar_seeds, args.width = 4, 0.2, 1, 1, 1, 4
        args.runs = "reuse"
    unknown = set(args.runs.split(",")) - set(RUNS)
    if unknown:
        p.error(f"unknown run {sorted(unknown)[0]!r}; choose from: {', '.join(RUNS)}")
    args.runs = {name: RUNS[name] for name in args.runs.split(",")}
    return args


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def base_config(width: int, epochs: int) -> TrialConfig:
    return TrialConfig(workload="mnist1d-cnn", width=width, epochs=epochs, threads=1)


def space(name: str, levels: list[str], trials: int, epochs: int, seeds: int, width: int) -> dict:
    """Optimizer levels tuning the learning rate only, ASHA off: every trial trains all its epochs."""
    return {"name": name, "compare": "optimizer", "levels": levels, "workloads": ["mnist1d-cnn"],
            "fixed": {"width": width}, "tune": {"lr": {"min": 1.0e-4, "max": 1.0, "scaling": "log"}},
            "budget": {"trials_per_level": trials, "epochs": epochs, "seeds": seeds, "asha": False}}


def timed_sweep(spec: dict, out: Path, **kw) -> tuple[float, pd.DataFrame, dict]:
    t0 = time.perf_counter()
    folder = run_sweep(spec, out, progress=False, **kw)
    wall = time.perf_counter() - t0
    return wall, pd.read_parquet(folder / "trials.parquet"), json.loads((folder / "run.json").read_text())


def warm_time(cfgs: list[TrialConfig]) -> float:
    """The trials' own training time: run them here, one thread, after a warm-up trial."""
    torch.set_num_threads(1)
    run_trial(cfgs[0].replace(epochs=1))
    t0 = time.perf_counter()
    for cfg in cfgs:
        run_trial(cfg)
    return time.perf_counter() - t0


def calibrate_epochs(width: int, seconds: float) -> int:
    torch.set_num_threads(1)
    cfg = base_config(width, 2)
    load_data(cfg)
    run_trial(cfg.replace(epochs=1))
    t0 = time.perf_counter()
    run_trial(cfg)
    per_epoch = (time.perf_counter() - t0) / 2
    return max(1, round(seconds / per_epoch))


def overhead(args: argparse.Namespace, out: Path) -> None:
    epochs = calibrate_epochs(args.width, args.trial_seconds)
    per_level = args.trials // 2
    spec = space("overhead", ["adam", "sgd"], per_level - 1, epochs, 1, args.width)  # (tune + 1 seed) x 2 levels
    print(f"\n1. overhead: {args.trials} trials of {epochs} epochs (width {args.width}) through bench sweep")
    t0 = time.perf_counter()
    with ray_session(None, dashboard=False):
        print(f"   local Ray start-up: {time.perf_counter() - t0:.1f} s (not counted below)")
        runs = {name: timed_sweep(spec, out, **kw) for name, kw in args.runs.items()}
    _, trials, _ = next(iter(runs.values()))  # every run trains the same configs, whatever their order
    cfgs = [TrialConfig.from_dict({k: row[k] for k in TrialConfig.__dataclass_fields__}).replace(threads=1)
            for _, row in trials.iterrows()]
    warm = warm_time(cfgs)
    print(f"   warm in-process time of these trials, one thread: {warm:.1f} s ({warm / len(cfgs):.2f} s per trial); {load()}")
    print(f"   {'run':<20}{'slots':>6}{'wall s':>9}{'own time s':>12}{'wall/ideal(own)':>17}{'wall/ideal(warm)':>18}")
    for name, (wall, df, info) in runs.items():
        slots, own = info["slots"], df["wall_time"].sum()
        print(f"   {name:<20}{slots:>6}{wall:>9.1f}{own:>12.1f}{wall / (own / slots):>17.2f}{wall / (warm / slots):>18.2f}")
    for name in ("reuse", "no-reuse"):
        if name in runs:
            wall, df, info = runs[name]
            print(f"   {name} overhead ratio = {wall / (df['wall_time'].sum() / info['slots']):.2f} (own), "
                  f"{wall / (warm / info['slots']):.2f} (warm)")
    if "wide" in runs and "reuse" in runs:
        print(f"   two 1-thread slots vs one 2-thread slot, throughput = {runs['wide'][0] / runs['reuse'][0]:.2f}")


def hand_written(levels: list[str], trials: int, epochs: int, seeds: int, width: int) -> float:
    """What a user writes without bench: per optimizer, a seeded TPE study over the LR (ask/tell), then the best
    LR re-run with fresh seeds; one process, one thread."""
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    target = get_workload("mnist1d-cnn").target
    metric = tuning_metric(target)
    lr_space = load_space(space("bar", levels, trials, epochs, seeds, width)).distributions(levels[0])
    t0 = time.perf_counter()
    for opt in levels:
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
        for _ in range(trials):
            trial = study.ask(lr_space)
            result = run_trial(base_config(width, epochs).replace(optimizer=opt, lr=trial.params["lr"], seed=0))
            ok = result.status == "ok"
            study.tell(trial, result.epochs[-1][metric] if ok else -math.inf)
        for seed in range(1, seeds + 1):
            run_trial(base_config(width, epochs).replace(optimizer=opt, lr=study.best_params["lr"], seed=seed))
    return time.perf_counter() - t0


def bar(args: argparse.Namespace, out: Path) -> None:
    levels = OPTIMIZERS[:2] if args.tiny else OPTIMIZERS
    n = len(levels) * (args.bar_trials + args.bar_seeds)
    print(f"\n2. the bar: {len(levels)} optimizers x ({args.bar_trials} LR trials + {args.bar_seeds} seeds) = {n} trials "
          f"x {args.bar_epochs} epochs, MNIST-1D CNN width {args.width}")
    load_data(base_config(args.width, 1))
    hand = hand_written(levels, args.bar_trials, args.bar_epochs, args.bar_seeds, args.width)
    print(f"   hand-written Optuna, 1 process, 1 thread: {hand:.1f} s; {load()}")
    spec = space("bar", levels, args.bar_trials, args.bar_epochs, args.bar_seeds, args.width)
    wall, trials, info = timed_sweep(spec, out)
    assert len(trials) == n
    print(f"   bench sweep, {info['slots']} slots, Ray start-up included: {wall:.1f} s; {load()}")
    own = trials["wall_time"].sum()
    print(f"   the sweep's trials trained for {own:.1f} s in all ({own / hand:.2f}x the hand-written loop's time: "
          f"above 1 when the cores are shared with other load), i.e. {own / info['slots'] / wall:.2f} of its wall time")
    print(f"   bench/hand-written = {wall / hand:.2f}")


def main() -> None:
    args = parse_args()
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}; {load()}")
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as tmp:
        if not args.skip_bar:
            bar(args, Path(tmp))
        overhead(args, Path(tmp))


if __name__ == "__main__":
    main()
