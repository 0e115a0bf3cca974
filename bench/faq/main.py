"""Answer the FAQ: run every experiment the chosen questions need, judge each claim, write the page."""
from __future__ import annotations

import importlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack
from dataclasses import fields
from pathlib import Path

import pandas as pd

from bench.config import ConfigError
from bench.errors import PlanIncomplete
from bench.faq.evidence import OVERFIT_MIN, Evidence, Judgement
from bench.faq.questions import QUESTIONS, SOURCE, Question
from bench.registry import lookup
from bench.report import figures as fg
from bench.report import stats as st
from bench.report.faq import ClaimResult, QuestionResult, write_faq
from bench.report.render import CAPTIONS_FILE
from bench.report.units import duration
from bench.results import check_resume, ensure_writable, read_provenance, run_lock
from bench.scores import CHANCE_POINTS, CHANCE_SHARE
from bench.search.experiment import (
    BUDGETS,
    CACHE_DIR,
    Experiment,
    Log,
    data_baselines,
    experiment_identity,
    run_experiment,
)
from bench.search.protocol import Budget
from bench.search.runners import InProcess, Runner

STUDY_CLAIMS = "claims.csv"
NOT_JUDGED = "not enough finished trials to judge"
REDUCED = {
    "quick": "This is the QUICK budget (`bench faq --quick`): fewer learning rates, seeds and epochs than the full run "
             "(`bench faq`), so models are not trained to convergence and more claims stay inconclusive.",
    "tiny": "This is the TINY test budget: a few optimizer steps per trial. Its verdicts mean nothing.",
}
RULES = [
    f"Sanity gates, checked before any decision and printed beside it: the reference arm (B) reaches its workload's "
    "target (`bench list workloads`: goal), else \"untestable at this budget\"; the intervention that tells A from B "
    "took effect in the result tables (early stopping stopped before the last epoch in most seeds, norm clipping "
    "changed some gradients, the regularizer or schedule is on), else \"not exercised\"; no compared arm sits within "
    f"{CHANCE_POINTS * 100:.0f} points of its workload's chance score (losses: {CHANCE_SHARE:.0%} of it), else \"untestable\". "
    f"Claims on overfitting use a reference that overfits (train-validation gap of at least {OVERFIT_MIN * 100:.0f} "
    "points) instead of the target.",
    st.OUTCOME_RULE + " The t-test is paired by seed when both arms ran the same seeds, else Welch.",
    "\"A helps\" / \"A beats B\": supported when A is better; refuted only when A is worse or shown equivalent, never "
    "because an interval was wide; otherwise inconclusive.",
    "\"A is as good as B\" (non-inferiority): supported when the 95% CI of A's gain lies above minus the margin, "
    "refuted when it lies entirely below minus the margin, otherwise inconclusive.",
    f"Practical margin: for accuracy, precision, recall and F1 the larger of {st.FIXED_MARGIN * 100:.0f} points and "
    f"{st.BINOMIAL_K} binomial standard errors of the reference's score on the test samples it is a rate over (all "
    "of them for accuracy, the positives for F1); 10% of the reference's mean for losses and MSE.",
    "Precision: every comparison prints its interval's half-width beside the margin and, when the half-width is "
    "larger, how many seeds per arm would bring it below the margin at the observed spread (a power analysis for "
    "precision).",
    "Comparators (\"the best other level\") are chosen on validation data: the best mean validation score of the "
    "final seeds; the test scores are only compared.",
    "A claim over several workloads holds only if every workload supports it and fails if any refutes it, unless its "
    "rule says otherwise.",
    "Fair tuning: every compared level is trained at the same grid of learning rates and judged on the "
    "validation metric (validation loss where the target metric, e.g. F1, is not computed on validation data); its "
    "best LRs are re-run on a second seed and the LR of best mean over both seeds is chosen (a run that diverged "
    "counts as the worst value), so no choice rests on one seed; that LR is re-run with fresh seeds and only those "
    "re-runs are compared, on the test set.",
    "Claims on gradient flow (8.5, 8.6) are checked by the gradient studies, each reproduction against its own "
    "criterion set before running.",
    "The tally counts each distinct comparison once; claims that share a comparison say so, and verdicts.csv beside "
    "this page holds every comparison with its gates.",
]


def select(ids: list[str] | None) -> list[Question]:
    known = {q.id: q for q in QUESTIONS}
    if not ids:
        return list(QUESTIONS)
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ConfigError(f"unknown FAQ question {unknown[0]!r}; choose from: {', '.join(known)}")
    return [known[i] for i in dict.fromkeys(ids)]


def experiments_for(questions: list[Question], budget: Budget) -> list[Experiment]:
    """Each experiment once, in the order the questions first need it."""
    out: dict[str, Experiment] = {}
    for q in questions:
        for exp in q.experiments(budget):
            out.setdefault(exp.name, exp)
    return list(out.values())


def run_studies(names: list[str], size: str, seeds: int | None, root: Path, runner: Runner, resume: bool,
                log: Log = print, force: bool = False) -> dict[str, str]:
    """Run the gradient studies one after another into root/<name>/, their trials on `runner`. Returns the
    failures by study: a study that fails leaves its claims inconclusive instead of losing the rest of the FAQ."""
    failed = {}
    for name in names:
        try:
            module = importlib.import_module(f"bench.studies.{name}")
            log(f"running the {name} study ({size} size) into {root / name}")
            module.run(seeds=seeds, out=root, progress=log, size=size, runner=runner, resume=resume, force=force)
        except (PlanIncomplete, ConfigError):  # an unfinished plan, a refused --resume: no failed study, nothing judged
            raise
        except Exception as e:  # noqa: BLE001 - reported on the page, the other claims still count
            failed[name] = f"the {name} study failed ({type(e).__name__}: {e}); its claims stay inconclusive"
    return failed


def load_study(name: str, folder: Path) -> tuple[pd.DataFrame | None, list]:
    """A study's claims table and its PNGs as (name, bytes, caption); (None, []) when it has not run."""
    path = folder / STUDY_CLAIMS
    if not path.exists():
        return None, []
    said = json.loads((folder / CAPTIONS_FILE).read_text()) if (folder / CAPTIONS_FILE).exists() else {}
    pngs = [(f"{name}-{p.stem}", p.read_bytes(), f"{name.capitalize()} study: "
             + said.get(p.stem, f"{p.stem.replace('_', ' ')}.")) for p in sorted(folder.glob("*.png"))]
    claims = pd.read_csv(path, dtype=str, keep_default_na=False)  # every column is text: nothing is re-typed
    if "outcome" not in claims:
        raise ConfigError(f"{path} has no outcome column (an older bench wrote it); run `bench study {name}` again")
    return claims, pngs


def judge(q: Question, ev: Evidence, study_pngs: dict[str, list], runs: dict[str, Path],
          failed: dict[str, str]) -> QuestionResult:
    claims = []
    for c in q.claims:
        try:
            j = ev.judged(c.judge)
        except (KeyError, ValueError, IndexError, ZeroDivisionError) as e:  # e.g. an arm where every trial diverged
            j = Judgement(st.INCONCLUSIVE, [f"{NOT_JUDGED} ({type(e).__name__}: {e})"])
        claims.append(ClaimResult(c.id, c.text, c.rule, j.verdict, j.numbers, j.table, rows=j.rows, sources=j.sources))
    result = QuestionResult(q.id, q.title, q.quote, q.translation, SOURCE, q.experiment, claims,
                            findings=q.findings(ev), notes=[*q.notes, *(failed[s] for s in q.studies if s in failed)],
                            runs=[str(runs[e.name]) for e in q.experiments(ev.budget)])
    for spec in q.figures:
        try:
            result.figures.append((spec.name, spec.draw(ev), spec.caption))
        except (fg.NoData, KeyError, ValueError) as e:
            result.missing.append(f"{spec.name}: {e}")
    for name in q.studies:
        result.figures.extend(study_pngs.get(name, []))
    return result


def trained_in(runs: Path, studies: Path | None) -> str:
    """How long the runs behind a page trained, from the wall times the experiments' (runs/<name>/) and studies'
    (studies/<name>/) run.json files record, and on what: '13 experiments and studies that trained for 1 h 52 min in
    all ...'. A run.json sums a resumed run's sessions (results.RunClock); one written before sessions were counted
    holds its last session's time only, and where any such file is read, the sentence says so."""
    folders = [f for root in (runs, studies) if root is not None and root.is_dir() for f in sorted(root.iterdir())]
    infos = [i for i in (read_provenance(f) for f in folders if f.is_dir()) if i]
    seconds = sum(i.get("wall_time", 0.0) for i in infos)
    cpus = sorted({i.get("cpu_count") for i in infos} - {None})
    gpus = sorted({i.get("cuda") for i in infos} - {None, "none"})
    summed = all("sessions" in i for i in infos)
    return (f"{len(infos)} experiments and studies that trained for {duration(seconds)} in all on "
            f"{'/'.join(map(str, cpus)) or 'an unrecorded number of'} CPU cores, {', '.join(gpus) or 'no GPU'} (the "
            "wall times their run.json files record" + (", each over all of its sessions)" if summed else
                                                         "; a run resumed from its cache records its last session only)"))


def full_run_summary(runs: Path, studies: Path | None) -> str:
    """Where the page's full-budget verdicts come from: the folders, and how long that run trained (trained_in)."""
    where = f"{runs}" + (f" and {studies}" if studies else "")
    return (f"judged from the tables of a full-budget `bench faq` in {where} (no trial trained for this page): "
            f"{trained_in(runs, studies)}")


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} CPU cores, {gpu}; {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def resume_checks(exps: list[Experiment], studies: list[str], budget: Budget, runs: Path, root: Path,
                  force: bool) -> dict[str, list[str]]:
    """Before anything trains or is deleted: refuse (one line) to resume experiments and studies started with other
    inputs (results.check_resume); with `force`, the differences overridden, by experiment."""
    from bench.studies.common import resume_check, seed_count

    for name in studies:
        scale = importlib.import_module(f"bench.studies.{name}").SCALES[budget.name]
        resume_check(name, root, budget.name, seed_count(scale, budget.study_seeds), force)
    return {e.name: check_resume(runs / e.name, experiment_identity(e, budget), force) for e in exps}


def gather(questions: list[Question], budget: Budget, runs: Path, studies: Path, reuse: bool,
           runner: ContextManager[Runner], log: Log,
           force: bool = False) -> tuple[Evidence, dict[str, Path], dict[str, list], dict[str, str]]:
    """Run the experiments and then the gradient studies the questions need, every trial on `runner`, and load
    what they wrote (load_evidence). A resume (`reuse`) is checked first to continue the same run, unless `force`."""
    names = list(dict.fromkeys(s for q in questions for s in q.studies))
    todo = [n for n in names if not (reuse and (studies / n / STUDY_CLAIMS).exists())]
    exps = experiments_for(questions, budget)
    forced = resume_checks(exps, todo, budget, runs, studies, force) if reuse else {}
    if not reuse:
        shutil.rmtree(runs / CACHE_DIR, ignore_errors=True)
    with runner as on:
        for exp in exps:
            log(f"experiment {exp.name} ({len(exp.cells)} cells): {exp.description}")
            run_experiment(exp, budget, runs, on, log, forced.get(exp.name, ()), resume=reuse)
        failed = run_studies(todo, budget.name, budget.study_seeds, studies, on, reuse, log, force)
    for message in failed.values():
        log(message)
    ev, folders, pngs, missing = load_evidence(questions, budget, runs, studies, skip=failed)
    return ev, folders, pngs, {**missing, **failed}


def load_evidence(questions: list[Question], budget: Budget, runs: Path, studies: Path | None, log: Log | None = None,
                  skip: Iterable[str] = ()) -> tuple[Evidence, dict[str, Path], dict[str, list], dict[str, str]]:
    """What is on disk for `questions`: each experiment's tables (runs/<experiment>/) and each study's claims and
    PNGs (studies/<name>/). Returns the evidence, the folder of each experiment found (a question whose experiment
    is missing cannot be judged), the study PNGs, and why each study without results stays inconclusive. `skip`:
    studies that failed in this run, whose folders may still hold an earlier run's claims."""
    exps = experiments_for(questions, budget)
    ev, folders, pngs, failed = Evidence(budget, baselines=data_baselines(exps)), {}, {}, {}
    for exp in exps:
        if (Path(runs) / exp.name / "trials.parquet").exists():
            folders[exp.name] = Path(runs) / exp.name
            ev.add_run(exp.name, folders[exp.name])
            if log:
                log(f"experiment {exp.name}: judged from {folders[exp.name]}")
    for name in dict.fromkeys(s for q in questions for s in q.studies if s not in skip):
        claims, found = load_study(name, Path(studies) / name) if studies is not None else (None, [])
        if claims is None:
            failed[name] = f"the {name} study has no results under {studies}; its claims stay inconclusive"
        else:
            ev.add_study(name, claims, Path(studies) / name)
            pngs[name] = found
    return ev, folders, pngs, failed


def judge_existing(questions: list[Question], budget: Budget, runs: Path, studies: Path | None) -> list[QuestionResult]:
    """The questions whose experiments' tables (and studies' claims) are all on disk, judged from them without
    training (e.g. a full-budget run shown beside a quick page)."""
    ev, folders, _, missing = load_evidence(questions, budget, runs, studies)
    ready = [q for q in questions if all(e.name in folders for e in q.experiments(budget))
             and not any(s in missing for s in q.studies)]
    return [judge(q, ev, {}, folders, {}) for q in ready]


def recorded_budget(folder: Path) -> Budget:
    """The budget an experiment's run folder was trained with, from its run.json. Runs from before the confirm step
    recorded no `confirm`: they chose each LR on seed 0 alone."""
    info = read_provenance(folder).get("budget")
    if not isinstance(info, dict) or "name" not in info:
        raise ConfigError(f"{folder / 'run.json'} records no FAQ budget; pass a folder `bench faq --runs` wrote")
    known = {f.name for f in fields(Budget)}
    return Budget(**{"confirm": 0, **{k: tuple(v) if isinstance(v, list) else v for k, v in info.items() if k in known}})


def gather_from(questions: list[Question], runs: Path, studies: Path,
                log: Log) -> tuple[Evidence, dict[str, Path], dict[str, list], dict[str, str]]:
    """The evidence of an earlier `bench faq` from its run folders (runs/<experiment>/) and the studies' outputs, as
    `gather` returns it, training nothing. A missing experiment or mixed budgets is a one-line error; a study that
    has no output leaves its claims inconclusive."""
    names = [e.name for e in experiments_for(questions, BUDGETS["tiny"])]  # the names do not depend on the budget
    folders = {n: Path(runs) / n for n in names}
    missing = [n for n, f in folders.items() if not (f / "trials.parquet").exists()]
    if missing:
        raise ConfigError(f"{runs} holds no run of experiment {missing[0]!r} ({folders[missing[0]] / 'trials.parquet'} "
                          "is missing); run `bench faq` for these questions first, or choose other --questions")
    budgets = {n: recorded_budget(f) for n, f in folders.items()}
    if len({b.name for b in budgets.values()}) > 1:
        raise ConfigError(f"the runs under {runs} mix budgets ({', '.join(sorted({b.name for b in budgets.values()}))}); "
                          "judge runs of one budget together")
    return load_evidence(questions, next(iter(budgets.values())), runs, studies, log)


def answer(ids: list[str] | None = None, budget: Budget | str = "full", out: Path = Path("reports/faq"),
           runs: Path = Path("runs/faq"), studies: Path = Path("reports/studies"), reuse: bool = False,
           runner: ContextManager[Runner] | None = None, log: Log = print, full_runs: Path | None = None,
           full_studies: Path | None = None, from_runs: Path | None = None, force: bool = False) -> Path:
    """Run (or reuse) every experiment the chosen questions need, judge each claim, write index.html + faq.md
    under `out`; returns the HTML path. The trials run on `runner` (entered once the questions are known to
    be valid; default: in this process). full_runs / full_studies: the folders of a full-budget run, judged
    without training and shown beside each claim (else the page says the full budget is pending). `from_runs`:
    judge the run folders an earlier run wrote there instead of training, with the budget those runs recorded.
    `force`: resume (`reuse`) runs started with other inputs (another budget, another bench version)."""
    budget = lookup(BUDGETS, "budget", budget) if isinstance(budget, str) else budget
    questions = select(ids)
    for folder in (full_runs, full_studies):
        if folder is not None and not Path(folder).is_dir():
            raise ConfigError(f"{folder} is not a folder; pass the --runs or --studies folder of a full `bench faq` run")
    held = ExitStack()  # the folders this run writes, each locked until the page is written
    with held:
        t0 = time.perf_counter()
        if from_runs is not None:  # nothing trains: check the runs first, so a bad folder leaves no empty --out behind
            ev, folders, pngs, failed = gather_from(questions, Path(from_runs), Path(studies), log)
            budget = ev.budget
            held.enter_context(run_lock(ensure_writable(Path(out))))
        else:
            held.enter_context(run_lock(ensure_writable(Path(out))))  # before any training, not after it
            held.enter_context(run_lock(ensure_writable(Path(runs))))  # a second run stops before deleting the cache
            ev, folders, pngs, failed = gather(questions, budget, Path(runs), Path(studies), reuse, runner or InProcess(),
                                               log, force)
        results = [judge(q, ev, pngs, folders, failed) for q in questions]
        full = judge_existing(questions, BUDGETS["full"], Path(full_runs), full_studies and Path(full_studies)) \
            if full_runs is not None else None
        meta = {"command": "bench " + " ".join(sys.argv[1:]), "machine": machine(), "budget_name": budget.name,
                "budget": f"{budget.name}: {budget.describe()}", "reduced": REDUCED.get(budget.name, ""),
                "created": time.strftime("%Y-%m-%d %H:%M %Z"),
                "wall_time": f"{(time.perf_counter() - t0) / 60:.1f} minutes", "rules": RULES}
        if full is not None:
            meta["full"] = full_run_summary(Path(full_runs), full_studies and Path(full_studies))
        if from_runs is not None:  # the minutes are the judging's; the training's are in each run's run.json
            meta["wall_time"] += f", judged from the tables in {from_runs} and {studies} (no trial trained now): " \
                                 f"{trained_in(Path(from_runs), Path(studies))} (each run's run.json says when)"
        return write_faq(results, meta, Path(out), full)
