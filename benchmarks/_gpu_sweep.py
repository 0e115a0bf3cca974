"""The shared-GPU sweep of gpu_check.sh: `prepare DIR` writes CIFAR-shaped data in CIFAR-10's format and a
16-trial search space (2 optimizers x (5 LR-tuning trials + 1 confirm re-run + 2 seed re-runs), no early
stopping) into DIR;
`summary DIR` prints what the sweep under DIR/runs achieved: trials, statuses, wall time, how the GPU was
shared, whether each level's seed re-runs trained as one stacked model, the per-trial training throughput, and
the sweep's aggregate training throughput (samples trained by all trials over the sweep's wall time) against one
trial of the same config alone on the GPU, measured here. `--tiny` (both commands): 500 images, 10 one-epoch
trials, and the lone trial on the CPU: gpu_check.sh --smoke runs the section that way on a machine without a GPU.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from _cifar_files import write_cifar10

from bench.config import TrialConfig
from bench.results import read_run
from bench.train import run_trial

BATCH = 256


def prepare(folder: Path, n_train: int = 10000, tiny: bool = False) -> None:
    n_train = 500 if tiny else n_train
    write_cifar10(folder / "data", n_train=n_train, n_test=n_train // 5)
    budget = {"trials_per_level": 2, "epochs": 1} if tiny else {"trials_per_level": 5, "epochs": 3}
    space = {"name": "gpu-share", "compare": "optimizer", "levels": ["adam", "sgd"], "workloads": ["cifar10-cnn"],
             "fixed": {"data_dir": str(folder / "data"), "batch_size": BATCH, **({"width": 4} if tiny else {})},
             "tune": {"lr": {"min": 1e-4, "max": 1e-1, "scaling": "log"}},
             "budget": {**budget, "confirm": 1, "seeds": 2, "asha": False}}
    (folder / "gpu-share.yaml").write_text(yaml.safe_dump(space, sort_keys=False))


def alone(folder: Path, device: str) -> float:
    """Training samples/s of one trial of the sweep's config with the GPU to itself (2 epochs, the second's rate)."""
    cfg = TrialConfig(workload="cifar10-cnn", data_dir=str(folder / "data"), batch_size=BATCH, epochs=2,
                      optimizer="adam", lr=1e-3, device=device)
    return float(run_trial(cfg).epochs[-1]["samples_per_sec"])


def summary(folder: Path, tiny: bool = False) -> None:
    runs = folder / "runs"
    folders = sorted(runs.glob("gpu-share-*"), key=lambda p: p.stat().st_mtime)
    if not folders:
        print(f"no sweep run folder under {runs}: the sweep did not start")
        return
    run = read_run(folders[-1])
    trials, info = run["trials"], run["provenance"]
    ok = trials[trials["status"] == "ok"]
    print(f"{len(trials)} trials ({trials['status'].value_counts().to_dict()}) in {info.get('wall_time', float('nan')):.1f} s "
          f"with {info.get('slots')} at a time ({info.get('gpus_per_trial')} GPU each; {info.get('gpus', {})}); "
          f"seed re-runs stacked: {info.get('stack_seeds')}")
    if len(ok):
        print(f"per trial: {ok['samples_per_sec'].mean():.0f} samples/s, {ok['flops_per_sec'].mean() / 1e12:.2f} TFLOP/s "
              f"({ok['peak_fraction'].mean():.1%} of the bf16 matmul peak), {ok['wall_time'].mean():.1f} s wall")
        epochs = run["epochs"].pivot_table(index=["trial_id", "epoch"], columns="metric", values="value")
        trained = float((epochs["samples_per_sec"] * epochs["epoch_time"]).sum())
        rate, single = trained / info["wall_time"], alone(folder, "cpu" if tiny else "cuda")
        print(f"aggregate: {rate:.0f} samples/s over the sweep's wall time; one trial alone: {single:.0f} samples/s; "
              f"ratio {rate / single:.2f} (goal >= 3)")
        # optimizers x (tuning + confirm + seed trials, as search_spaces/optimizers.yaml) x epochs x CIFAR-10 training
        # images; ASHA stops some tuning trials early, so this is an upper bound.
        full = 7 * (12 + 3 + 5) * 20 * 45_000
        print(f"the full CIFAR-10 optimizer comparison ({full:.3g} training samples) at this aggregate rate: about "
              f"{full / rate / 60:.1f} min (goal <= 5 min)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("prepare", "summary"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--tiny", action="store_true", help="500 images, 10 one-epoch trials, the lone trial on the CPU")
    args = parser.parse_args()
    (prepare if args.command == "prepare" else summary)(args.folder, tiny=args.tiny)
