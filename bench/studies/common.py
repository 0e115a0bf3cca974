"""Shared machinery of the gradient studies: sizes, trial runs, the claims table, figures and the output folder.

A study decides claims one by one. Each claim is a row: the claim, its source, the per-seed criterion (a constant
in the study module, printed beside the result), the measured figures over seeds, how many seeds met the
criterion, and the outcome: pass when at least PASS_SHARE of at least MIN_SEEDS seeds meet it, fail when at most
FAIL_SHARE do, inconclusive otherwise (also with fewer seeds, or when a gate - a reference arm that must itself
learn, an intervention that must act - is not met; the gate's reason is in the row). Rows are
printed as they are decided and written to claims.csv / claims.md; figures go to PNG. The trials behind them run
through the engine: each batch of labelled configurations is a plan of groups with nothing to tune (their seeds
are the trials) on the study's runner (Ray Tune, or in this process), so they land as rows of the same tidy
tables as every sweep's and FAQ trial (trials/epochs/gradients.parquet: `bench report` reads the folder).
"""
from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.config import ConfigError, TrialConfig
from bench.probes import HEALTH_RULE, spike_ratio
from bench.report.figures import panels
from bench.report.render import write_study_page
from bench.report.units import duration
from bench.results import (
    ResultStore,
    RunClock,
    atomic_write,
    check_resume,
    ensure_writable,
    plan_identity,
    provenance,
    read_provenance,
    run_lock,
    to_tables,
)
from bench.scores import best_mean, tuning_metric
from bench.search.experiment import CACHE_DIR, workload_spec
from bench.search.journal import JOURNAL
from bench.search.protocol import SUGGESTED_DIR, Group, Plan, objective
from bench.search.runners import InProcess, Runner
from bench.search.trial import result_of
from bench.status import ClaimOutcome, TrialStatus
from bench.tensorboard import TENSORBOARD_DIR
from bench.train import TrialResult

Progress = Callable[[str], None]
TABLES = {  # the tidy tables every study writes, and what each holds
    "trials": "one row per trial: its group, config, status, final metrics and gradient-health label",
    "epochs": "per trial, epoch and split: loss and metrics",
    "gradients": "per trial, probe step and layer: gradient, back-propagated signal, activation and update statistics",
}
CLAIM_COLUMNS = ["key", "claim", "source", "criterion", "measured", "seeds_met", "outcome"]
DPI = 120
MAX_SEEDS = 1000
MIN_SEEDS = 5  # fewer seeds decide nothing: 2 of 2 agreeing happens by chance a quarter of the time
PASS_SHARE, FAIL_SHARE = 0.8, 0.2  # 4 or 5 of 5 seeds: pass; 0 or 1 of 5: fail; 2 or 3: inconclusive
TUNE_SEED = 1000  # studies pick grid points (LR, threshold) on this seed; their claims are judged on seeds 0, 1, ...
# ... and on this one, the protocol's confirm step (search/protocol.py choose_confirmed): a point is chosen by its mean
# over both seeds, so that one lucky seed does not decide it. Their grids are small, so every point is confirmed.
TUNE_SEEDS = (TUNE_SEED, TUNE_SEED + 1)
SEED_RULE = (f"pass if at least {PASS_SHARE:.0%} of the seeds (>= {MIN_SEEDS}) meet it, fail if at most "
             f"{FAIL_SHARE:.0%} do, inconclusive otherwise")


def decide(flags: Iterable[bool]) -> ClaimOutcome:
    """The outcome of a per-seed criterion (see SEED_RULE)."""
    flags = [bool(f) for f in flags]
    n, met = len(flags), sum(flags)
    if n < MIN_SEEDS:
        return ClaimOutcome.INCONCLUSIVE
    if met >= math.ceil(PASS_SHARE * n - 1e-9):
        return ClaimOutcome.PASS
    return ClaimOutcome.FAIL if met <= math.floor(FAIL_SHARE * n + 1e-9) else ClaimOutcome.INCONCLUSIVE


def problem_gate(shown: Iterable[bool], absent: str, remedy: str = "mitigate") -> str:
    """The negative control of a remedy claim: "" when the problem shows without the remedy in enough of the judged
    seeds to pass (decide), or when there are too few seeds for any decision (the claim says so itself); else why
    the claim is untestable, `absent` saying what those seeds showed instead."""
    shown = [bool(f) for f in shown]
    if len(shown) < MIN_SEEDS or decide(shown) is ClaimOutcome.PASS:
        return ""
    return f"untestable: {absent} in {len(shown) - sum(shown)}/{len(shown)} seeds, so there is nothing to {remedy}"


def check_seeds(seeds: int | None) -> None:
    """A study's --seeds: None (its default) or 1..MAX_SEEDS (each seed is a batch of trials: 10^8 of them would
    fill the memory with their plan before the first trial starts)."""
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    if seeds is not None and seeds > MAX_SEEDS:
        raise ConfigError(f"--seeds must be <= {MAX_SEEDS}, got {seeds}; a study's claims are settled by 5 to 20 seeds")


@dataclass(frozen=True)
class Claim:
    key: str  # stable id the FAQ looks rows up by
    claim: str
    source: str
    criterion: str
    measured: str
    seeds_met: str  # "k/n": seeds that met the criterion
    outcome: str  # an ClaimOutcome value: the table holds only strings, so claims.csv reads back as it was written


class Study:
    """One study run: runs trials, collects claims and tables, and writes everything under out/<name>/."""

    def __init__(self, name: str, out: Path, size: str, seeds: int, progress: Progress, notes: str,
                 runner: Runner | None = None, resume: bool = False, force: bool = False):
        check_seeds(seeds)
        self.name, self.size, self.progress, self.notes = name, size, progress, notes
        self.folder = ensure_writable(Path(out) / name)
        self.lock = ExitStack()  # held until finish: a second study into this folder stops before deleting anything
        self.lock.enter_context(run_lock(self.folder))
        try:  # before anything is deleted: a refused --resume leaves the folder as it was
            forced = resume_check(name, out, size, seeds, force) if resume else []
        except BaseException:
            self.lock.close()
            raise
        self.info = {**study_identity(name, size, seeds), "size": size, "seeds": list(range(seeds)),
                     **({"forced": forced} if forced else {})}
        for old in ("parts", SUGGESTED_DIR, TENSORBOARD_DIR, *([] if resume else [CACHE_DIR])):  # this run's trials only
            shutil.rmtree(self.folder / old, ignore_errors=True)
        (self.folder / JOURNAL).unlink(missing_ok=True)  # rebuilt from this run's trials (ids repeat between runs)
        self.clock = RunClock(read_provenance(self.folder) if resume else None)  # a resumed study's time adds up
        ResultStore(self.folder).write_provenance(provenance({**self.info, "complete": False,  # what --resume checks
                                                              **self.clock.carried()}))
        self.runner = runner or InProcess()
        self.seeds = list(range(seeds))
        self.ran: dict[str, TrialConfig] = {}  # label -> the configuration it named: one label, one config
        self.claims: list[Claim] = []
        self.tables: dict[str, tuple[pd.DataFrame, str]] = {}  # name -> (table, what it holds), beside the trials'
        progress(f"study {name} ({size}, {seeds} seed{'s' * (seeds > 1)}): {notes}")

    def batch(self, runs: dict[str, dict[str, Any]], seeds: list[int] | None = None) -> dict[str, list[TrialResult]]:
        """Train each labelled configuration on every seed (default: the study's) as one plan on the study's
        runner, so its trials run side by side; returns each label's results in seed order. A trial of a config
        this study trained before (this run, or an interrupted one with --resume) comes from the study's cache."""
        seeds = self.seeds if seeds is None else seeds
        base = {label: TrialConfig.from_dict({"threads": 1, "epochs": 100_000, **settings, "seed": seeds[0]})
                for label, settings in runs.items()}
        for label, cfg in base.items():
            if self.ran.setdefault(label, cfg) != cfg:  # its trial ids would overwrite the other's parts
                raise ValueError(f"study {self.name}: label {label!r} names two different configurations")
        groups = [self._group(i, label, cfg, seeds) for i, (label, cfg) in enumerate(base.items())]
        self.runner.run(Plan(None, groups=groups), self.folder, self.progress, self.folder / CACHE_DIR)
        out = {}
        for g in groups:
            parts = [json.loads((self.folder / "parts" / f"{tid}.json").read_bytes()) for tid in g.final_ids()]
            out[g.level] = [result_of(part) for part in parts]
            for seed, result in zip(seeds, out[g.level], strict=True):
                self.progress(f"  {self.clock.elapsed():6.0f}s  {g.level}/seed{seed}: {result.status}, train "
                              f"loss {final_train_loss(result):.4g}, gradients {result.final.get('grad_health', '-')} "
                              f"({result.final.get('wall_time', math.nan):.1f}s)")
        return out

    def _group(self, index: int, label: str, cfg: TrialConfig, seeds: list[int]) -> Group:
        """A labelled configuration as a protocol group with nothing to tune: its final seeds are the trials."""
        spec = workload_spec(cfg.workload)
        return Group(index, label, self.name, (), cfg, spec.target, spec.mode, trials=0, seeds=tuple(seeds),
                     experiment=self.name, compare="study configurations")

    def trial(self, group: str, seed: int, settings: dict[str, Any]) -> TrialResult:
        """Train one configuration on one seed (one thread, max_steps bounds it)."""
        return self.batch({group: settings}, [seed])[group][0]

    def trials(self, group: str, settings: dict[str, Any]) -> list[TrialResult]:
        return self.batch({group: settings})[group]

    def add_table(self, name: str, df: pd.DataFrame, about: str) -> None:
        """A table of the study's own (beside trials, epochs, gradients), written as name.parquet and linked."""
        self.tables[name] = (df, about)

    def claim(self, key: str, claim: str, source: str, criterion: str, measured: str, flags: Iterable[bool],
              gate: str = "") -> None:
        """Decide a claim from its per-seed flags; a non-empty `gate` (why it cannot be judged) makes it untestable."""
        flags = [bool(f) for f in flags]
        outcome = ClaimOutcome.UNTESTABLE if gate else decide(flags)
        if len(flags) < MIN_SEEDS and not gate:
            gate = f"fewer than {MIN_SEEDS} seeds"
        measured = f"{measured}; not judged: {gate}" if gate else measured
        row = Claim(key, claim, source, f"per seed: {criterion}; {SEED_RULE}", measured,
                    f"{sum(flags)}/{len(flags)}", outcome.value)
        self.claims.append(row)
        self.progress(f"{outcome.value.upper()}  {claim} ({source})\n      criterion: {row.criterion}\n"
                      f"      measured:  {measured}\n      seeds meeting it: {row.seeds_met}")

    def finish(self, figures: dict[str, Figure], captions: dict[str, str] | None = None) -> pd.DataFrame:
        """Write claims, figures (captions: what to see in each), the page, raw tables and provenance; return the
        claims table."""
        claims = pd.DataFrame([asdict(c) for c in self.claims], columns=CLAIM_COLUMNS)
        atomic_write(self.folder / "claims.csv", claims.to_csv(index=False).encode())
        header = (f"Size {self.size}, {len(self.seeds)} seed(s), {self.clock.elapsed():.0f} s on "
                  f"{os.cpu_count()} CPU core(s), one thread per trial; of {len(claims)} claims {tally(claims)}.")
        tables = {**{name: (df, TABLES[name]) for name, df in to_tables(ResultStore(self.folder).finished()).items()},
                  **self.tables}
        for name, (df, _) in tables.items():  # zstd: committed example pages carry their tables; before the page
            atomic_write(self.folder / f"{name}.parquet", df.to_parquet(index=False, compression="zstd"))
        for done in ("parts", SUGGESTED_DIR):  # in the tables now; --resume reads the cache, not these
            shutil.rmtree(self.folder / done, ignore_errors=True)
        about = {"claims.csv": "the claims table above, one row per claim",
                 **{f"{name}.parquet": text for name, (_, text) in tables.items()}}
        notes = [self.notes, header, f"Gradient-health label used in the tables: {HEALTH_RULE}."]
        with theme():  # some of a figure's look (its legend's frame) is read when it is saved
            write_study_page(self.folder, f"Gradient study: {self.name}", notes, claims, figures, captions, about)
        ResultStore(self.folder).write_provenance(provenance({
            **self.info, "complete": True, "health_rule": HEALTH_RULE,
            **self.clock.fields(), "runner": self.runner.describe()}))
        self.progress(f"study {self.name}: {tally(claims)} of {len(claims)} claims, in "
                      f"{duration(self.clock.elapsed())}")
        self.lock.close()
        return claims


def seed_count(scale: Any, seeds: int | None) -> int:
    """The seeds a study runs: `seeds` where given, else its size's default (`scale`: its SCALES entry)."""
    return scale.seeds if seeds is None else seeds


def study_identity(name: str, size: str, seeds: int) -> dict[str, Any]:
    """A study's run.json identity (results.plan_identity): its size and seeds decide which trials it trains."""
    return plan_identity(f"study {name}", {"study": name, "size": size, "seeds": seeds})


def resume_check(name: str, out: Path, size: str, seeds: int, force: bool) -> list[str]:
    """Refuse to resume out/<name> when it was started with another size, seed count or bench version (a one-line
    ConfigError); with `force`, return those differences instead (recorded in run.json)."""
    return check_resume(Path(out) / name, study_identity(name, size, seeds), force)


def tally(claims: pd.DataFrame) -> str:
    """'10 pass, 1 fail, 2 inconclusive': every outcome, also those no claim had."""
    counts = claims["outcome"].value_counts()
    return ", ".join(f"{counts.get(o.value, 0)} {o.value}" for o in ClaimOutcome)


# --- reading trial results -------------------------------------------------------------------------------------

def final_train_loss(result: TrialResult) -> float:
    """Full-train-set loss after the last epoch; +inf for a diverged trial (worse than any finite loss)."""
    if result.status == TrialStatus.DIVERGED or not result.epochs:
        return math.inf
    return float(result.epochs[-1]["train_loss"])


def chosen_point(runs: list[tuple[Any, list[TrialResult]]]) -> Any:
    """A study's choice, by bench's one selection rule (scores.best_mean) on the protocol's metric: of (point, its runs
    on TUNE_SEEDS), the point of best mean final value of its workload's validation target metric over both seeds
    (protocol.objective: the last epoch's val_acc, val_mse, ...; a diverged run scores the worst value, so its point
    ranks worst; ties: the first). Chosen on seeds the claims are never judged on. Not on validation loss: a net that
    collapsed to a constant prediction holds it at ln 10 while an accurate net that overfits climbs above it, and the
    full vanishing study chose RMSprop at lr 1e-3, dead on every seed, over 1e-4 (val_acc 0.45) that way."""
    spec = workload_spec(next(r for _, results in runs for r in results).config["workload"])
    metric = tuning_metric(spec.target)
    return best_mean(((point, [objective(r.status, r.epochs, metric, spec.mode) for r in results])
                      for point, results in runs), spec.mode)[0]


def step_series(result: TrialResult, column: str) -> np.ndarray:
    """One value per probe step (loss and total_grad_norm are per step, repeated on each layer's row)."""
    seen: dict[int, float] = {}
    for row in result.gradients:
        seen.setdefault(row["step"], row[column])
    return np.array([seen[s] for s in sorted(seen)], dtype=float)


def after_warmup(result: TrialResult, column: str, warmup: int) -> np.ndarray:
    """The per-step series of one probe column at steps after `warmup`: the first steps of a run are a start-up
    transient (the gradient norm falls by orders of magnitude as the output layer fits the mean), not a spike."""
    steps = sorted({row["step"] for row in result.gradients})
    values = step_series(result, column)
    return values[np.asarray(steps) > warmup] if len(steps) else values


def loss_spike(result: TrialResult, warmup: int = 0) -> float:
    """Largest jump of the mini-batch loss over its trailing median (probes.spike_ratio) after the warm-up steps;
    inf if it diverged."""
    return math.inf if result.status == TrialStatus.DIVERGED else spike_ratio(after_warmup(result, "loss", warmup))


def layer_series(result: TrialResult, column: str, layers: list[str]) -> pd.DataFrame:
    """step x layer table of one probe column, for the named layers."""
    df = pd.DataFrame(result.gradients)
    return df[df["layer"].isin(layers)].pivot(index="step", columns="layer", values=column)[layers]


def gradient_frame(results: dict[str, list[TrialResult]]) -> pd.DataFrame:
    """Long table (config, seed, step, total_grad_norm, loss) for the gradient-norm-over-steps figure."""
    rows = []
    for label, runs in results.items():
        for seed, result in enumerate(runs):
            norms, losses = step_series(result, "total_grad_norm"), step_series(result, "loss")
            steps = sorted({row["step"] for row in result.gradients})
            rows += [{"config": label, "seed": seed, "step": s, "total_grad_norm": g, "loss": v}
                     for s, g, v in zip(steps, norms, losses, strict=True)]
    return pd.DataFrame(rows, columns=["config", "seed", "step", "total_grad_norm", "loss"]).astype(
        {"total_grad_norm": float, "loss": float})  # float even when no probe ran (a tiny budget)


# --- formatting ------------------------------------------------------------------------------------------------

def fmt(x: float) -> str:
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 or x == 0 else f"{x:.2e}"


def fmt_seeds(values: Iterable[float]) -> str:
    return "(" + ", ".join(fmt(v) for v in values) + ")"  # no square brackets: progress may go through Rich markup


def geomean(values: Iterable[float]) -> float:
    v = np.asarray(list(values), dtype=float)
    return float(np.exp(np.mean(np.log(v)))) if len(v) and np.all(v > 0) else math.nan


# --- figures: pure functions of DataFrames ---------------------------------------------------------------------

@contextmanager
def theme() -> Iterator[None]:
    """Seaborn's whitegrid theme while the study draws and saves its figures; the process's matplotlib settings
    are restored afterwards (a program that runs a study keeps its own). Also a decorator: `@theme()`."""
    with matplotlib.rc_context():
        sns.set_theme(style="whitegrid", context="notebook")
        yield


def fig_by_depth(df: pd.DataFrame, y: str, ylabel: str, title: str, hue: str = "init", col: str | None = None) -> Figure:
    """Per-layer statistic against layer index (log scale): mean over seeds, band = seed range; a panel per `col`."""
    groups = [(None, df)] if col is None else list(df.groupby(col, sort=False))
    fig, axes = panels(len(groups), title)
    for ax, (name, part) in zip(axes, groups, strict=True):
        sns.lineplot(data=part, x="layer_index", y=y, hue=hue, marker="o", errorbar=("pi", 100), ax=ax)
        ax.set_yscale("log")
        ax.set_xlabel("hidden layer (1 = next to the input)")
        ax.set_ylabel(ylabel)
        if name is not None:
            ax.set_title(f"{col} = {name}")
    return fig


def fig_grad_norm_over_steps(df: pd.DataFrame, title: str, col: str = "testbed") -> Figure:
    """Total gradient norm before clipping (log scale) per probe step: one line per config and seed."""
    groups = list(df.groupby(col, sort=False))
    fig, axes = panels(len(groups), title, (6.0, 3.8))
    for ax, (name, part) in zip(axes, groups, strict=True):
        sns.lineplot(data=part, x="step", y="total_grad_norm", hue="config", units="seed", estimator=None, lw=0.9, ax=ax)
        ax.set_yscale("log")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("gradient norm before clipping")
        ax.set_title(str(name))
    return fig


def fig_success_vs_length(df: pd.DataFrame, title: str) -> Figure:
    """Share of seeds that solved the task against sequence length T, one line per config."""
    fig, (ax,) = panels(1, title, (7.0, 4.2))
    sns.lineplot(data=df, x="T", y="success", hue="config", style="config", marker="o", errorbar=None, ax=ax)
    log_lengths(ax, sorted(df["T"].unique()))
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("success rate over seeds")
    return fig


def log_lengths(ax, lengths: list[int]) -> None:
    """Log-scaled x axis labelled at the sequence lengths measured, without minor tick labels."""
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(lengths, [str(t) for t in lengths])
