"""What a sweep, the FAQ or a study will run and about how long it will take, before it runs (--dry-run).

The plan is the engine's own (protocol.Plan: the groups, their tuning, confirm and final trials); nothing is
written. The time comes from a short calibration in this process: for each distinct trial configuration (learning
rate and seed aside) `CALIBRATION_STEPS` optimiser steps are trained and one evaluation is run, which prices a
trial as its setup + its steps x seconds per step + its epochs x seconds per evaluation. It runs in a process at
the niceness Ray gives its workers (15), so that on a busy machine it gets the CPU share the trials will. Tuning
trials that ASHA may stop are priced at the epochs ASHA lets a trial run on average (1/reduction_factor of them go
on at each rung). The wall time is the trials' total divided among the slots, plus Ray's start and a measured overhead per trial.
The gradient studies build their trials as they go, so a study is priced from the wall time its last run of the
same size recorded (its run.json), not calibrated.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import TrialConfig
from bench.search.protocol import Group, Plan

CALIBRATION_STEPS = 60  # about one epoch of the MNIST-1D workloads at batch 64: the first 20 steps ran faster than later ones
RAY_START_S = 15.0  # a private local Ray up to the first trial (measured 12-20 s on 2 idle cores)
TRIAL_OVERHEAD_S = 0.5  # Tune's scheduling, the part written, the driver's bookkeeping, per trial
HOUR = 3600.0


@dataclass(frozen=True)
class Price:
    """What one trial configuration costs on this machine, from the calibration."""
    setup: float  # model, data and test evaluation: paid once per trial
    per_step: float
    per_eval: float  # validation + train-subset evaluation after every epoch
    steps_per_epoch: int

    def trial(self, epochs: float, max_steps: int = 0) -> float:
        steps = epochs * self.steps_per_epoch
        steps = min(steps, max_steps) if max_steps else steps
        return self.setup + steps * self.per_step + math.ceil(steps / self.steps_per_epoch) * self.per_eval


def cost_neutral() -> set[str]:
    """Config fields that leave a step's cost about the same: the optimizer, the schedule and their
    hyperparameters, the seed, and the length of training (priced separately)."""
    from bench.registry import REGISTRIES

    specs = [*REGISTRIES["optimizers"].entries().values(), *REGISTRIES["schedules"].entries().values()]
    return {"lr", "seed", "epochs", "max_steps", "optimizer", "schedule", *(h for s in specs for h in s.hyperparams)}


def calibration_key(cfg: TrialConfig) -> str:
    """Trials whose configs share this key share one calibration."""
    from bench.search.trial import config_key

    neutral = cost_neutral()
    return config_key({k: v for k, v in cfg.to_dict().items() if k not in neutral})


def calibrate(cfg: TrialConfig) -> Price:
    """Train CALIBRATION_STEPS steps of `cfg` (one epoch cut short) and time its parts, after a run of two steps
    that pays this process's one-off costs (a Ray worker that trains trial after trial has paid them)."""
    from bench.train import run_trial, steps_per_epoch
    from bench.workloads import load_data

    data = load_data(cfg)
    short = cfg.replace(epochs=1, max_steps=CALIBRATION_STEPS, seed=0, lr=min(cfg.lr, 1e-3))
    run_trial(short.replace(max_steps=2), data=data)
    result = run_trial(short, data=data)
    spe = steps_per_epoch(len(data.train), cfg.batch_size)
    steps = min(CALIBRATION_STEPS, spe)
    row = result.epochs[0] if result.epochs else {"epoch_time": result.final.get("wall_time", 0.0), "time": 0.0}
    per_eval = max(0.0, row["time"] - row["epoch_time"])
    return Price(setup=max(0.0, result.final.get("wall_time", 0.0) - row["time"]), per_step=row["epoch_time"] / steps,
                 per_eval=per_eval, steps_per_epoch=spe)


def asha_epochs(epochs: int, rungs: list[int], reduction_factor: int) -> float:
    """The epochs a tuning trial runs on average when ASHA keeps 1/reduction_factor of them at each rung."""
    bounds = [*rungs, epochs]
    total, share = float(bounds[0]), 1.0
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        share /= reduction_factor
        total += (hi - lo) * share
    return total


@dataclass
class Estimate:
    """A plan's rows (one per group: its trial counts and epochs) and its priced trials, summed."""
    rows: list[dict[str, Any]]
    trial_seconds: float
    trials: int
    slots: int
    extra_seconds: float = 0.0  # measured costs outside the calibrated plans (studies)
    notes: tuple[str, ...] = ()

    @property
    def wall(self) -> float:
        return RAY_START_S + (self.trial_seconds + self.trials * TRIAL_OVERHEAD_S) / self.slots + self.extra_seconds


def group_epochs(g: Group, asha: tuple[list[int], int] | None) -> float:
    """Mean epochs of the group's tuning trials: all of them, or ASHA's average."""
    if asha and asha[0]:
        return asha_epochs(g.base.epochs, *asha)
    return float(g.base.epochs)


def worker_niceness() -> int:
    """The niceness Ray starts its trial workers at (RAY_worker_niceness, Ray's default 15)."""
    value = os.environ.get("RAY_worker_niceness", "15")
    return int(value) if value.lstrip("-").isdigit() else 15


def like_workers(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """fn over items in a fresh process at the niceness of Ray's workers: on an idle machine that changes nothing;
    on a busy one the trials get the CPU share of such a process (under load, a third of a nice-0 process's)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=os.nice,
                             initargs=(worker_niceness(),)) as pool:
        return list(pool.map(fn, items))


def calibrate_like_workers(configs: list[TrialConfig]) -> list[Price]:
    return like_workers(calibrate, configs) if configs else []


def calibrate_plans(plans: list[Plan], prices: dict[str, Price],
                    calibrate_many: Callable[[list[TrialConfig]], list[Price]] = calibrate_like_workers) -> None:
    """Add to `prices` a calibration of every configuration of the plans' groups not priced yet (one per key)."""
    todo = {calibration_key(g.base): g.base for plan in plans for g in plan.groups}
    todo = {k: cfg for k, cfg in todo.items() if k not in prices}
    prices.update(zip(todo, calibrate_many(list(todo.values())), strict=True))


def price_plan(plan: Plan, prices: dict[str, Price], name: str,
               asha: dict[int, tuple[list[int], int]] | None = None) -> tuple[list[dict[str, Any]], float, int]:
    """The plan's rows and the summed seconds of its trials, from the calibrations in `prices` (calibrate_plans)."""
    rows, seconds, trials = [], 0.0, 0
    for g in plan.groups:
        price = prices[calibration_key(g.base)]
        tune, confirm, final = len(g.tuning_ids()), len(g.confirm_slots()), len(g.seeds)
        tune_epochs = group_epochs(g, (asha or {}).get(g.index))
        cost = tune * price.trial(tune_epochs, g.base.max_steps) + (confirm + final) * price.trial(
            g.base.epochs, g.base.max_steps)
        rows.append({"plan": name, "group": g.group, "level": str(g.level), "tune": tune, "confirm": confirm,
                     "final": final, "epochs": g.base.epochs, "seconds": cost})
        seconds += cost
        trials += tune + confirm + final
    return rows, seconds, trials


def local_slots(cpus_per_trial: float) -> int:
    """Trials at once on this machine's CPUs (GPU packing is measured when the run starts)."""
    return max(1, int((os.cpu_count() or 1) // cpus_per_trial))


def sweep_estimate(space, cpus_per_trial: float) -> Estimate:
    """A sweep's plan and priced trials (space: the resolved SweepSpace, --quick applied)."""
    from bench.search.tune import asha_rungs

    plan = Plan(space)
    b = space.budget
    asha = {g.index: (asha_rungs(b.epochs_for(g.workload), b.grace_for(g.workload), b.reduction_factor),
                      b.reduction_factor) for g in plan.groups if b.asha}
    for g in plan.groups:  # the trials' own thread count (the runner sets it per trial)
        g.base = g.base.replace(threads=max(1, int(cpus_per_trial)))
    prices: dict[str, Price] = {}
    calibrate_plans([plan], prices)
    rows, seconds, trials = price_plan(plan, prices, space.name, asha)
    return Estimate(rows, seconds, trials, local_slots(cpus_per_trial))


def study_measured(name: str, size: str, folders: list[Path]) -> tuple[float, str] | None:
    """(wall seconds, where) from the first of `folders` holding a finished run of study `name` at `size`."""
    for folder in folders:
        path = Path(folder) / "run.json"
        if path.is_file():
            info = json.loads(path.read_text())
            if info.get("size") == size and "wall_time" in info:
                return float(info["wall_time"]), str(path)
    return None


def study_folders(name: str, out: Path) -> list[Path]:
    """Where a study's earlier runs are looked for: its --out folder, then the examples that ship with bench."""
    examples = Path(__file__).resolve().parents[2] / "reports" / "examples" / "studies" / name
    return [Path(out) / name, examples]


def study_estimate(names: list[str], size: str, out: Path) -> tuple[float, list[str]]:
    """Measured seconds of the studies at `size` and one note per study saying where from (or that none was)."""
    seconds, notes = 0.0, []
    for name in names:
        found = study_measured(name, size, study_folders(name, out))
        if found:
            seconds += found[0]
            notes.append(f"study {name} ({size}): {found[0]:.0f} s as measured in {found[1]}")
        else:
            notes.append(f"study {name} ({size}): no measured run at this size (not in the estimate); "
                         f"`bench study {name}{' --quick' if size == 'quick' else ''}` measures it")
    return seconds, notes


def faq_estimate(questions: list, budget, cpus_per_trial: float, studies: Path) -> Estimate:
    """The FAQ's experiments as plans (the LR range test's suggestion is not run: such a cell is priced like a
    fixed LR, plus the range test's steps) and its studies from their measured runs."""
    from bench.faq.main import experiments_for
    from bench.search.experiment import plan_experiment, trial_config

    rows, seconds, trials, prices = [], 0.0, 0, {}
    plans = [(exp, plan_experiment(exp, budget, Path(os.devnull), lambda line: None, finder=lambda *a: 1e-3))
             for exp in experiments_for(questions, budget)]
    calibrate_plans([plan for _, plan in plans], prices)
    for exp, plan in plans:
        r, s, n = price_plan(plan, prices, exp.name)
        finders = [c for c in exp.cells if c.lr == "finder"]
        for cell in finders:
            price = prices[calibration_key(trial_config(budget, cell, 1e-3, 0))]
            s += price.setup + budget.finder_steps * price.per_step
        rows, seconds, trials = rows + r, seconds + s, trials + n
    names = list(dict.fromkeys(s for q in questions for s in q.studies))
    extra, notes = study_estimate(names, budget.name, studies)
    return Estimate(rows, seconds, trials, local_slots(cpus_per_trial), extra, tuple(notes))


def print_estimate(est: Estimate, say: Callable[[str], None]) -> None:
    """The plan as a table of groups, then the totals and the estimated wall time."""
    from rich.console import Console
    from rich.table import Table

    from bench.report.units import duration

    table = Table(title="plan (nothing is run or written)", title_justify="left")
    for col in ("plan", "group", "level", "tune", "confirm", "final", "epochs", "trial time"):
        table.add_column(col, justify="left" if col in ("plan", "group", "level") else "right")
    for r in est.rows:
        table.add_row(r["plan"], r["group"], r["level"], str(r["tune"]), str(r["confirm"]), str(r["final"]),
                      str(r["epochs"]), duration(r["seconds"]))
    Console(width=132, soft_wrap=True).print(table)
    for note in est.notes:
        say(note)
    say(f"trials: {est.trials} in {len(est.rows)} groups; slots: {est.slots} at once (this machine's CPUs); "
        f"training: {duration(est.trial_seconds)} of trial time")
    say(f"estimated wall time: {duration(est.wall)} (calibrated on this machine now: {CALIBRATION_STEPS} steps of "
        "each configuration; Ray's start and a per-trial overhead included)")
