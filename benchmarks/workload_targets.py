"""Converged scores of the workloads, measured on exactly the recipe each workload trains (bench/workloads.py:
its model, its training settings and its `converged` epochs); this script has no recipes of its own. For each
workload it prints every seed's test score, the mean, the goal that mean gives (workloads.target_value) and the
goal the workload records now, with the recorded basis's settings checked against the recipe: a changed recipe
whose goal was not measured again says so.

    python benchmarks/workload_targets.py                           # every workload with a goal, 2 seeds, one thread
    python benchmarks/workload_targets.py --only mnist1d-gru --seeds 3
    python benchmarks/workload_targets.py --only mnist1d-cnn --epochs 1   # a smoke test: one epoch
"""
from __future__ import annotations

import argparse
import math
import statistics

from bench.train import run_trial
from bench.workloads import WORKLOADS, GoalBasis, get_workload, recipe_config, target_value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    measured = [name for name, spec in WORKLOADS.items() if isinstance(spec.goal_basis, GoalBasis)]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(measured), help="comma-separated workload names")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run: first-seed .. first-seed + seeds - 1 "
                                                                   "(split one measurement over processes)")
    parser.add_argument("--epochs", type=int, default=0, help="override the converged epochs (smoke tests only)")
    return parser.parse_args(argv)


def measure(workload: str, seeds: range, epochs: int = 0) -> list[float]:
    """The test score of each seed's run of the workload's recipe at its converged budget."""
    spec = get_workload(workload)
    scores = []
    for seed in seeds:
        cfg = recipe_config(workload, "converged", seed=seed, threads=1, probe_every=0, **({"epochs": epochs} if epochs
                                                                                          else {}))
        result = run_trial(cfg)
        scores.append(float(result.final.get(spec.target, math.nan)))  # a diverged run has no test score
        print(f"{workload:<24} seed {seed} {result.status:<8} {spec.target} {scores[-1]:.4f} "
              f"{result.final['wall_time']:.0f}s", flush=True)
    return scores


def summary(workload: str, scores: list[float]) -> str:
    """The mean, the goal it gives, and whether the workload's recorded goal rests on this recipe."""
    spec = get_workload(workload)
    mean = statistics.mean(scores)
    basis = spec.goal_basis
    stale = isinstance(basis, GoalBasis) and basis.settings != spec.recipe.run("converged")
    return (f"{workload:<24} converged {spec.target} {mean:.4f} -> goal {target_value(mean, spec.chance):.4g} "
            f"(recorded: {spec.goal:.4g} from {basis}{'; STALE: measured on other settings' if stale else ''})")


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    args = parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results = {name: measure(name, seeds, args.epochs) for name in args.only.split(",")}
    for name, scores in results.items():
        print(summary(name, scores), flush=True)
    return results


if __name__ == "__main__":
    main()
