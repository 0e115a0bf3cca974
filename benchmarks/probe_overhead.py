"""Probe overhead: training time with the per-layer probes on against the same trial with probes off.

Each workload is trained with probes off, on every step, and on every N steps (default 50, TrialConfig's default),
in interleaved rounds (rotating the order) so that load from other processes hits all three alike; the median
over rounds of the training-loop time (sum of epoch_time: the optimiser steps, not the per-epoch evaluation) is
compared. At N = 50 the difference is smaller than run-to-run noise on a shared machine, so the overhead at N is
also estimated from the every-step cost: (t_every_step / t_off - 1) / N.

    python benchmarks/probe_overhead.py                  # 3 workloads, 4 epochs, 3 rounds
    python benchmarks/probe_overhead.py --tiny           # a few seconds: checks that everything runs
"""
from __future__ import annotations

import argparse
import statistics

from bench.config import TrialConfig
from bench.train import run_trial
from bench.workloads import load_data


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="mnist1d-mlp,mnist1d-cnn,mnist1d-gru", help="comma-separated workload names")
    p.add_argument("--every", type=int, default=TrialConfig.probe_every, help="probe interval to measure")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; the median is reported")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="one epoch on 512 samples, one round: a smoke test")
    args = p.parse_args()
    if args.tiny:
        args.epochs, args.rounds = 1, 1
    return args


def loop_time(cfg: TrialConfig) -> float:
    result = run_trial(cfg, data=load_data(cfg))
    return sum(row["epoch_time"] for row in result.epochs)


def measure(workload: str, args: argparse.Namespace) -> dict[int, float]:
    base = TrialConfig(workload=workload, epochs=args.epochs, threads=args.threads, device="cpu",
                       n_train=512 if args.tiny else 0)
    intervals = [0, 1, args.every]
    times: dict[int, list[float]] = {every: [] for every in intervals}
    for r in range(args.rounds):
        for every in intervals[r % 3:] + intervals[:r % 3]:
            times[every].append(loop_time(base.replace(probe_every=every)))
    return {every: statistics.median(t) for every, t in times.items()}


def main() -> None:
    args = parse_args()
    print(f"{args.epochs} epochs, {args.rounds} rounds, {args.threads} thread(s); training-loop seconds (median)")
    for workload in args.workloads.split(","):
        t = measure(workload, args)
        every_step = t[1] / t[0] - 1
        print(f"{workload:14s} off {t[0]:7.2f}s  every step {t[1]:7.2f}s ({100 * every_step:+6.1f}%)  every {args.every}: "
              f"{t[args.every]:7.2f}s ({100 * (t[args.every] / t[0] - 1):+5.1f}% measured, "
              f"{100 * every_step / args.every:+5.2f}% estimated)", flush=True)


if __name__ == "__main__":
    main()
