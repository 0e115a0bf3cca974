"""What running a plan's trials as Ray Tune trials costs per trial, against running them in this process.

One plan of fixed configurations (a group per seed set, nothing to tune: how the studies' trials and the FAQ's
final seeds run) is run twice: by `InProcess` (one trial after another here, no Ray) and by `RayTune` on a private
local Ray with as many slots as --slots. Printed: each run's wall time, the trials' own training time (the
trials table's wall_time column), the overhead per trial (wall - training / slots, over the trials) and the ratio
of the walls. With one slot the difference is the engine's bookkeeping per trial (Tune's trial start, the actor
hand-over, the result); with two slots on two cores, whether the parallelism pays for it. The trials are MNIST-1D
CNN runs of --steps optimizer steps, a few seconds like the FAQ's quick trials; Ray's start is timed apart.

    python benchmarks/runner_overhead.py                  # 16 trials, 1 and 2 slots: about two minutes on 2 CPUs
    python benchmarks/runner_overhead.py --trials 2 --steps 2 --slots 2   # seconds, one Ray start: checks that it runs
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.config import TrialConfig
from bench.results import ResultStore, to_tables
from bench.search.protocol import Group, Plan
from bench.search.runners import InProcess, RayTune


def plan(trials: int, steps: int) -> Plan:
    cfg = TrialConfig.from_dict({"workload": "mnist1d-cnn", "optimizer": "adam", "epochs": 1, "max_steps": steps,
                                 "threads": 1})
    return Plan(None, groups=[Group(0, "adam", "overhead", (), cfg, "test_acc", "max", trials=0,
                                    seeds=tuple(range(1, trials + 1)), experiment="overhead")])


def timed(runner, trials: int, steps: int, slots: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        runner.run(plan(trials, steps), Path(folder), None)
        wall = time.perf_counter() - t0
        table = to_tables(ResultStore(folder).finished())["trials"]
    assert len(table) == trials and (table["status"] == "ok").all(), table[["trial_id", "status"]]
    train = float(table["wall_time"].sum())
    return {"wall_s": wall, "training_s": train, "overhead_per_trial_s": (wall - train / slots) / trials}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--slots", type=int, choices=(1, 2), help="Ray Tune with this many slots only (default: 1 and "
                        "2; each is a Ray start of its own)")
    args = parser.parse_args()
    rows = [{"runner": "in-process", "slots": 1, **timed(InProcess(), args.trials, args.steps, 1)}]
    for slots in [args.slots] if args.slots else sorted({1, min(2, os.cpu_count() or 1)}):
        t0 = time.perf_counter()
        with RayTune(cpus=(os.cpu_count() or 1) / slots, gpus=0.0, log=lambda line: None) as ray_runner:
            start = time.perf_counter() - t0
            rows.append({"runner": "ray tune", "slots": ray_runner.slots, "ray_start_s": start,
                         **timed(ray_runner, args.trials, args.steps, ray_runner.slots)})
    table = pd.DataFrame(rows)
    table["wall_vs_in_process"] = table["wall_s"] / table.loc[0, "wall_s"]
    print(f"{args.trials} trials of {args.steps} steps (MNIST-1D CNN; a trial uses as many threads as its CPUs), "
          f"{os.cpu_count()} CPUs")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
