"""Sweep throughput: what Ray Tune + Optuna through `bench sweep` cost against the machine's ideal and a plain script.

1. Thread placement: what torch uses inside a Ray worker given k CPUs, before and after run_trial sets
   cfg.threads.
2. Trials per hour of a short sweep (16 trials of about --trial-seconds each on MNIST-1D, one CPU per trial)
   against the ideal = CPUs x the single-trial rate measured in this process, with and without actor reuse,
   and the sweep's overhead ratio = wall time / (the trials' own training time / parallel slots); then the
   same sweep as one slot with every CPU's threads, against which one CPU per trial is measured.
3. The 119-trial comparison: a hand-written single-process Optuna script (TPE, one torch thread, no Ray)
   comparing 7 optimizers on the MNIST-1D 1-D CNN, 12 LR-tuning trials + 5 seed re-runs each, 20 epochs per
   trial, against `run_sweep` (what `bench sweep` runs) doing the same work with every CPU.

    python benchmarks/sweep_throughput.py                      # all sections (the comparison takes longest)
    python benchmarks/sweep_throughput.py --skip-comparison    # sections 1 and 2
    python benchmarks/sweep_throughput.py --tiny               # seconds per section: checks that it runs
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import ray
import torch
from _bare import bare_train
from ray import tune

from bench.components.optimizers import build_optimizer
from bench.config import TrialConfig
from bench.metrics import EVAL_BATCH
from bench.models import build_model
from bench.results import ResultStore, read_run
from bench.search.sweep import run_sweep
from bench.search.tune import quiet_tune_logs, ray_session
from bench.train import run_trial, seed_everything
from bench.workloads import load_data

WORKLOAD = "mnist1d-cnn"
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
LR_RANGE = (1e-4, 1.0)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trial-seconds", type=float, default=2.0, help="target length of a section-2 trial")
    p.add_argument("--trials", type=int, default=12, help="comparison: LR-tuning trials per optimizer")
    p.add_argument("--seeds", type=int, default=5, help="comparison: seed re-runs of each optimizer's best LR")
    p.add_argument("--epochs", type=int, default=20, help="comparison: epochs per trial")
    p.add_argument("--levels", type=int, default=len(OPTIMIZERS), help="comparison: the first N of " + ", ".join(OPTIMIZERS))
    p.add_argument("--skip-comparison", action="store_true", help="sections 1 and 2 only")
    p.add_argument("--tiny", action="store_true", help="minimal sizes everywhere, one Ray start: a smoke test")
    args = p.parse_args()
    # section 2: 2 levels x (6 tuning trials + 2 seed re-runs) = 16 trials
    args.n_train, args.sweep_levels, args.sweep_trials = 0, ("adam", "sgd"), (6, 2)
    if args.tiny:
        args.trial_seconds, args.trials, args.seeds, args.epochs, args.levels = 0.1, 1, 1, 1, 1
        args.n_train, args.sweep_levels, args.sweep_trials = 400, ("adam",), (1, 1)
    return args


def space(name: str, levels: tuple[str, ...], trials: int, seeds: int, epochs: int, n_train: int) -> dict:
    """A sweep over optimizers on MNIST-1D tuning the LR only, without early stopping: every trial runs to the end."""
    return {"name": name, "compare": "optimizer", "levels": list(levels), "workloads": [WORKLOAD],
            "fixed": {"n_train": n_train} if n_train else {},
            "tune": {"lr": {"min": LR_RANGE[0], "max": LR_RANGE[1], "scaling": "log"}},
            "budget": {"trials_per_level": trials, "epochs": epochs, "seeds": seeds, "asha": False}}


@ray.remote
def _threads_in_worker(threads: int) -> dict:
    before = torch.get_num_threads()
    run_trial(TrialConfig(workload=WORKLOAD, epochs=1, n_train=200, threads=threads, device="cpu"))
    return {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"), "torch before": before,
            "torch in trial": torch.get_num_threads()}


def thread_placement(tiny: bool) -> None:
    print("\n== 1. thread placement under Ray ==")
    cpus = os.cpu_count() or 1
    for num_cpus, threads in [(1, 1)] if tiny else [(1, 0), (1, 1), (cpus, 0), (cpus, cpus)]:
        got = ray.get(_threads_in_worker.options(num_cpus=num_cpus).remote(threads))
        print(f"  Ray task with num_cpus={num_cpus}, cfg.threads={threads}: {got}")


def single_trial_seconds(cfg: TrialConfig, repeats: int = 3) -> float:
    """Median wall time of one trial in this process with one torch thread (the first run warms caches)."""
    threads = torch.get_num_threads()
    try:
        run_trial(cfg.replace(epochs=1))
        return statistics.median(run_trial(cfg).final["wall_time"] for _ in range(repeats))
    finally:
        torch.set_num_threads(threads)


def timed_sweep(sweep: dict, out: Path, reuse: bool, cpus_per_trial: float = 1) -> dict[str, float]:
    """Run a sweep; return its wall time, trial count, the trials' summed own time, and its timeline: from the
    start to the first trial's start, and the span from there to the last trial's end (a trial's end is the
    time its result part was written, its start that minus its own wall time)."""
    t0 = time.time()
    folder = run_sweep(sweep, out, reuse_actors=reuse, cpus_per_trial=cpus_per_trial, progress=False)
    wall = time.time() - t0
    slots = json.loads((folder / "run.json").read_text())["slots"]
    trials = read_run(folder)["trials"].set_index("trial_id")
    ends = {p.stem: p.stat().st_mtime for p in ResultStore(folder).parts.glob("*.json")}
    starts = [ends[tid] - own for tid, own in trials["wall_time"].items()]
    return {"wall": wall, "n": len(trials), "own": float(trials["wall_time"].sum()), "slots": slots,
            "startup": min(starts) - t0,
            "span": max(ends.values()) - min(starts)}


def _sleeper(config: dict) -> None:
    if config["torch"]:
        import bench.train  # noqa: F401 - what every bench trial imports (torch included)
    time.sleep(config["seconds"])
    tune.report({"done": 1})


def tune_floor(n: int, seconds: float, cpus: int) -> None:
    """Ray Tune alone, same slots and actor reuse: n trials that only sleep, then the same importing torch first.
    What no trainable can get under on this machine; the rest of bench's overhead is measured against it."""
    quiet_tune_logs()
    for imports in (False, True):
        storage = tempfile.mkdtemp(prefix="tune-floor-")
        tuner = tune.Tuner(tune.with_resources(_sleeper, {"cpu": 1}),
                           param_space={"torch": imports, "seconds": seconds},
                           tune_config=tune.TuneConfig(num_samples=n, reuse_actors=True),
                           run_config=tune.RunConfig(storage_path=storage, verbose=0))
        t0 = time.perf_counter()
        tuner.fit()
        wall = time.perf_counter() - t0
        shutil.rmtree(storage, ignore_errors=True)
        print(f"  Ray Tune alone, {n} trials sleeping {seconds:.2f} s{' after importing torch' if imports else ''}: "
              f"overhead ratio {wall / (n * seconds / cpus):.2f}")


def throughput(args: argparse.Namespace, out: Path) -> None:
    print("\n== 2. trials per hour of a short sweep vs the ideal ==")
    cpus = os.cpu_count() or 1
    base = TrialConfig(workload=WORKLOAD, threads=1, device="cpu", n_train=args.n_train, epochs=1)
    epoch_s = single_trial_seconds(base, repeats=1)
    epochs = max(1, round(args.trial_seconds / epoch_s))
    t1 = single_trial_seconds(base.replace(epochs=epochs))
    ideal = cpus * 3600 / t1
    tuning, seeds = args.sweep_trials
    sweep = space("throughput", args.sweep_levels, tuning, seeds, epochs, args.n_train)
    print(f"  one trial ({WORKLOAD}, {epochs} epochs, 1 thread) alone: {t1:.2f} s -> ideal {ideal:.0f} trials/hour "
          f"on {cpus} CPUs")
    tune_floor(len(args.sweep_levels) * (tuning + seeds), t1, cpus)
    for reuse in (True, False):
        r = timed_sweep(sweep, out, reuse)
        rate = r["n"] * 3600 / r["wall"]
        overhead = r["wall"] / (r["own"] / r["slots"])
        print(f"  actor reuse {'on ' if reuse else 'off'}: {r['n']} trials in {r['wall']:.1f} s = {rate:.0f} trials/hour = "
              f"{rate / ideal:.2f} of ideal (goal >= 0.8)")
        print(f"      overhead ratio (reuse {'on' if reuse else 'off'}) = {overhead:.2f} (wall / (trials' own time / "
              f"{r['slots']} slots); goal < 1.3); start-up until the first trial runs {r['startup']:.1f} s; from then "
              f"to the last trial's end {r['n'] * 3600 / r['span'] / ideal:.2f} of ideal; trials' own time "
              f"{r['own'] / r['n']:.2f} s on average (alone: {t1:.2f} s)")
    if cpus > 1 and not args.tiny:
        r = timed_sweep(sweep, out, True, cpus_per_trial=cpus)
        rate = r["n"] * 3600 / r["wall"]
        print(f"  one {cpus}-thread slot instead of {cpus} 1-thread slots: {rate:.0f} trials/hour = {rate / ideal:.2f} of "
              f"ideal (why `bench sweep` defaults to one CPU per trial)")


def train_once(cfg: TrialConfig) -> tuple[float, float]:
    """The hand-written loop: in-memory tensors, shuffled index batches, evaluation once at the end."""
    seed_everything(cfg.seed)
    data = load_data(cfg)
    model = build_model("cnn", cfg, data)
    opt = build_optimizer(model.parameters(), cfg)
    if not bare_train(model, opt, data.train.x, data.train.y, cfg.epochs, cfg.batch_size):
        return float("nan"), float("nan")
    model.eval()
    with torch.inference_mode():
        acc = [float(torch.cat([model(s.x[i:i + EVAL_BATCH]) for i in range(0, len(s), EVAL_BATCH)]).argmax(-1)
                     .eq(s.y).float().mean()) for s in (data.val, data.test)]
    return acc[0], acc[1]


def optuna_script(args: argparse.Namespace) -> float:
    """7 optimizers x (TPE over the LR + seed re-runs of the best), one process, one thread; returns wall seconds."""
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    for name in OPTIMIZERS[:args.levels]:
        cfg = TrialConfig(workload=WORKLOAD, optimizer=name, epochs=args.epochs, n_train=args.n_train, device="cpu")

        def objective(trial: optuna.Trial, cfg: TrialConfig = cfg) -> float:
            val_acc, _ = train_once(cfg.replace(lr=trial.suggest_float("lr", *LR_RANGE, log=True)))
            return val_acc if val_acc == val_acc else 0.0  # a diverged run scores worst

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
        study.optimize(objective, n_trials=args.trials)
        tests = [train_once(cfg.replace(lr=study.best_params["lr"], seed=s))[1] for s in range(1, args.seeds + 1)]
        print(f"  script: {name:<9} lr {study.best_params['lr']:.3g}  test_acc {statistics.mean(tests):.3f}", flush=True)
    return time.perf_counter() - t0


def comparison(args: argparse.Namespace, out: Path, ray_started: bool) -> None:
    n = args.levels * (args.trials + args.seeds)
    print(f"\n== 3. {n} trials: hand-written Optuna script (1 process, 1 thread) vs bench sweep (all CPUs) ==")
    threads = torch.get_num_threads()
    try:
        script = optuna_script(args)
    finally:
        torch.set_num_threads(threads)
    sweep = space("comparison", OPTIMIZERS[:args.levels], args.trials, args.seeds, args.epochs, args.n_train)
    t0 = time.perf_counter()
    folder = run_sweep(sweep, out, progress=False)  # without a Ray session it starts and stops one, as `bench sweep` does
    wall = time.perf_counter() - t0
    done = read_run(folder)["trials"]
    print(f"  Optuna script: {script:.1f} s   bench sweep: {wall:.1f} s ({len(done)} trials, Ray start "
          f"{'excluded' if ray_started else 'included'})   sweep / script = {wall / script:.2f} (goal <= 1)")


def main() -> None:
    args = parse_args()
    logging.getLogger("ray").setLevel(logging.WARNING)
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, ray {ray.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        with ray_session(None, dashboard=False):  # one local Ray for sections 1 and 2 (and 3 with --tiny)
            thread_placement(args.tiny)
            throughput(args, Path(tmp))
            if args.tiny and not args.skip_comparison:
                comparison(args, Path(tmp), ray_started=True)
        if not args.tiny and not args.skip_comparison:
            comparison(args, Path(tmp), ray_started=False)


if __name__ == "__main__":
    main()
