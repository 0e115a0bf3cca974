"""The protocol of a fair comparison, independent of Ray.

For every (level, group) -- the group being what levels are compared within: a sweep's workload, a FAQ comparison
-- an independent search tunes the level's own nuisance parameters with the same number of trials, judged on the
validation metric. Its top `confirm` configurations are then re-run to the end on a second seed (the confirm
phase) and the group's choice is the one with the best mean objective over both seeds, so that a config that only
trained on a lucky seed is not chosen. The chosen configuration is re-run with fresh seeds and only those runs are
compared, on the test metric. Trial ids are deterministic, and every trial's parameters and seed are written down
(suggested/<trial_id>.json) before it starts, so a resumed sweep knows which trials are finished (their parts
exist), re-runs an interrupted one with the very same parameters and seed, and asks its search only for trials
never suggested; nothing runs twice.
The leaderboard of the final phase is the report's (bench.report.tables.leaderboard), read from the tables alone.
"""
from __future__ import annotations

import json
import math
import zlib
from bisect import insort
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.config import ConfigError, TrialConfig
from bench.errors import PlanIncomplete
from bench.scores import best_mean, tuning_metric
from bench.status import Phase, TrialStatus, is_infrastructure

if TYPE_CHECKING:  # kept light: Ray workers import this module for `objective`

    from bench.results import TrialRecord
    from bench.search.space import SweepSpace

TUNE, CONFIRM, FINAL = Phase.TUNE, Phase.CONFIRM, Phase.FINAL
CONFIRM_SEED_OFFSET = 1_001  # confirm_seed = seed + this: beyond the last final seed, seed + seeds (seeds <= 1,000)


class BudgetName(StrEnum):
    """The named budgets (`--budget`; `--quick` is quick): the FAQ's presets (experiment.BUDGETS), each study's
    SCALES and the workload recipes' epochs are keyed by these names."""
    TINY = "tiny"  # the test suite's: every code path in seconds; its verdicts mean nothing
    QUICK = "quick"  # minutes to half an hour on 2 CPU cores
    FULL = "full"


def budget_name(quick: bool, name: str | None) -> BudgetName:
    """The budget `--budget NAME` names, else quick or full as `--quick` says; an unknown name is refused."""
    if name is None:
        return BudgetName.QUICK if quick else BudgetName.FULL
    if name not in set(BudgetName):
        raise ConfigError(f"unknown budget {name!r}; choose one of: {', '.join(BudgetName)}")
    return BudgetName(name)


@dataclass(frozen=True)
class Budget:
    """How much work a comparison gets, whichever front-end built it (a sweep's space, the FAQ's experiments): the
    protocol's seeds and confirm step, how each level's nuisance parameters are proposed, and how long each trial
    trains. The FAQ's presets are experiment.BUDGETS; a sweep's comes from its space file (`budget:`, `quick:`).
    None means: derived (see the methods)."""
    name: str = BudgetName.FULL  # the workload recipes' budget whose epochs apply where `epochs` is None
    seeds: int = 5  # fresh seeds the chosen configuration of each group is re-run with
    seed: int = 0  # seed of every tuning trial (and a sweep's TPE samplers); final seeds are seed+1 .. seed+seeds
    confirm: int = 2  # the search's top configs re-run on a second seed (confirm_seed); the choice is their mean; 0: off
    # -- proposing: an LR grid (GridSearch) where a level tunes the LR alone and `lrs` is given, else TPE
    lrs: tuple[float, ...] = ()  # the grid every level that tunes lr alone trains on (the same for every level)
    refine: bool = False  # add the two half-way points (geometric) around each level's best grid LR
    trials_per_level: int = 12  # TPE trials of every (level, group) search
    tuned: tuple[str, ...] = ()  # the nuisance parameters this budget tunes (of those a level has); (): all of them
    concurrency: int = 4  # most trials of one level's TPE search running at once (TPE learns from finished ones)
    asha: bool = True  # early-stop bad TPE trials (never final-phase ones)
    grace_epochs: int | None = None  # epochs before ASHA may stop a trial; default a quarter of the epochs
    reduction_factor: int = 3  # ASHA keeps the best 1/reduction_factor at each rung
    startup_trials: int | None = None  # random trials before TPE models the space; default a third of the budget
    # -- training
    epochs: int | Mapping[str, int] | None = None  # or per workload; None: each workload's recipe's at `name`
    n_train: int = 0  # cap on training samples for every trial (0 = all)
    max_steps: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)  # TrialConfig settings applied to every trial
    # -- the FAQ's experiments
    long_epochs: int = 100  # overfitting runs: long enough to overfit
    sizes: tuple[int, ...] = ()  # training-set sizes of the overfitting sweep; the middle one is its baseline
    finder_steps: int = 200  # mini-batches of the LR range test
    study_seeds: int | None = None  # seeds of the gradient studies (None: the study's own default)
    quick: dict[str, Any] = field(default_factory=dict)  # a sweep's overrides for --quick

    def final_seeds(self) -> tuple[int, ...]:
        return tuple(range(self.seed + 1, self.seed + 1 + self.seeds))

    @property
    def confirm_seed(self) -> int:
        """The second seed of the tuning decision: neither the tuning seed nor any final seed (seeds <= 1,000)."""
        return self.seed + CONFIRM_SEED_OFFSET

    def grid_for(self, tuned: tuple[str, ...]) -> tuple[float, ...]:
        """The LR grid a level tuning `tuned` trains on: the budget's, where the LR is all it tunes; else () (TPE)."""
        return self.lrs if self.lrs and tuple(tuned) == ("lr",) else ()

    def tuning_trials(self, tuned: tuple[str, ...]) -> int:
        """Tuning trials of a level that tunes `tuned`: its grid and refinement points, or the TPE budget."""
        if not tuned:
            return 0
        return len(self.lrs) + 2 * self.refine if self.grid_for(tuned) else self.trials_per_level

    def epochs_for(self, workload: str) -> int:
        if self.epochs is None:
            from bench.workloads import get_workload

            return get_workload(workload).recipe.epochs[self.name]
        return self.epochs[workload] if isinstance(self.epochs, Mapping) else self.epochs

    def grace_for(self, workload: str) -> int:
        """Epochs before ASHA may stop a trial of this workload: grace_epochs, else a quarter of its epochs."""
        return self.grace_epochs or max(1, self.epochs_for(workload) // 4)

    @property
    def startup(self) -> int:
        return self.startup_trials or max(2, self.trials_per_level // 3)

    def quick_version(self) -> Budget:
        """The budget with its `quick` overrides applied (what --quick runs)."""
        return replace(self, **self.quick, quick={}, name=BudgetName.QUICK)

    def describe(self) -> str:
        """The protocol in words (the FAQ page and the leaderboard state it)."""
        if self.lrs:
            grid = ", ".join(f"{lr:g}" for lr in self.lrs)
            search = f"LR grid {{{grid}}}{' plus 2 refinement points' if self.refine else ''} per level (seed {self.seed})"
        else:
            search = f"{self.trials_per_level} TPE trials per level (seed {self.seed})"
        confirm = (f", its best {self.confirm} configs re-run on a second seed and chosen by their mean over both"
                   if self.confirm else "")
        epochs = (f"{self.epochs} epochs" if isinstance(self.epochs, int) else
                  f"each workload's recipe's epochs at the {self.name} budget")
        caps = (f"; at most {self.n_train} training samples" if self.n_train else "") + \
               (f", {self.max_steps} steps" if self.max_steps else "")
        return f"{search}{confirm}, then {self.seeds} fresh seeds at the chosen config; {epochs}{caps}"

SUGGESTED_DIR = "suggested"  # under the run folder: one JSON file per trial handed out, written before it starts


def write_suggestion(folder: Path, trial_id: str, params: dict[str, Any], seed: int) -> None:
    """Record a trial's tuned parameters and seed before it starts (atomically: a resume never reads half)."""
    from bench.results import atomic_write

    atomic_write(Path(folder) / SUGGESTED_DIR / f"{trial_id}.json",
                 json.dumps({"trial_id": trial_id, "params": params, "seed": seed}).encode())


def read_suggestions(folder: Path | None) -> dict[str, dict[str, Any]]:
    """trial id -> {"params", "seed"} of every trial a run handed out, finished or not."""
    if folder is None or not (Path(folder) / SUGGESTED_DIR).is_dir():
        return {}
    found = (_suggestion(p) for p in sorted((Path(folder) / SUGGESTED_DIR).glob("*.json")))
    return {d["trial_id"]: d for d in found if d}


def _suggestion(path: Path) -> dict[str, Any] | None:
    """One suggestion, or None (with a warning naming it) when it cannot be read: its trial, if it did not finish,
    gets a new suggestion instead of stopping the resume."""
    from bench.results import warn

    try:
        d = json.loads(path.read_bytes())
        if isinstance(d, dict) and isinstance(d.get("params"), dict) and isinstance(d.get("seed"), int) \
                and d.get("trial_id") == path.stem:
            return d
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    warn(f"unreadable suggestion {path} ignored; its trial, if unfinished, is suggested afresh")
    return None


def worst(mode: str) -> float:
    return -math.inf if mode == "max" else math.inf


def objective(status: str, epochs: list[dict[str, Any]], metric: str, mode: str, tested: int = 0) -> float:
    """What the search learns from a trial: the validation value of the weights it was tested with (the last
    epoch's, or epoch `tested`'s where early stopping restored them: `tested_epoch`); the worst value if it
    diverged or failed (so TPE steers away from that region instead of ignoring it)."""
    if status not in (TrialStatus.OK, TrialStatus.STOPPED) or not epochs:
        return worst(mode)
    row = next((e for e in epochs if e.get("epoch") == tested), epochs[-1]) if tested else epochs[-1]
    value = float(row.get(metric, math.nan))
    return value if math.isfinite(value) else worst(mode)


def tested_epoch(config: dict[str, Any], final: dict[str, Any]) -> int:
    """The epoch whose weights a trial was tested with where that is not the last: early stopping restores the
    weights of the best validation loss (run_trial's `best_epoch`); 0 otherwise."""
    return int(final.get("best_epoch", 0) or 0) if config.get("early_stop") else 0


@dataclass(frozen=True)
class TrialTags:
    """What the tables and the report know of a trial beyond its config: its place in the protocol, written by
    the engine into every record (one column each). A field left None is not written: a sweep names its sweep,
    the FAQ and the studies their experiment. `group` is the unit the levels are compared within: a sweep's
    workload, or a FAQ comparison group that may span workloads; the record's `workload` is the config's."""
    phase: str
    level: Any
    tuned: str  # the tuned parameters, comma-separated
    tune_metric: str  # what the search judged on (validation)
    target_metric: str  # what the comparison judges on (test)
    target_mode: str
    compare: str  # what the levels vary
    chosen_objective: float = math.nan  # a final trial's: the objective its config was chosen on
    sweep: str | None = None
    experiment: str | None = None
    group: str | None = None
    tune_mode: str | None = None
    chance: float | None = None  # the target score of a predictor that ignores its input (flags a failed search)
    lr_min: float | None = None  # the searched lr range (flags a best lr at its edge)
    lr_max: float | None = None
    chosen_seeds: int | None = None  # seeds behind chosen_objective (2: confirmed)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class TrialSummary:
    """What the protocol needs to know about a finished trial."""
    trial_id: str
    params: dict[str, Any]  # values of the group's tuned parameters
    status: str
    objective: float


def rank_key(o: TrialSummary, mode: str) -> float | None:
    """Where an outcome ranks, best first (smallest); None: it did not train to the end and is not ranked."""
    if o.status != TrialStatus.OK:
        return None
    return -o.objective if mode == "max" else o.objective


def rank(outcomes: list[TrialSummary], mode: str) -> list[TrialSummary]:
    """The outcomes of trials that trained to the end, best objective first (stable: ties keep the given order)."""
    keyed = [(key, o) for o in outcomes if (key := rank_key(o, mode)) is not None]
    return [o for _, o in sorted(keyed, key=lambda ko: ko[0])]


def choose_confirmed(confirmed: list[tuple[TrialSummary, float]], mode: str) -> TrialSummary:
    """The choice of a confirm step: (tuning outcome, its config's objective on the confirm seed) in rank order ->
    the config of best mean objective over both seeds, with that mean (ties: the earlier, better on the tuning
    seed). A run that diverged or failed scored the worst value (`objective`: -inf or +inf), and so does its mean:
    such a config ranks worst."""
    chosen, value = best_mean(((o, (o.objective, again)) for o, again in confirmed), mode)
    return TrialSummary(chosen.trial_id, chosen.params, TrialStatus.OK, value)


@dataclass
class Group:
    """One (level, group): its tuning search, the confirm re-runs of its top configs, then its final seeds. The
    group is the unit levels are compared within: a sweep's workload, a FAQ comparison group, a study's name."""
    index: int
    level: Any
    group: str
    tuned: tuple[str, ...]
    base: TrialConfig
    target: str  # test metric of the comparison
    mode: str
    trials: int  # tuning budget
    seeds: tuple[int, ...]
    chance: float = math.nan  # the target score of a predictor that ignores its input
    confirm: int = 0  # top tuning configs re-run on confirm_seed before the choice; 0: the choice rests on one seed
    confirm_seed: int = 0
    grid: tuple[float, ...] = ()  # tuned by an LR grid (GridSearch) instead of TPE; `trials` counts its points
    lr_from: Group | None = None  # nothing tuned: the final seeds use the lr that group chose
    experiment: str = ""  # a plan without a space (the FAQ's): its experiment's name ...
    compare: str = ""  # ... and what its levels vary
    # What has happened, changed only through record / start / stop / remember, which keep the tallies below: the
    # driver reads them at every trial, so its bookkeeping per trial is O(1) in the trials per level.
    done: dict[str, TrialSummary] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    suggested: dict[str, dict[str, Any]] = field(default_factory=dict)  # trial id -> params, seed as written down
    _ranked: list[tuple[float, int, TrialSummary]] = field(default_factory=list, init=False, repr=False, compare=False)
    _tuning_done: int = field(default=0, init=False, repr=False, compare=False)
    _cursor: int = field(default=0, init=False, repr=False, compare=False)  # tuning ids before it: done or running
    _reopen: set[str] = field(default_factory=set, init=False, repr=False, compare=False)  # interrupted tuning ids
    failures: dict[bool, int] = field(default_factory=lambda: {False: 0, True: 0}, init=False, repr=False,
                                      compare=False)  # failed trials: final phase (True) or not

    @property
    def workload(self) -> str:
        """The workload the group's trials train on (its configuration's; a FAQ group may span several)."""
        return self.base.workload

    @property
    def metric(self) -> str:
        return tuning_metric(self.target)

    @cached_property
    def prefix(self) -> str:
        return f"{self.group}.{self.level}".replace("/", "_").replace(" ", "_")

    @cached_property
    def _ids(self) -> tuple[tuple[str, ...], dict[str, int], tuple[str, ...], dict[str, int]]:
        """Tuning ids, their index, confirm slots, final ids -> seed: fixed by the fields, built once."""
        tuning = tuple(f"{self.prefix}.tune-{k:03d}" for k in range(self.trials)) if self.tuned else ()
        confirm = tuple(f"{self.prefix}.confirm-{k}" for k in range(min(self.confirm, self.trials))) if self.tuned else ()
        return tuning, {t: k for k, t in enumerate(tuning)}, confirm, {f"{self.prefix}.seed-{s}": s for s in self.seeds}

    @property
    def sampler_seed(self) -> int:
        """Seed of this group's TPE sampler: fixed by the budget seed and the group, not by the run order."""
        return (self.base.seed * 1_000_003 + zlib.crc32(self.prefix.encode())) % 2**31

    def tuning_ids(self) -> tuple[str, ...]:
        return self._ids[0]

    def tuning_index(self, trial_id: str) -> int | None:
        """The place of a tuning trial in its search (None: not a tuning trial of this group)."""
        return self._ids[1].get(trial_id)

    def confirm_slots(self) -> tuple[str, ...]:
        """Every confirm trial id this group may run (the k-th re-runs the k-th best tuning config)."""
        return self._ids[2]

    def final_ids(self) -> dict[str, int]:
        return self._ids[3]

    def record(self, outcome: TrialSummary) -> None:
        """A finished trial's outcome (a resume's part, a completed or never-proposed trial)."""
        tid, k = outcome.trial_id, self.tuning_index(outcome.trial_id)
        if (old := self.done.get(tid)) is not None:  # recorded again: take the old one out of the tallies
            self.failures[tid in self.final_ids()] -= TrialStatus(old.status).is_failure()
            self._ranked = [r for r in self._ranked if r[2].trial_id != tid]
        elif k is not None:
            self._tuning_done += 1
        self.done[tid] = outcome
        self._reopen.discard(tid)
        self.failures[tid in self.final_ids()] += TrialStatus(outcome.status).is_failure()
        if k is not None and (key := rank_key(outcome, self.mode)) is not None:  # ties: the earlier trial first
            insort(self._ranked, (key, k, outcome))

    def remember(self, entry: dict[str, Any]) -> None:
        """A suggestion read back on resume; an unfinished tuning trial among them runs again first."""
        self.suggested[entry["trial_id"]] = entry
        if self.tuning_index(entry["trial_id"]) is not None and entry["trial_id"] not in self.done:
            self._reopen.add(entry["trial_id"])

    def start(self, entry: dict[str, Any]) -> None:
        """A trial handed out, as written down (its suggestion)."""
        self.suggested[entry["trial_id"]] = entry
        self.running.add(entry["trial_id"])
        self._reopen.discard(entry["trial_id"])

    def stop(self, trial_id: str, outcome: TrialSummary | None) -> None:
        """A handed-out trial ended: with its outcome, or cancelled (None: it runs again, as written down)."""
        self.running.discard(trial_id)
        if outcome is not None:
            self.record(outcome)
        elif self.tuning_index(trial_id) is not None:
            self._reopen.add(trial_id)

    def next_tuning_id(self) -> str | None:
        """An interrupted trial (suggested, never finished) first, to re-run as written down; then a new one."""
        if reopened := [t for t in self._reopen if t not in self.done and t not in self.running]:
            return min(reopened, key=self._ids[1].__getitem__)
        ids = self.tuning_ids()
        while self._cursor < len(ids) and (ids[self._cursor] in self.done or ids[self._cursor] in self.running):
            self._cursor += 1
        return ids[self._cursor] if self._cursor < len(ids) else None

    def tuning_finished(self) -> bool:
        return self._tuning_done == len(self.tuning_ids())

    def ranked(self) -> list[TrialSummary]:
        """The finished tuning trials that trained to the end, best first (ties: the earlier trial)."""
        return [o for *_, o in self._ranked]

    def search_best(self) -> TrialSummary | None:
        """The best tuning trial on the tuning seed alone (what the search found so far)."""
        return self._ranked[0][2] if self._ranked else None

    def confirm_ids(self) -> dict[str, TrialSummary]:
        """Once tuning is finished: confirm trial id -> the tuning trial whose config it re-runs."""
        if not self.tuning_finished():
            return {}
        return {slot: o for slot, (*_, o) in zip(self.confirm_slots(), self._ranked, strict=False)}

    def confirm_finished(self) -> bool:
        return self.tuning_finished() and all(t in self.done for t in self.confirm_ids())

    def next_confirm(self) -> tuple[str, dict[str, Any]] | None:
        return next(((t, o.params) for t, o in self.confirm_ids().items()
                     if t not in self.done and t not in self.running), None)

    def best(self) -> TrialSummary | None:
        """The configuration the final seeds re-run, with the objective it was chosen on: the confirmed config of
        best mean objective over both seeds (ties: the better on the tuning seed), once every confirm trial has
        finished; without confirm trials, the best tuning trial; with nothing to tune, the base configuration."""
        if not self.tuned:
            chosen = self.lr_from.best() if self.lr_from else None
            if self.lr_from and chosen is None:
                return None
            return TrialSummary("base", {"lr": chosen.params["lr"]} if chosen else {}, TrialStatus.OK, math.nan)
        if not self.confirm_slots():
            return self.search_best()
        if not self.confirm_finished() or not self.confirm_ids():
            return None
        return choose_confirmed([(o, self.done[cid].objective) for cid, o in self.confirm_ids().items()], self.mode)

    def dropped(self) -> bool:
        """Tuning finished without a single trial that trained to the end, or the group whose lr this one takes
        chose none: nothing to confirm or re-run."""
        if self.lr_from is not None:
            return self.lr_from.finished() and self.lr_from.best() is None
        return bool(self.tuned) and self.tuning_finished() and self.search_best() is None

    def open_finals(self) -> list[tuple[str, int]]:
        """The final-phase (trial id, seed) pairs ready to start, all at once (a stacked run trains them together);
        none before the group's choice is made."""
        if not self.confirm_finished() or self.best() is None:
            return []
        return [(t, s) for t, s in self.final_ids().items() if t not in self.done and t not in self.running]

    def next_final(self) -> tuple[str, int] | None:
        return next(iter(self.open_finals()), None)

    def finished(self) -> bool:
        return self.dropped() or (self.confirm_finished() and all(t in self.done for t in self.final_ids()))

    def total(self) -> int:
        """Trials this group will run: with none of its tuning trials succeeded, no confirm or final runs; with
        fewer successful tuning trials than confirm slots, only those confirmed."""
        if self.dropped():
            return len(self.tuning_ids())
        confirms = len(self.confirm_ids()) if self.tuning_finished() else len(self.confirm_slots())
        return len(self.tuning_ids()) + confirms + len(self.seeds)

    def lr_extent(self, space: SweepSpace | None) -> tuple[float, float]:
        """The LRs this group's search can reach (a chosen LR at either end may lie past them): its grid with the
        refinement points beyond its ends, else the space's range."""
        if self.grid:
            half = math.log10(self.grid[1] / self.grid[0]) / 2 if self.trials > len(self.grid) else 0.0
            return self.grid[0] / 10 ** half, self.grid[-1] * 10 ** half
        lr = space.tune.get("lr") if space else None
        return (lr.min, lr.max) if lr else (math.nan, math.nan)

    def config(self, params: dict[str, Any], seed: int, threads: int) -> TrialConfig:
        return self.base.replace(**params, seed=seed, threads=threads)

    def tags(self, space: SweepSpace | None, phase: str) -> dict[str, Any]:
        """A trial's TrialTags as written into its record: a sweep's (space given) or an experiment's."""
        chosen = self.best() if phase == FINAL else None
        common = {"phase": phase, "level": self.level, "tuned": ",".join(self.tuned), "tune_metric": self.metric,
                  "target_metric": self.target, "target_mode": self.mode,
                  "chosen_objective": chosen.objective if chosen else math.nan, "group": self.group}
        if space is None:
            return TrialTags(**common, experiment=self.experiment, compare=self.compare, tune_mode=self.mode).to_dict()
        lr_min, lr_max = self.lr_extent(space)
        return TrialTags(**common, sweep=space.name, compare=space.compare, chance=self.chance,
                         lr_min=lr_min, lr_max=lr_max,
                         chosen_seeds=(2 if self.confirm_slots() else 1) if chosen and self.tuned else 0).to_dict()


class Plan:
    """All groups of a comparison and what is finished, rebuilt from the result parts on resume: a sweep's groups
    from its space, or groups built by another front-end (the FAQ's experiments: space None)."""

    def __init__(self, space: SweepSpace | None, records: list[TrialRecord] = (), suggested: dict[str, dict] | None = None,
                 groups: list[Group] | None = None, retry_failed: bool = False):
        """`records`: the finished trials (their parts); a trial lost to its infrastructure (status.is_infrastructure)
        is not finished and runs again, and with `retry_failed` neither is any other errored trial."""
        self.space = space
        self.groups: list[Group] = self.sweep_groups(space) if groups is None else groups
        owners = {tid: g for g in self.groups for tid in (*g.tuning_ids(), *g.confirm_slots(), *g.final_ids())}
        for rec in records:
            if is_infrastructure(rec.status, rec.error) or (retry_failed and rec.status == TrialStatus.ERROR):
                continue
            if rec.trial_id not in owners:
                raise ConfigError(f"result part {rec.trial_id!r} does not belong to sweep {self.name!r} as "
                                  "resolved now; resume with the same search space and --quick setting")
            g = owners[rec.trial_id]
            g.record(TrialSummary(rec.trial_id, {k: rec.config[k] for k in g.tuned}, rec.status,
                                           objective(rec.status, rec.epochs, g.metric, g.mode,
                                                     tested_epoch(rec.config, rec.final))))
        for tid, entry in (suggested or {}).items():
            if tid in owners:
                owners[tid].remember(entry)

    @property
    def name(self) -> str:
        return self.space.name if self.space else self.groups[0].experiment

    @staticmethod
    def sweep_groups(space: SweepSpace) -> list[Group]:
        from bench.workloads import get_workload

        groups: list[Group] = []
        for workload in space.workloads:
            spec = get_workload(workload)
            for level in space.levels:
                base = space.base_config(level, workload)
                tuned, b = space.tuned(level), space.budget
                groups.append(Group(len(groups), level, workload, tuned, base, spec.target, spec.mode,
                                    b.tuning_trials(tuned), b.final_seeds(), confirm=b.confirm,
                                    confirm_seed=b.confirm_seed, grid=b.grid_for(tuned)))
        chance: dict[str, float] = {}  # per workload: its data are read once
        for g in groups:
            if g.workload not in chance:
                chance[g.workload] = get_workload(g.workload).chance_score(g.base)
            g.chance = chance[g.workload]
        return groups

    def total(self) -> int:
        """Trials the sweep will run (Group.total)."""
        return sum(g.total() for g in self.groups)

    def finished_count(self) -> int:
        return sum(len(g.done) for g in self.groups)

    def finished(self) -> bool:
        return all(g.finished() for g in self.groups)

    def check_finished(self, folder: Path | None = None) -> None:
        """Raise PlanIncomplete naming the groups whose trials have no result yet: a runner that returned early (a
        swallowed interrupt, a run the executor ended) must not hand a partial plan to the judging; nor one whose
        trials in `folder` were lost to their infrastructure on every try."""
        if folder is not None:
            from bench.results import ResultStore

            ids = {tid for g in self.groups for tid in (*g.tuning_ids(), *g.confirm_slots(), *g.final_ids())}
            lost = [r.trial_id for r in ResultStore(folder).finished()
                    if r.trial_id in ids and is_infrastructure(r.status, r.error)]
            if lost:
                raise PlanIncomplete(f"{self.name}: {len(lost)} trial(s) lost to worker or storage failures on every "
                                     f"try ({', '.join(lost[:3])}); nothing was judged: run the same command with "
                                     "--resume to run them again")
        if open_groups := [g for g in self.groups if not g.finished()]:
            named = ", ".join(f"{g.group} {g.level} ({len(g.done)} of {g.total()} trials)" for g in open_groups[:5])
            more = f" and {len(open_groups) - 5} more" if len(open_groups) > 5 else ""
            raise PlanIncomplete(f"{self.name}: {self.total() - self.finished_count()} of {self.total()} trials have no "
                                 f"result: {named}{more}; nothing was judged: run the same command with --resume")

