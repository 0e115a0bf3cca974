"""Per-step cost of each flagship workload's trial: one trial of the optimizers sweep (its quick budget's
configuration, Adam at the workload's recipe) trained on one core, timed per optimiser step.

For each workload it prints the training time per step (the epochs' training loops, evaluation excluded), the
trial's wall time per step (evaluation, set-up and probes included), what the trial's epochs would cost at that
rate, and the training loop's achieved FLOP/s as a share of the core's measured float32 matmul peak
(bench.flops). Run it before and after a change on the same machine and compare the ratios; a shared machine's
load moves the absolute figures, so note `uptime` beside them.

    python benchmarks/step_cost.py                        # both flagship workloads, 2 rounds of 3 epochs
    python benchmarks/step_cost.py --workloads mnist1d-gru --epochs 2 --rounds 1
    python benchmarks/step_cost.py --profile mnist1d-gru  # torch.profiler table of one epoch instead
"""
from __future__ import annotations

import argparse
import statistics

import torch

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
    return p.parse_args()


def trial_config(sweep: str, level: str, workload: str, epochs: int):
    """The quick sweep's configuration of one trial of `level` on `workload`, on one thread."""
    space = load_space(sweep).quick_version()
    base = space.base_config(level, workload)
    return base.replace(threads=1, epochs=epochs or base.epochs), space.base_config(level, workload).epochs


def measure(cfg) -> dict[str, float]:
    """One trial's per-step costs (milliseconds) and its training loop's share of the matmul peak."""
    result = run_trial(cfg, data=load_data(cfg))
    steps = int(result.final["steps"])
    train = sum(row["epoch_time"] for row in result.epochs)
    return {"train_ms": 1e3 * train / steps, "wall_ms": 1e3 * result.final["wall_time"] / steps, "steps": steps,
            "peak": float(result.final.get("peak_fraction", float("nan")))}


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
    print(f"{'workload':<14} {'steps':>6} {'train ms/step':>14} {'wall ms/step':>13} {'trial s':>8} {'peak share':>11}")
    for workload in workloads:
        cfg, budget_epochs = trial_config(args.sweep, args.level, workload, args.epochs)
        runs = [measure(cfg) for _ in range(args.rounds)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        trial = med["wall_ms"] / 1e3 * med["steps"] / cfg.epochs * budget_epochs
        print(f"{workload:<14} {med['steps']:>6.0f} {med['train_ms']:>14.2f} {med['wall_ms']:>13.2f} {trial:>8.1f} "
              f"{med['peak']:>11.1%}", flush=True)


if __name__ == "__main__":
    main()
