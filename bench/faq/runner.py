"""The FAQ's experiment runner: a fair learning-rate grid per level, then fresh seeds at the chosen LR.

An experiment is a set of cells (comparison group, level, config overrides). Every cell that tunes is
trained once per LR of the same log-spaced grid (seed 0), optionally refined by the two half-way points
around its best grid LR, judged on the validation counterpart of the workload's target metric (validation
loss where that metric is not computed on validation data, e.g. F1). Its `confirm` best LRs are re-run on a
second seed (the protocol's confirm seed) and the LR of best mean over both seeds is chosen (the protocol's
rule: bench/search/protocol.py); the cell is re-run at that LR with fresh seeds 1..S. Only the re-runs are
compared. Results are written as a run
folder in the sweep schema (trials/epochs/gradients Parquet + run.json), so `bench report` reads them.

Trials run through an executor (bench/search/executors.py): Ray tasks on the private local Ray or a cluster
(`bench faq --address`, `--cpus-per-trial`, `--gpus-per-trial`), one thread each, since small models train
faster as parallel 1-thread trials; in-process in tests. Why a fixed LR grid rather than `bench sweep`'s TPE:
with a handful of trials per level a grid is as good a search, gives every level the very same LRs (clean
LR-sensitivity curves across levels), and makes identical trials of different questions identical configs,
which a content-addressed cache then trains once.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.config import TrialConfig
from bench.results import ResultStore, TrialRecord, atomic_write, provenance
from bench.search.executors import Executor
from bench.search.protocol import CONFIRM, FINAL, TUNE, Outcome, choose_confirmed, rank, tested_epoch, worst
from bench.search.protocol import objective as protocol_objective
from bench.search.space import CONFIRM_SEED_OFFSET
from bench.status import TrialStatus

Log = Callable[[str], None]
UNTRACKED = ("threads", "device")  # do not change what is computed, so they are not part of a trial's identity


@dataclass(frozen=True)
class Budget:
    """How much work each claim gets. `lrs` is the grid every tuned level is trained on."""
    name: str
    lrs: tuple[float, ...]
    refine: bool  # add the two half-way points (geometric) around each level's best grid LR
    seeds: int  # fresh seeds per level at the chosen LR
    epochs: int
    long_epochs: int  # overfitting runs: long enough to overfit
    sizes: tuple[int, ...]  # training-set sizes of the overfitting sweep; the middle one is its baseline
    finder_steps: int  # mini-batches of the LR range test
    structure_epochs: int  # 8.7's models: the GRU's README recipe needs 50 epochs to beat the CNN (97.1% vs 94.2%)
    n_train: int = 0  # cap on training samples for every trial (0 = all)
    max_steps: int = 0
    confirm: int = 2  # best LRs of each level re-run on the confirm seed; the choice is their mean over both seeds
    study_seeds: int | None = None  # seeds of the gradient studies (None: the study's own default)
    overrides: dict[str, Any] = field(default_factory=dict)  # applied to every trial

    def describe(self) -> str:
        grid = ", ".join(f"{lr:g}" for lr in self.lrs)
        caps = (f"; at most {self.n_train} training samples" if self.n_train else "") + \
               (f", {self.max_steps} steps" if self.max_steps else "")
        confirm = (f", its best {self.confirm} LRs re-run on a second seed and chosen by their mean over both"
                   if self.confirm else "")
        return (f"LR grid {{{grid}}}{' plus 2 refinement points' if self.refine else ''} per level (seed 0){confirm}, "
                f"then {self.seeds} fresh seeds at the chosen LR; {self.epochs} epochs ({self.long_epochs} for overfitting "
                f"runs){caps}")


def _grid(lo: float, hi: float, per_decade: int) -> tuple[float, ...]:
    n = round(math.log10(hi / lo) * per_decade) + 1
    return tuple(float(f"{lo * 10 ** (i / per_decade):.3g}") for i in range(n))


BUDGETS: dict[str, Budget] = {
    "full": Budget("full", _grid(1e-4, 1.0, 2), True, seeds=5, epochs=20, long_epochs=100,
                   sizes=(250, 500, 1000, 2000, 3600), finder_steps=200, structure_epochs=50, confirm=3),
    "quick": Budget("quick", _grid(1e-4, 1.0, 1), True, seeds=3, epochs=6, long_epochs=30,
                    sizes=(250, 1000, 3600), finder_steps=100, structure_epochs=6, study_seeds=None),
    # For the test suite only: every code path, minutes of CPU cut to seconds; its verdicts mean nothing.
    "tiny": Budget("tiny", (1e-3, 1e-2), False, seeds=2, epochs=1, long_epochs=1, sizes=(32, 64, 128), finder_steps=8,
                   structure_epochs=1,
                   n_train=128, max_steps=3, study_seeds=1, overrides={"width": 8, "fc_width": 16}),
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
    caps = {"n_train": budget.n_train} if budget.n_train and not cell.config.get("n_train") else {}
    epochs = budget.long_epochs if cell.long else budget.epochs
    return TrialConfig.from_dict({**budget.overrides, **caps, "max_steps": budget.max_steps, "epochs": epochs,
                                  **cell.config, "lr": lr, "seed": seed, "threads": 1})


def config_key(cfg: dict[str, Any]) -> str:
    ident = {k: v for k, v in sorted(cfg.items()) if k not in UNTRACKED}
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def selection(target: str, mode: str, epochs: list[dict[str, Any]]) -> tuple[str, str]:
    """The validation metric a tuning trial is judged on: the target's validation counterpart when the
    trial computed it, else validation loss."""
    metric = "val_" + target.partition("_")[2]
    if epochs and metric in epochs[-1]:
        return metric, mode
    return "val_loss", "min"


def objective(status: str, epochs: list[dict[str, Any]], metric: str, mode: str, tested: int = 0) -> float:
    """The protocol's objective (bench/search/protocol.py: the tested weights' validation value), stored as NaN
    instead of the worst value for a diverged or failed trial, so that means over the FAQ's tables skip it."""
    value = protocol_objective(status, epochs, metric, mode, tested)
    return value if math.isfinite(value) else math.nan


def train_job(job: Job) -> dict[str, Any]:
    """`train` for an executor, which hands each job back paired with its result."""
    return train(job.config.to_dict())


def crashed(job: Job, message: str) -> dict[str, Any]:
    """The record fields of a trial whose worker died (killed for memory, a lost node)."""
    return {"config": job.config.to_dict(), "status": TrialStatus.ERROR, "final": {}, "epochs": [], "gradients": [],
            "error": message}


def train(cfg: dict[str, Any]) -> dict[str, Any]:
    """Train one trial (in a worker process or inline) and return the record fields. Never raises."""
    from bench.train import TrialResult, run_trial

    try:
        result = run_trial(TrialConfig.from_dict(cfg))
    except Exception as e:  # noqa: BLE001 - a failure is a result
        result = TrialResult(cfg, TrialStatus.ERROR, {}, [], [], f"{type(e).__name__}: {e}")
    return {"config": result.config, "status": result.status, "final": result.final, "epochs": result.epochs,
            "gradients": result.gradients, "error": result.error}


@dataclass
class Job:
    trial_id: str
    cell: Cell
    phase: str
    config: TrialConfig


class Runner:
    """Runs experiments into `root/<experiment>/` with a content-addressed trial cache in `root/cache/`."""

    def __init__(self, budget: Budget, root: Path, executor: Executor, reuse: bool = False, log: Log = print):
        from bench.workloads import get_workload

        self.budget, self.root, self.executor, self.log = budget, Path(root), executor, log
        self.cache = self.root / "cache"
        if not reuse:
            shutil.rmtree(self.cache, ignore_errors=True)
        self.workload = get_workload
        self.done = 0

    # -- one experiment ---------------------------------------------------------------------------------------
    def run(self, exp: Experiment) -> Path:
        """Tune, refine and re-run every cell of `exp`; returns its run folder (consolidated tables)."""
        folder = self.root / exp.name
        shutil.rmtree(folder, ignore_errors=True)  # the cache holds every trial; the folder is rebuilt from it
        store = ResultStore(folder)
        t0 = time.perf_counter()
        tuned = [c for c in exp.cells if c.lr is None]
        results = self.execute(exp, store, [self.job(c, TUNE, lr, 0) for c in tuned for lr in self.budget.lrs])
        if self.budget.refine:
            results |= self.execute(exp, store, [self.job(c, TUNE, lr, 0) for c in tuned for lr in self.refinements(c, results)])
        results |= self.execute(exp, store, [self.job(c, CONFIRM, o.params["lr"], CONFIRM_SEED_OFFSET) for c in tuned
                                             for o in self.ranked(c, results)[:self.budget.confirm]])
        chosen = {(c.group, c.level): lr for c in tuned if (lr := self.best_lr(c, results)) is not None}
        chosen |= {(c.group, c.level): lr for c in exp.cells if (lr := self.fixed_lr(c, chosen)) is not None}
        self.execute(exp, store, [self.job(c, FINAL, chosen[(c.group, c.level)], s)
                                  for c in exp.cells if (c.group, c.level) in chosen
                                  for s in range(1, self.budget.seeds + 1)])
        store.write_provenance(provenance({"kind": "faq", "experiment": exp.name, "compare": exp.compare,
                                           "budget": asdict(self.budget), "wall_time": time.perf_counter() - t0}))
        store.consolidate()
        return folder

    def job(self, cell: Cell, phase: str, lr: float, seed: int) -> Job:
        cfg = trial_config(self.budget, cell, lr, seed)
        tail = {TUNE: f"tune-lr{lr:.3g}", CONFIRM: f"confirm-lr{lr:.3g}"}.get(phase, f"seed-{seed}")
        return Job(f"{cell.group}.{cell.level}.{tail}".replace("/", "_").replace(" ", "_"), cell, phase, cfg)

    def refinements(self, cell: Cell, results: dict[str, dict]) -> list[float]:
        ranked = self.ranked(cell, results)
        if not ranked:
            return []
        best = ranked[0].params["lr"]
        half = math.log10(self.budget.lrs[1] / self.budget.lrs[0]) / 2
        return [float(f"{best * 10 ** -half:.3g}"), float(f"{best * 10 ** half:.3g}")]

    @staticmethod
    def outcomes(cell: Cell, results: dict[str, dict], phase: str) -> tuple[list[Outcome], str]:
        """The cell's finished trials of a phase with a finite objective, smallest LR first, and their mode."""
        trials = sorted((r for r in results.values() if r["cell"] == cell and r["phase"] == phase
                         and math.isfinite(r["tags"]["objective"])), key=lambda r: r["config"]["lr"])
        mode = trials[0]["tags"]["tune_mode"] if trials else "max"
        return [Outcome(r["trial_id"], {"lr": r["config"]["lr"]}, r["status"], r["tags"]["objective"])
                for r in trials], mode

    def ranked(self, cell: Cell, results: dict[str, dict]) -> list[Outcome]:
        """The cell's tuning trials that finished, best first on seed 0 (ties: the smaller LR)."""
        return rank(*self.outcomes(cell, results, TUNE))

    def best_lr(self, cell: Cell, results: dict[str, dict]) -> float | None:
        """The chosen LR: of the confirmed LRs, the one of best mean objective over seed 0 and the confirm seed (a
        confirm run that failed counts as the worst value); without confirm runs, the best on seed 0. None if no
        tuning trial finished."""
        tuned, mode = self.outcomes(cell, results, TUNE)
        ranked = rank(tuned, mode)
        if not ranked or not self.budget.confirm:
            return ranked[0].params["lr"] if ranked else None
        again = {o.params["lr"]: o.objective for o in self.outcomes(cell, results, CONFIRM)[0]}
        top = ranked[:self.budget.confirm]
        return choose_confirmed([(o, again.get(o.params["lr"], worst(mode))) for o in top], mode).params["lr"]

    def fixed_lr(self, cell: Cell, chosen: dict[tuple[str, str], float]) -> float | None:
        if cell.lr is None:
            return None
        if isinstance(cell.lr, (int, float)):
            return float(cell.lr)
        if cell.lr == "finder":
            lr = self.finder_lr(cell)
            return lr if math.isfinite(lr) and lr > 0 else None  # the range test found no usable LR
        return chosen.get((cell.group, cell.lr))

    def finder_lr(self, cell: Cell) -> float:
        """Smith's LR range test on the cell's configuration (cached like a trial)."""
        cfg = trial_config(self.budget, cell, 1e-3, 0)
        path = self.cache / f"finder-{config_key({**cfg.to_dict(), 'steps': self.budget.finder_steps})}.json"
        if path.exists():
            return json.loads(path.read_text())["lr"]
        from bench.lr_finder import lr_range_test

        _, lr = lr_range_test(cfg, steps=self.budget.finder_steps)
        atomic_write(path, json.dumps({"lr": lr}).encode())
        self.log(f"LR range test {cell.group} {cell.level}: suggests lr {lr:.3g}")
        return lr

    # -- trials -----------------------------------------------------------------------------------------------
    def execute(self, exp: Experiment, store: ResultStore, jobs: list[Job]) -> dict[str, dict]:
        """Train the jobs (cache first, then the pool) and store each as a tagged record; returns them by id."""
        out: dict[str, dict] = {}
        pending = []
        for job in jobs:
            cached = self.cache / f"{config_key(job.config.to_dict())}.json"
            if cached.exists():
                out[job.trial_id] = self.finish(exp, store, job, json.loads(cached.read_text()), cached=True)
            else:
                pending.append(job)
        for job, fields in self.executor.map_unordered(train_job, pending):
            atomic_write(self.cache / f"{config_key(job.config.to_dict())}.json", json.dumps(fields, default=float).encode())
            out[job.trial_id] = self.finish(exp, store, job, fields)
        return out

    def finish(self, exp: Experiment, store: ResultStore, job: Job, fields: dict, cached: bool = False) -> dict:
        spec = self.workload(job.config.workload)
        metric, mode = selection(spec.target, spec.mode, fields["epochs"])
        value = objective(fields["status"], fields["epochs"], metric, mode, tested_epoch(fields["config"], fields["final"]))
        score = float(fields["final"].get(spec.target, math.nan)) if fields["status"] == TrialStatus.OK else math.nan
        tags = {"experiment": exp.name, "phase": job.phase, "compare": exp.compare, "group": job.cell.group,
                "level": job.cell.level, "tuned": "lr" if job.cell.lr is None else "", "tune_metric": metric,
                "tune_mode": mode, "target_metric": spec.target, "target_mode": spec.mode, "objective": value,
                "score": score}
        rec = TrialRecord(job.trial_id, tags, fields["config"], fields["status"], fields["final"], fields["epochs"],
                          fields["gradients"], fields["error"])
        store.add(rec)
        self.done += 1
        shown = f"{metric} {value:.4f}" if math.isfinite(value) else fields["status"]
        self.log(f"[{self.done:>4}] {exp.name:<13} {job.phase:<7} {job.cell.group} {job.cell.level} "
                 f"lr={job.config.lr:.3g} seed={job.config.seed}  {shown}{'  (cached)' if cached else ''}")
        return {"trial_id": job.trial_id, "cell": job.cell, "phase": job.phase, "config": fields["config"],
                "status": fields["status"], "tags": tags}
