"""Reproduce the MNIST-1D baselines (Greydanus 2020) with bench's workloads, mean test accuracy over 3 seeds.

Bars: CNN >= 92%, GRU >= 88%, MLP >= 60% (published: CNN 94%, GRU 91%, MLP 68%, logistic 32%).
Each model trains its workload's own recipe (bench/workloads.py, at its `converged` epochs; `bench list workloads`
prints them), so that these baselines and the workloads' goals rest on the model the workloads train; 3,600
training sequences after the 400 held out for validation.

    python benchmarks/mnist1d_baselines.py                 # 3 seeds x 3 models on one thread
    python benchmarks/mnist1d_baselines.py --models cnn    # one of them
    python benchmarks/mnist1d_baselines.py --quick         # one seed, one epoch: checks that it runs
Prints a line per run and a summary; exits with status 1 when a mean misses its bar (never with --quick).
"""
from __future__ import annotations

import argparse
import statistics
import sys

from bench.train import run_trial
from bench.workloads import recipe_config

WORKLOADS = {"cnn": "mnist1d-cnn", "gru": "mnist1d-gru", "mlp": "mnist1d-mlp"}
BARS = {"cnn": 0.92, "gru": 0.88, "mlp": 0.60}
PUBLISHED = {"cnn": 0.94, "gru": 0.91, "mlp": 0.68}


def measure(model: str, seeds: list[int], threads: int, quick: bool) -> list[float]:
    """Test accuracy of each seed's run of the model's recipe (one epoch with quick)."""
    accs = []
    for seed in seeds:
        overrides = {"epochs": 1} if quick else {}
        cfg = recipe_config(WORKLOADS[model], "converged", seed=seed, threads=threads, probe_every=0, **overrides)
        result = run_trial(cfg)
        acc = result.final.get("test_acc", float("nan"))  # a diverged run has no test accuracy
        accs.append(acc)
        print(f"{cfg.workload:<12} seed {seed}  {result.status:<8} test_acc {acc:.4f}  "
              f"{result.final['wall_time']:.0f}s", flush=True)
    return accs


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="cnn,gru,mlp", help=f"comma-separated, from: {', '.join(WORKLOADS)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="one seed, one epoch per model")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    if unknown := set(models) - set(WORKLOADS):
        parser.error(f"unknown model(s) {', '.join(sorted(unknown))}; choose from {', '.join(WORKLOADS)}")
    seeds = list(range(1 if args.quick else args.seeds))
    results = {m: measure(m, seeds, args.threads, args.quick) for m in models}
    print(f"\n{'model':<6} {'mean':>7} {'sd':>7} {'min':>7} {'max':>7}  published  bar")
    for m, accs in results.items():
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        verdict = "" if args.quick else ("PASS" if statistics.mean(accs) >= BARS[m] else "FAIL")
        print(f"{m:<6} {statistics.mean(accs):7.4f} {sd:7.4f} {min(accs):7.4f} {max(accs):7.4f}  "
              f"{PUBLISHED[m]:9.2f}  {BARS[m]:.2f} {verdict}")
    return results


def passed(results: dict[str, list[float]]) -> bool:
    return all(statistics.mean(accs) >= BARS[m] for m, accs in results.items())


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    results = main()
    sys.exit(0 if quick or passed(results) else 1)
