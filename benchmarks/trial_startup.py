"""Per-trial start-up of a sweep's short trials: what the per-process dataset cache (workloads.load_data) saves.

Runs trials one after another in this process through `sweep_trial`, exactly as a reused Ray Tune actor runs
them, once with the cache emptied before every trial (each trial decodes its dataset from its files) and once
with the cache kept (the worker's first trial decodes, the others reuse its tensors, on a GPU its device
copy). Per trial it prints the wall time, the training time (the epochs' own timers) and the overhead = wall -
training (data, model set-up, evaluation, the result part), and the ratio of the two overheads. Workloads:
MNIST-1D (a 4 MB cached .npz) and CIFAR-format files written to a temporary folder (--cifar-images images,
decoded from pickled uint8 batches and normalised). Last, what a worker that is not reused pays before its first
step: a fresh Python process that imports torch and bench and decodes the data. With --ray, the same comparison as
real sweeps: `run_sweep` of short CIFAR-format trials on the local Ray, one CPU per trial, actors reused, once
with every trial decoding its data (the trainable empties the worker's cache first) and once as shipped; printed:
the sweeps' wall times, the mean trial wall time (run_trial's, data included), and their ratios.

    python benchmarks/trial_startup.py               # about a minute on one CPU thread
    python benchmarks/trial_startup.py --tiny        # seconds: checks that it runs
    python benchmarks/trial_startup.py --ray         # plus two Ray sweeps of 12 trials (a few minutes on 2 CPUs)
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _cifar_files import write_cifar10

from bench import workloads
from bench.config import TrialConfig
from bench.search.protocol import TUNE, Plan
from bench.search.space import load_space
from bench.search.trial import sweep_trial
from bench.workloads import load_data


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=6, help="trials per workload and mode")
    p.add_argument("--n-train", type=int, default=2048, help="training samples per trial (a short trial)")
    p.add_argument("--cifar-images", type=int, default=20000, help="images in the CIFAR-format files")
    p.add_argument("--tiny", action="store_true", help="2 trials, small files: a smoke test")
    p.add_argument("--ray", action="store_true", help="also two real sweeps on the local Ray, decoded per trial and cached")
    args = p.parse_args()
    if args.tiny:
        args.trials, args.n_train, args.cifar_images = 2, 256, 1000
    return args


def tasks(workload: str, data_dir: str, args: argparse.Namespace, out: Path) -> list[dict]:
    """Tuning trials of a one-level sweep of `workload`, each with its own LR, as the searcher hands them out."""
    space = load_space({"name": "startup", "compare": "optimizer", "levels": ["adam"], "workloads": [workload],
                        "fixed": {"data_dir": data_dir, "n_train": args.n_train, "probe_every": 0, "width": 8},
                        "tune": {"lr": {"min": 1e-4, "max": 1e-2, "scaling": "log"}},
                        "budget": {"trials_per_level": args.trials, "epochs": 1, "seeds": 1, "asha": False}})
    g = Plan(space).groups[0]
    return [{"trial_id": tid, "out": str(out), "config": g.config({"lr": 1e-3 * (1 + k)}, 0, 1).to_dict(),
             "tags": g.tags(space, TUNE), "metric": g.metric, "mode": g.mode, "target": g.target, "report_epochs": []}
            for k, tid in enumerate(g.tuning_ids())]


def forget() -> None:
    """Empty the worker's data: the decoded bundles and their copy on the GPU."""
    workloads._decoded.cache_clear()
    workloads._resident.cache_clear()


def run(batch: list[dict], cached: bool) -> tuple[float, float]:
    """Median wall time and median overhead (wall - training) per trial, the first trial excluded when cached
    (it decodes, as every trial does uncached)."""
    walls, overheads = [], []
    forget()
    for task in batch:
        if not cached:
            forget()
        t0 = time.perf_counter()
        sweep_trial(task)
        walls.append(time.perf_counter() - t0)
        part = Path(task["out"]) / "parts" / f"{task['trial_id']}.json"
        epochs = json.loads(part.read_text())["epochs"]
        overheads.append(walls[-1] - sum(e["epoch_time"] for e in epochs))
    skip = 1 if cached and len(batch) > 1 else 0
    return statistics.median(walls[skip:]), statistics.median(overheads[skip:])


def fresh_worker(workload: str, data_dir: str) -> float:
    """Seconds a new process needs to import torch and bench and decode the data (a worker that is not reused)."""
    code = ("import time; t0 = time.perf_counter(); from bench.train import run_trial; from bench.config import "
            f"TrialConfig; from bench.workloads import load_data; load_data(TrialConfig(workload={workload!r}, "
            f"data_dir={data_dir!r})); print(time.perf_counter() - t0)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def decoding_trial(task: dict) -> dict:
    """sweep_trial with the worker's data cache emptied first: every trial decodes its dataset, as without the cache."""
    from bench import workloads as loaded

    loaded._decoded.cache_clear()
    loaded._resident.cache_clear()
    return sweep_trial(task)


def ray_sweeps(data_dir: str, args: argparse.Namespace, out: Path) -> None:
    """Two sweeps of the same short CIFAR-format trials on the local Ray: every trial decoding, then as shipped."""
    import pandas as pd

    import bench.search.tune as driver

    space = load_space({"name": "startup", "compare": "optimizer", "levels": ["adam", "sgd"],
                        "workloads": ["cifar10-cnn"], "fixed": {"data_dir": data_dir, "n_train": args.n_train,
                                                                "probe_every": 0, "width": 8},
                        "tune": {"lr": {"min": 1e-4, "max": 1e-2, "scaling": "log"}},
                        "budget": {"trials_per_level": 2 if args.tiny else 5, "epochs": 1, "seeds": 1, "confirm": 0,
                                   "asha": False}})
    rows = {}
    with driver.ray_session(None, dashboard=False):
        for label, trainable in (("decoded per trial", decoding_trial), ("cached", sweep_trial)):
            driver.sweep_trial = trainable  # the trainable tune.fit hands Tune
            t0 = time.perf_counter()
            folder = driver.run_sweep(space, out / label.replace(" ", "-"), gpus_per_trial=0.0, progress=False)
            wall = time.perf_counter() - t0
            trials = pd.read_parquet(folder / "trials.parquet")
            rows[label] = (wall, float(trials["wall_time"].mean()), len(trials))
            print(f"  Ray sweep, {label:<18} {rows[label][2]} trials in {wall:6.1f} s; trial wall time "
                  f"{rows[label][1]:.2f} s (mean)")
    driver.sweep_trial = sweep_trial
    (w0, t0_, _), (w1, t1, _) = rows["decoded per trial"], rows["cached"]
    print(f"  Ray sweep ratio decoded per trial / cached: sweep wall {w0 / w1:.2f}x, trial wall {t0_ / t1:.2f}x")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        write_cifar10(Path(tmp) / "data", n_train=args.cifar_images, n_test=args.cifar_images // 5)
        print(f"{args.trials} trials per row, 1 epoch of {args.n_train} samples each, one CPU thread, one process "
              "(a reused worker); medians per trial:")
        for workload, data_dir in (("mnist1d-cnn", "data"), ("cifar10-cnn", str(Path(tmp) / "data"))):
            rows = {}
            for cached in (False, True):
                out = Path(tmp) / f"{workload}-{cached}"
                rows[cached] = run(tasks(workload, data_dir, args, out), cached)
                print(f"  {workload:<12} {'cached' if cached else 'decoded per trial':<18} wall {rows[cached][0]:6.3f} s,"
                      f" overhead {rows[cached][1]:6.3f} s")
            t0 = time.perf_counter()
            forget()
            load_data(TrialConfig(workload=workload, data_dir=data_dir))
            decode = time.perf_counter() - t0
            ratio, wall = rows[False][1] / rows[True][1], rows[False][0] / rows[True][0]
            print(f"  {workload:<12} decoding the data alone: {decode:.3f} s; overhead ratio per-trial decode / "
                  f"cached: {ratio:.2f}x; trial wall ratio {wall:.2f}x; a fresh worker's start (import torch + "
                  f"bench, decode): {fresh_worker(workload, data_dir):.2f} s")
        if args.ray:
            ray_sweeps(str(Path(tmp) / "data"), args, Path(tmp) / "runs")


if __name__ == "__main__":
    main()
