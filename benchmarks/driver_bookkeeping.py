"""The driver's bookkeeping per trial, against the number of trials per level.

Drives the protocol's searcher (`ProtocolSearcher`) without Ray or training: one LR-grid group with N tuning
trials, its confirm re-runs and final seeds; every suggested trial "finishes" at once with a made-up objective,
and the terminal's trial line is formatted as in a run. Prints the mean bookkeeping time of a trial over the
last tenth of the tuning trials for each N, and the ratio of the largest N to the smallest: it stays near 1 when
the bookkeeping is O(1) in the trials per level (a suggestion is still written to disk per trial, as in a run).

    python benchmarks/driver_bookkeeping.py [--trials 100,1000,10000]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.config import TrialConfig  # noqa: E402
from bench.search.protocol import Group, Plan  # noqa: E402
from bench.search.tune import ProtocolSearcher, trial_line  # noqa: E402


def per_trial_seconds(n: int, folder: Path) -> float:
    """Mean seconds of suggest + complete + trial line over the last tenth of n tuning trials."""
    g = Group(0, "adam", "mnist1d-cnn", ("lr",), TrialConfig(workload="mnist1d-cnn"), "test_acc", "max", n,
              (1, 2, 3), confirm=2, confirm_seed=1000, grid=(1e-3, 1e-2, 1e-1, 1.0), experiment="bookkeeping",
              compare="optimizer")
    plan = Plan(None, groups=[g])
    searcher = ProtocolSearcher(plan, folder, threads=1)
    tail, spent = n - max(1, n // 10), 0.0
    for k in range(n):
        t0 = time.perf_counter()
        task = searcher.suggest(f"t{k}")
        value = 0.5 + 0.4 * (k % 97) / 97
        searcher.on_trial_complete(f"t{k}", {"trial_id": task["trial_id"], "final": True, "status": "ok",
                                             "objective": value})
        trial_line(plan, task, {"status": "ok", "objective": value}, running=0, seconds=1.0)
        if k >= tail:
            spent += time.perf_counter() - t0
    return spent / (n - tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", default="100,1000,10000", help="tuning trials per level, comma-separated")
    args = parser.parse_args()
    sizes = [int(n) for n in args.trials.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f}")
    times = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            times[n] = per_trial_seconds(n, Path(d))
        print(f"{n:>6} tuning trials per level: {times[n] * 1e3:7.3f} ms of bookkeeping per trial")
    print(f"ratio {sizes[-1]} / {sizes[0]} trials per level: {times[sizes[-1]] / times[sizes[0]]:.2f} "
          "(near 1: O(1) per trial)")


if __name__ == "__main__":
    main()
