"""Per-step cost of each flagship workload's trial: one trial of the optimizers sweep (its quick budget's
configuration, Adam at the workload's recipe) trained on one core, timed per optimiser step.

For each workload it prints the training time per step and per sample (the epochs' training loops, evaluation
excluded), the trial's wall time per step (evaluation, set-up and probes included), what a trial of the budget's
epochs costs at that rate, and the training loop's achieved FLOP/s as a share of the core's measured float32
matmul peak (bench.flops). `--against` trains a second configuration of each workload (the recipe with some
fields changed, e.g. an older recipe) in the same run, interleaved round by round so that a shared machine's load
hits both alike, and prints the ratios of their costs: compare ratios, not absolute figures, and note `uptime`.

    python benchmarks/step_cost.py                        # both flagship workloads, 2 rounds of 3 epochs
    python benchmarks/step_cost.py --workloads mnist1d-gru --against depth=2,width=32,batch_size=64,clip_norm=0
    python benchmarks/step_cost.py --profile mnist1d-gru  # torch.profiler table of one epoch instead
"""
from __future__ import annotations

import argparse
import statistics
from typing import Any

import torch

from bench.config import TrialConfig, parse_text
from bench.search.space import load_space
from bench.train import run_trial
from bench.workloads import load_data


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", default="optimizers", help="the search space whose trials are measured")
    p.add_argument("--workloads", default="", help="comma-separated; default: the sweep's workloads")
    p.add_argument("--level", default="adam", help="the level whose base configuration is trained")
    p.add_argument("--epochs", type=int, default=3, help="epochs per measured trial (the quick budget's by default "
                                                         "when 0)")
    p.add_argument("--rounds", type=int, default=2, help="repetitions per workload; the median is reported")
    p.add_argument("--profile", default="", help="a workload: print torch.profiler's table of one epoch instead")
    p.add_argument("--against", default="", help="KEY=VALUE,...: a second configuration of each workload, the "
                                                 "recipe with these fields changed, measured beside it")
    p.add_argument("--against-epochs", type=int, default=0, help="the budget's epochs of the --against trial "
                                                                 "(default: the recipe's)")
    return p.parse_args()


def overrides(text: str) -> dict[str, Any]:
    """KEY=VALUE,... as TrialConfig values (typed as the fields they set)."""
    pairs = [item.split("=", 1) for item in text.split(",") if item]
    return {key: parse_text(key, value) for key, value in pairs}


def trial_config(sweep: str, level: str, workload: str, epochs: int):
    """The quick sweep's configuration of one trial of `level` on `workload`, on one thread."""
    space = load_space(sweep).quick_version()
    base = space.base_config(level, workload)
    return base.replace(threads=1, epochs=epochs or base.epochs), space.base_config(level, workload).epochs


def measure(cfg: TrialConfig) -> dict[str, float]:
    """One trial's per-step and per-sample costs and its training loop's share of the matmul peak."""
    result = run_trial(cfg, data=load_data(cfg))
    steps = int(result.final["steps"])
    train = sum(row["epoch_time"] for row in result.epochs)
    samples = steps * cfg.batch_size
    return {"train_ms": 1e3 * train / steps, "sample_us": 1e6 * train / samples,
            "wall_ms": 1e3 * result.final["wall_time"] / steps, "steps": steps,
            "peak": float(result.final.get("peak_fraction", float("nan")))}


def row(name: str, med: dict[str, float], trial_s: float) -> str:
    return (f"{name:<22} {med['steps']:>6.0f} {med['train_ms']:>9.2f} {med['sample_us']:>10.1f} {med['wall_ms']:>9.2f} "
            f"{trial_s:>8.1f} {med['peak']:>7.1%}")


def profile(cfg) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    run_trial(cfg.replace(epochs=1), data=load_data(cfg))  # warm: data decoded, kernels chosen
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        run_trial(cfg.replace(epochs=1), data=load_data(cfg))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    if args.profile:
        profile(trial_config(args.sweep, args.level, args.profile, 1)[0])
        return
    workloads = args.workloads.split(",") if args.workloads else list(load_space(args.sweep).workloads)
    against = overrides(args.against)
    print(f"{'trial':<22} {'steps':>6} {'ms/step':>9} {'us/sample':>10} {'wall ms':>9} {'trial s':>8} {'peak':>7}")
    for workload in workloads:
        cfg, budget_epochs = trial_config(args.sweep, args.level, workload, args.epochs)
        configs = {workload: (cfg, budget_epochs)}
        if against:
            configs["  against"] = (cfg.replace(**against), args.against_epochs or budget_epochs)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
        for c, _ in configs.values():  # the process's one-off costs (data, the matmul peak) land on no measurement
            run_trial(c.replace(epochs=1, max_steps=2), data=load_data(c))
        for _ in range(args.rounds):  # interleaved: load from other processes hits every configuration alike
            for name, (c, _) in configs.items():
                runs[name].append(measure(c))
        trial = {}
        for name, (c, epochs) in configs.items():
            med = {k: statistics.median(r[k] for r in runs[name]) for k in runs[name][0]}
            trial[name] = med["wall_ms"] / 1e3 * med["steps"] / c.epochs * epochs
            runs[name] = med
            print(row(name, med, trial[name]), flush=True)
        if against:
            before, after = runs["  against"], runs[workload]
            print(f"  ratio against/recipe: per sample {before['sample_us'] / after['sample_us']:.2f}x, "
                  f"per trial {trial['  against'] / trial[workload]:.2f}x", flush=True)


if __name__ == "__main__":
    main()
