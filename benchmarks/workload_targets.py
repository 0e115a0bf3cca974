"""Converged scores of the workloads whose targets bench/workloads.py states but mnist1d_baselines.py does not
measure: the tanh RNN, the shuffled MNIST-1D variants, the imbalanced digit-0-vs-rest CNN and the adding problem
at T=20. Each runs a long recipe (Adam, constant LR) and prints the test score; a workload's target (`goal`) is
workloads.TARGET_SHARE of the mean (for losses and MSE: the converged value divided by it), rounded.
"mnist1d-rnn-slow" is a second recipe for the tanh RNN (smaller LR, longer), which is hard to train.

    python benchmarks/workload_targets.py                 # every recipe, 2 seeds, one thread
    python benchmarks/workload_targets.py --only mnist1d-rnn --seeds 1
"""
from __future__ import annotations

import argparse
import statistics

from mnist1d_baselines import RECIPES as MNIST1D

from bench.config import TrialConfig
from bench.train import run_trial
from bench.workloads import TARGET_SHARE, get_workload

RECIPES = {
    "mnist1d-rnn": {"workload": "mnist1d-rnn", "optimizer": "adam", "lr": 3e-3, "epochs": 60, "width": 64,
                    "clip_norm": 1.0},
    "mnist1d-shuffled-cnn": {**MNIST1D["cnn"], "workload": "mnist1d-shuffled-cnn"},
    "mnist1d-shuffled-mlp": {**MNIST1D["mlp"], "workload": "mnist1d-shuffled-mlp"},
    "mnist1d-shuffled-gru": {**MNIST1D["gru"], "workload": "mnist1d-shuffled-gru"},
    "mnist1d-imbalanced-cnn": {**MNIST1D["cnn"], "workload": "mnist1d-imbalanced-cnn"},
    "mnist1d-rnn-slow": {"workload": "mnist1d-rnn", "optimizer": "adam", "lr": 1e-3, "epochs": 80, "width": 64,
                         "clip_norm": 1.0},
    "mnist1d-lstm": {**MNIST1D["gru"], "workload": "mnist1d-lstm"},
    "digits-cnn": {"workload": "digits-cnn", "optimizer": "adam", "lr": 3e-3, "epochs": 40},
    "text-synthetic-rnn": {"workload": "text-synthetic-rnn", "optimizer": "adam", "lr": 3e-3, "epochs": 30,
                           "batch_size": 64, "clip_norm": 1.0},
    "temporal-order": {"workload": "temporal-order", "width": 32, "optimizer": "adam", "lr": 3e-3, "clip_norm": 1.0,
                       "batch_size": 64, "epochs": 40},
    "copy-memory": {"workload": "copy-memory", "width": 64, "optimizer": "adam", "lr": 3e-3, "clip_norm": 1.0,
                    "batch_size": 64, "epochs": 40},
    "adding": {"workload": "adding", "seq_len": 20, "n_train": 2000, "width": 32, "optimizer": "adam", "lr": 3e-3,
               "clip_norm": 1.0, "batch_size": 64, "epochs": 60},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(RECIPES))
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    for name in args.only.split(","):
        spec = get_workload(RECIPES[name]["workload"])
        scores = []
        for seed in range(args.seeds):
            cfg = TrialConfig.from_dict({**RECIPES[name], "seed": seed, "threads": 1, "probe_every": 0})
            result = run_trial(cfg)
            scores.append(float(result.final.get(spec.target, float("nan"))))
            print(f"{name:<24} seed {seed} {result.status:<8} {spec.target} {scores[-1]:.4f} "
                  f"{result.final['wall_time']:.0f}s", flush=True)
        mean = statistics.mean(scores)
        target = mean * TARGET_SHARE if spec.mode == "max" else mean / TARGET_SHARE
        print(f"{name:<24} converged {spec.target} {mean:.4f} -> target {target:.4g}", flush=True)


if __name__ == "__main__":
    main()
