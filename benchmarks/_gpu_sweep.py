"""The shared-GPU sweep of gpu_check.sh: `prepare DIR` writes CIFAR-shaped data in CIFAR-10's format and a
16-trial search space (2 optimizers x (6 LR-tuning trials + 2 seed re-runs), no early stopping) into DIR;
`summary RUNS` prints what the sweep under RUNS achieved: trials, statuses, wall time, concurrency and the
per-trial training throughput.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml
from _cifar_files import write_cifar10

from bench.results import read_run


def prepare(folder: Path, n_train: int = 10000) -> None:
    write_cifar10(folder / "data", n_train=n_train, n_test=n_train // 5)
    space = {"name": "gpu-share", "compare": "optimizer", "levels": ["adam", "sgd"], "workloads": ["cifar10-cnn"],
             "fixed": {"data_dir": str(folder / "data"), "batch_size": 256},
             "tune": {"lr": {"min": 1e-4, "max": 1e-1, "scaling": "log"}},
             "budget": {"trials_per_level": 6, "epochs": 3, "seeds": 2, "asha": False}}
    (folder / "gpu-share.yaml").write_text(yaml.safe_dump(space, sort_keys=False))


def summary(runs: Path) -> None:
    folders = sorted(runs.glob("gpu-share-*"), key=lambda p: p.stat().st_mtime)
    if not folders:
        print(f"no sweep run folder under {runs}: the sweep did not start")
        return
    run = read_run(folders[-1])
    trials, info = run["trials"], run["provenance"]
    ok = trials[trials["status"] == "ok"]
    print(f"{len(trials)} trials ({trials['status'].value_counts().to_dict()}) in {info.get('wall_time', float('nan')):.1f} s "
          f"with {info.get('slots')} at a time ({info.get('gpus_per_trial')} GPU each)")
    if len(ok):
        print(f"per trial: {ok['samples_per_sec'].mean():.0f} samples/s, {ok['flops_per_sec'].mean() / 1e12:.2f} TFLOP/s "
              f"({ok['peak_fraction'].mean():.1%} of the bf16 matmul peak), {ok['wall_time'].mean():.1f} s wall")


if __name__ == "__main__":
    {"prepare": prepare, "summary": summary}[sys.argv[1]](Path(sys.argv[2]))
