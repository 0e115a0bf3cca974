"""How long `bench report` takes on a sweep with many levels and many trials.

Builds a synthetic sweep run folder in the real on-disk format (by default 50 levels x 200 tuning trials = 10,000
tuning trials, plus 3 final seeds per level, each with a few epochs), then times `bench report` on it (wall and
CPU seconds, with the load beside them). Trains nothing.

    python benchmarks/report_scale.py [--levels 50] [--trials 200] [--keep DIR]
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.config import TrialConfig  # noqa: E402
from bench.results import ResultStore, TrialRecord, to_tables  # noqa: E402

EPOCHS, SEEDS = 3, (1, 2, 3)


def trial(trial_id: str, level: str, phase: str, lr: float, seed: int, value: float) -> TrialRecord:
    cfg = TrialConfig(workload="mnist1d-cnn", optimizer="adam", lr=lr, seed=seed, epochs=EPOCHS).to_dict()
    tags = {"sweep": "scale", "phase": phase, "compare": "optimizer", "level": level, "group": "mnist1d-cnn",
            "tuned": "lr", "tune_metric": "val_acc", "target_metric": "test_acc", "target_mode": "max",
            "objective": value, "score": value}
    rows = [{"epoch": e, "step": 10 * e, "lr": lr, "train_loss": 1 / e, "val_loss": 1 / e, "val_acc": value * e / EPOCHS,
             "time": 0.5 * e} for e in range(1, EPOCHS + 1)]
    return TrialRecord(trial_id, tags, cfg, "ok", {"test_acc": value, "epochs_run": EPOCHS, "wall_time": 1.5}, rows, [])


def build(folder: Path, levels: int, trials: int) -> None:
    rng = np.random.default_rng(0)
    records = []
    for k in range(levels):
        level, best = f"level-{k:02d}", 10 ** rng.uniform(-4, -1)
        for t in range(trials):
            lr = float(10 ** rng.uniform(-5, 0))
            value = 0.9 - 0.05 * (math.log10(lr) - math.log10(best)) ** 2 + rng.normal(0, 0.01)
            records.append(trial(f"{level}.tune-{t:04d}", level, "tune", lr, 0, value))
        records += [trial(f"{level}.seed-{s}", level, "final", best, s, 0.9 + rng.normal(0, 0.01)) for s in SEEDS]
    for name, df in to_tables(records).items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    ResultStore(folder).write_provenance({"kind": "sweep", "sweep": "scale", "complete": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=50)
    parser.add_argument("--trials", type=int, default=200, help="tuning trials per level")
    parser.add_argument("--keep", type=Path, help="build the run folder here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp())
    run = root / "scale-run"
    run.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    build(run, args.levels, args.trials)
    built = time.perf_counter() - t0
    from bench.report.render import write_report

    t0, cpu0 = time.perf_counter(), time.process_time()
    write_report([run], root / "reports", "scale")
    print(f"{args.levels} levels x {args.trials} tuning trials (+{len(SEEDS)} seeds each): built in {built:.1f} s, "
          f"bench report in {time.perf_counter() - t0:.1f} s wall, {time.process_time() - cpu0:.1f} s CPU "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
