"""A hand-made sweep run folder in the real on-disk format, with planted answers for the report tests.

Sweep "opt" compares optimizers on two workloads: mnist1d-cnn (test_acc, higher is better) and adding
(test_mse, lower is better). Tuning: 7 learning rates per level on a log grid, the validation score peaking
at each level's own LR; lr = 1 diverges for adam and rmsprop; one sgd trial fails with an error and ASHA
stops another (lr = 1e-4) after 2 epochs. Final
phase: seeds 1-5, except on adding, where adam ran a sixth seed (unequal seed sets: compared with Welch's test),
rmsprop's seed 5 diverged and sgd's seed 4 failed with an error (they count as failed, not as scores). Planted:
adam and rmsprop share a mean (no real difference), sgd is clearly worse.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bench.config import TrialConfig
from bench.results import ResultStore, TrialRecord

LEVELS = ("sgd", "adam", "rmsprop")
WORKLOADS = {"mnist1d-cnn": ("test_acc", "max"), "adding": ("test_mse", "min")}
TRUE_MEAN = {("mnist1d-cnn", "sgd"): 0.80, ("mnist1d-cnn", "adam"): 0.90, ("mnist1d-cnn", "rmsprop"): 0.90,
             ("adding", "sgd"): 0.060, ("adding", "adam"): 0.020, ("adding", "rmsprop"): 0.020}
NOISE = {"mnist1d-cnn": 0.01, "adding": 0.002}
BEST_LR = {"sgd": 0.1, "adam": 1e-3, "rmsprop": 1e-3}
LRS = tuple(float(x) for x in np.geomspace(1e-4, 1.0, 7))
SEEDS = (1, 2, 3, 4, 5)
EXTRA_SEED = {("adding", "adam"): 6}  # a level that ran one seed more than the others
FAILED_FINAL = {("adding", "rmsprop", 5): "diverged", ("adding", "sgd", 4): "error"}
EPOCHS = 6
LAYERS = ("features.0.conv", "features.1.conv", "head.1", "head.4")


def curve(final: float, mode: str, epoch: int) -> float:
    """A validation curve that approaches `final` (from 0.1 for accuracies, from 0.5 for MSE)."""
    start = 0.1 if mode == "max" else 0.5
    return final + (start - final) * math.exp(-epoch / 1.5)


def epochs_rows(final: float, mode: str, seconds_per_epoch: float, n: int = EPOCHS) -> list[dict]:
    metric = "acc" if mode == "max" else "mse"
    rows = []
    for e in range(1, n + 1):
        val = curve(final, mode, e)
        rows.append({"epoch": e, "step": 10 * e, "lr": 0.01, "train_loss": 1.0 / e, "val_loss": 1.0 / e + 0.05 * e,
                     f"train_{metric}": val + (0.02 if mode == "max" else -0.002), f"val_{metric}": val,
                     "epoch_time": seconds_per_epoch, "time": seconds_per_epoch * e})
    return rows


def gradient_rows(level: str) -> list[dict]:
    scale = {"sgd": 1.0, "adam": 0.5, "rmsprop": 0.3}[level]
    return [{"step": 10 * s, "epoch": s, "layer": layer, "depth": d, "grad_norm": scale * 10 ** (-0.5 * d) / s}
            for s in range(1, EPOCHS + 1) for d, layer in enumerate(LAYERS)]


def record(trial_id: str, workload: str, level: str, phase: str, lr: float, seed: int, value: float,
           status: str = "ok", error: str = "") -> TrialRecord:
    metric, mode = WORKLOADS[workload]
    cfg = TrialConfig(workload=workload, optimizer=level, lr=lr, seed=seed, epochs=EPOCHS).to_dict()
    tags = {"sweep": "opt", "phase": phase, "compare": "optimizer", "level": level, "group": workload, "tuned": "lr",
            "tune_metric": "val_" + metric.partition("_")[2], "target_metric": metric, "target_mode": mode}
    if status != "ok":  # stopped (by ASHA) keeps the value it had; failures get the worst (as the sweep writes)
        rows = epochs_rows(value, mode, 0.5, 2)
        objective = rows[-1][f"val_{metric.partition('_')[2]}"] if status == "stopped" else -math.inf if mode == "max" \
            else math.inf
        return TrialRecord(trial_id, {**tags, "objective": objective, "score": math.nan}, cfg, status,
                           {"epochs_run": 2}, rows, [], error)
    rows = epochs_rows(value, mode, {"sgd": 0.4, "adam": 0.5, "rmsprop": 0.6}[level])
    final = {metric: value, "test_loss": 0.3, "epochs_run": EPOCHS, "wall_time": rows[-1]["time"]}
    return TrialRecord(trial_id, {**tags, "objective": rows[-1][f"val_{metric.partition('_')[2]}"], "score": value},
                       cfg, status, final, rows, gradient_rows(level) if phase == "final" else [])


def tuning_value(workload: str, level: str, lr: float) -> float:
    """Peaks at the level's best LR; falls by 0.15 (accuracy) per decade squared away from it."""
    metric, mode = WORKLOADS[workload]
    miss = (math.log10(lr) - math.log10(BEST_LR[level])) ** 2
    return TRUE_MEAN[(workload, level)] - 0.15 * miss if mode == "max" else TRUE_MEAN[(workload, level)] * (1 + miss)


def final_seeds(workload: str, level: str) -> tuple[int, ...]:
    """The seeds a level's final phase ran (finished or not)."""
    extra = EXTRA_SEED.get((workload, level))
    return SEEDS + ((extra,) if extra else ())


def finished_seeds(workload: str, level: str) -> int:
    """How many of them finished with a score."""
    return sum((workload, level, s) not in FAILED_FINAL for s in final_seeds(workload, level))


def make_run(folder: Path, seed: int = 0) -> Path:
    """Write the sweep into `folder` with ResultStore (parts, Parquet tables, run.json) and return it."""
    rng = np.random.default_rng(seed)
    store = ResultStore(folder)
    for workload in WORKLOADS:
        for level in LEVELS:
            for k, lr in enumerate(LRS):
                tid = f"{workload}.{level}.tune-{k:03d}"
                if lr == 1.0 and level != "sgd":
                    store.add(record(tid, workload, level, "tune", lr, 0, math.nan, "diverged"))
                elif level == "sgd" and k == 1:
                    store.add(record(tid, workload, level, "tune", lr, 0, math.nan, "error", "RuntimeError: out of memory"))
                elif level == "sgd" and k == 0:
                    store.add(record(tid, workload, level, "tune", lr, 0, tuning_value(workload, level, lr), "stopped"))
                else:
                    store.add(record(tid, workload, level, "tune", lr, 0, tuning_value(workload, level, lr)))
            seeds = final_seeds(workload, level)
            offsets = rng.normal(0, NOISE[workload], len(seeds))
            for s, off in zip(seeds, offsets, strict=True):
                status = FAILED_FINAL.get((workload, level, s), "ok")
                error = "RuntimeError: out of memory" if status == "error" else ""
                store.add(record(f"{workload}.{level}.seed-{s}", workload, level, "final", BEST_LR[level], s,
                                 TRUE_MEAN[(workload, level)] + off if status == "ok" else math.nan, status, error))
    store.write_provenance({"created": "2025-01-01T00:00:00+00:00", "command": "bench sweep opt --quick",
                            "git_commit": "abc123", "python": "3.11", "cpu_count": 2,
                            "versions": {"torch": "2.x", "bench": "0.1.0"}, "kind": "sweep", "complete": True,
                            "space": {"compare": "optimizer", "levels": list(LEVELS)}})
    store.consolidate()
    return folder
