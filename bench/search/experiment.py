"""Experiments described as data (the FAQ's front-end) and run by the protocol's own searcher.

An `Experiment` is a set of cells (comparison group, level, config overrides, how its LR is set). Each cell
becomes one protocol group (bench/search/protocol.py) of a plan without a search space: a cell that tunes is
proposed by `GridSearch` (tune.py: the same LR grid for every level on the tuning seed, optionally the two
half-way points around its best), its best LRs are confirmed on the confirm seed and the LR of best mean is
chosen, then re-run with fresh seeds 1..S; a cell with a fixed LR, the LR range test's suggestion (computed
here before the plan) or another level's chosen LR (`lr_from`: its final seeds wait for that choice) is only
re-run. The plan runs on a runner (bench/search/runners.py: Ray Tune on the local Ray or a cluster, as a sweep
runs, or in this process for tests): `ProtocolSearcher` hands out every trial and `sweep_trial` trains each one
and writes its part, looking it up first in a content-addressed cache, so identical trials of different
experiments train once and an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.config import TrialConfig
from bench.results import ResultStore, RunClock, atomic_write, plan_identity, provenance, read_provenance
from bench.search.protocol import Budget, Group, Plan
from bench.search.runners import Runner
from bench.search.trial import config_key

Log = Callable[[str], None]
CACHE_DIR = "cache"


def _grid(lo: float, hi: float, per_decade: int) -> tuple[float, ...]:
    n = round(math.log10(hi / lo) * per_decade) + 1
    return tuple(float(f"{lo * 10 ** (i / per_decade):.3g}") for i in range(n))


# The quick budget proposes exactly as the flagship sweep's quick budget does (search_spaces/optimizers.yaml: the
# same LR grid and refinement, confirm step and seeds, the recipes' quick epochs), so a FAQ experiment and a sweep
# that train the same workload and optimizer run the very same trials (tests/test_faq.py checks the two agree).
QUICK_LRS = (1e-3, 1e-2, 1e-1, 1.0)
BUDGETS: dict[str, Budget] = {
    "full": Budget(name="full", lrs=_grid(1e-4, 1.0, 2), refine=True, seeds=5, long_epochs=100,
                   sizes=(250, 500, 1000, 2000, 3600), finder_steps=200, confirm=3),
    "quick": Budget(name="quick", lrs=QUICK_LRS, refine=True, seeds=3, confirm=2, long_epochs=30,
                    sizes=(250, 1000, 3600), finder_steps=100),
    # For the test suite only: every code path, minutes of CPU cut to seconds; its verdicts mean nothing.
    "tiny": Budget(name="tiny", lrs=(1e-3, 1e-2), refine=False, seeds=2, epochs=1, long_epochs=1, sizes=(32, 64, 128),
                   finder_steps=8, n_train=128, max_steps=3, study_seeds=1,
                   overrides={"width": 8, "fc_width": 16}),
}


@dataclass(frozen=True)
class Cell:
    """One level of one comparison group. `lr`: None = tune on the budget's grid; a number = train at that LR;
    "finder" = the LR range test's suggestion; another string = the LR chosen for that level of this group."""
    group: str
    level: str
    config: dict[str, Any]
    lr: float | str | None = None
    long: bool = False  # train for the budget's long_epochs


@dataclass(frozen=True)
class Experiment:
    name: str
    compare: str  # what the levels vary, in words
    cells: tuple[Cell, ...]
    description: str = ""


def trial_config(budget: Budget, cell: Cell, lr: float, seed: int) -> TrialConfig:
    """A cell's trial: its workload's recipe, changed by the budget's caps and the cell's own settings."""
    from bench.workloads import recipe_config

    workload = cell.config["workload"]
    caps = {"n_train": budget.n_train} if budget.n_train and not cell.config.get("n_train") else {}
    epochs = budget.long_epochs if cell.long else budget.epochs_for(workload)
    return recipe_config(workload, None, **{**budget.overrides, **caps, "max_steps": budget.max_steps,
                                            "epochs": epochs, **cell.config, "lr": lr, "seed": seed, "threads": 1})


# -- what the judges may ask of the workloads (bench/faq reads tables, not data) ---------------------------------
def workload_spec(name: str):
    """A workload's registry spec (target metric, goal, chance score), None for a name that is not one."""
    from bench.workloads import WORKLOADS

    return WORKLOADS.get(name)


def test_split(name: str, seq_len: int = 0):
    """The test split of a workload's data (how many samples, and labels, a test score is a rate over)."""
    from bench.workloads import load_data

    return load_data(TrialConfig(workload=name, seq_len=seq_len)).test


def data_baselines(experiments: list[Experiment]) -> dict[str, dict[str, float]]:
    """What trivial predictors score on each workload whose data define one (e.g. all-negative F1 = 0)."""
    from bench.workloads import load_data

    workloads = {c.config["workload"]: c.config for e in experiments for c in e.cells}
    out = {}
    for name, cfg in workloads.items():
        base = load_data(TrialConfig(workload=name, seq_len=cfg.get("seq_len", 0))).baseline
        if base:
            out[name] = dict(base)
    return out


# -- the plan -----------------------------------------------------------------------------------------------------
def plan_experiment(exp: Experiment, budget: Budget, cache: Path, log: Log,
                    finder: Callable[..., float] | None = None) -> Plan:
    """One protocol group per cell, in the cells' order; a cell whose LR is another level's links to that group.
    `finder`: what stands in for the LR range test (finder_lr), e.g. a fixed LR when a dry run only counts."""
    from bench.workloads import get_workload

    groups: dict[tuple[str, str], Group] = {}
    for cell in exp.cells:
        lr = (finder or finder_lr)(budget, cell, cache, log) if cell.lr == "finder" else cell.lr
        fixed = isinstance(lr, (int, float))
        usable = not fixed or (math.isfinite(lr) and lr > 0)  # the range test may find no usable LR
        base = trial_config(budget, cell, float(lr) if fixed and usable else 1e-3, 0)
        spec = get_workload(base.workload)
        tuned = ("lr",) if cell.lr is None else ()
        g = Group(len(groups), cell.level, cell.group, tuned, base, spec.target, spec.mode,
                  trials=budget.tuning_trials(tuned),
                  seeds=budget.final_seeds() if usable else (), confirm=budget.confirm if tuned else 0,
                  confirm_seed=budget.confirm_seed, grid=budget.grid_for(tuned), experiment=exp.name,
                  compare=exp.compare)
        groups[(cell.group, cell.level)] = g
    for cell in exp.cells:
        if isinstance(cell.lr, str) and cell.lr != "finder":
            groups[(cell.group, cell.level)].lr_from = groups[(cell.group, cell.lr)]
    return Plan(None, groups=list(groups.values()))


def finder_lr(budget: Budget, cell: Cell, cache: Path, log: Log) -> float:
    """Smith's LR range test on the cell's configuration (cached like a trial)."""
    cfg = trial_config(budget, cell, 1e-3, 0)
    path = cache / f"finder-{config_key({**cfg.to_dict(), 'steps': budget.finder_steps})}.json"
    if path.exists():
        return json.loads(path.read_text())["lr"]
    from bench.lr_finder import lr_range_test

    _, lr = lr_range_test(cfg, steps=budget.finder_steps)
    atomic_write(path, json.dumps({"lr": lr}).encode())
    log(f"LR range test {cell.group} {cell.level}: suggests lr {lr:.3g}")
    return lr


# -- the run -----------------------------------------------------------------------------------------------------
def experiment_identity(exp: Experiment, budget: Budget) -> dict[str, Any]:
    """An experiment's run.json identity (results.plan_identity): its cells and the budget decide its trials."""
    return plan_identity("faq", {"experiment": exp.name, "compare": exp.compare, "budget": asdict(budget),
                                 "cells": [asdict(c) for c in exp.cells]})  # the budget first: named first


def run_experiment(exp: Experiment, budget: Budget, root: Path, runner: Runner, log: Log = print,
                   forced: list[str] | tuple[str, ...] = (), resume: bool = False) -> Path:
    """Run every trial of `exp` on `runner` into `root/<experiment>/` (rebuilt each time; trials of a config that
    trained before, in any experiment, come from the cache in root/cache/) and return that folder with its
    consolidated tables. run.json is written first (complete: false), so that a --resume of an interrupted run can
    check it continues the same experiment; `forced`: the differences a --force overrode there. A `resume` adds
    this session's wall time to the earlier sessions' (RunClock)."""
    folder, cache = Path(root) / exp.name, Path(root) / CACHE_DIR
    clock = RunClock(read_provenance(folder) if resume else None)
    shutil.rmtree(folder, ignore_errors=True)
    store = ResultStore(folder)
    info = {**experiment_identity(exp, budget), "experiment": exp.name, "compare": exp.compare,
            "budget": asdict(budget), **({"forced": list(forced)} if forced else {})}
    store.write_provenance(provenance({**info, "complete": False, **clock.carried()}))
    runner.run(plan_experiment(exp, budget, cache, log), folder, log, cache)
    store.write_provenance(provenance({**info, "complete": True, **clock.fields(), "runner": runner.describe()}))
    store.consolidate()
    return folder
