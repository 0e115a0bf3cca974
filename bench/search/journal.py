"""A run's trials as Optuna studies in the run folder (`RUN/optuna.log`), so that Optuna's own tools open any run:
`optuna-dashboard RUN/optuna.log`, or `optuna.load_study(storage=JournalStorage(JournalFileBackend(...)))`.

One study per protocol group (a sweep's (workload, level), a FAQ cell, a study's configuration), named
`<group>.<level>` like the group's trial ids. Each finished trial becomes one Optuna trial: its tuned parameters,
its validation objective as the value, the tuning metric of every epoch as intermediate values, its state
(complete; pruned when ASHA stopped it; failed when it diverged or raised) and user attributes (trial_id, phase,
seed, status, the test score of a final seed). The journal is written from the result parts after the trials
ran; a trial already in it (by trial_id) is never added again, so a resumed run appends only what is new.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.results import TrialRecord
from bench.status import TrialStatus

JOURNAL = "optuna.log"


def journal_storage(folder: Path | str):
    """The Optuna storage of a run folder's journal (created on first write)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(Path(folder) / JOURNAL)))


def study_name(rec: TrialRecord) -> str:
    """The record's group as a study name: '<group>.<level>' (the prefix of its trial ids)."""
    if "group" in rec.tags and "level" in rec.tags:
        return f"{rec.tags['group']}.{rec.tags['level']}"
    return rec.trial_id.rpartition(".")[0] or rec.trial_id


def write_journal(folder: Path | str, records: list[TrialRecord], ranges: dict[str, Any] | None = None) -> int:
    """Add the records not yet in the folder's journal, one study per group; returns how many were added.
    `ranges`: the sweep's tuned ranges (space.tune: name -> Range) for the parameters' distributions; without
    them (FAQ grids, studies) a parameter's distribution spans its group's values."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = journal_storage(folder)
    by_study: dict[str, list[TrialRecord]] = defaultdict(list)
    for rec in records:
        by_study[study_name(rec)].append(rec)
    added = 0
    for name, recs in by_study.items():
        mode = recs[0].tags.get("tune_mode") or recs[0].tags.get("target_mode") or "max"
        study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                    direction="maximize" if mode == "max" else "minimize")
        known = {t.user_attrs.get("trial_id") for t in study.get_trials(deepcopy=False)}
        spans = _spans(recs)
        for rec in sorted(recs, key=lambda r: r.trial_id):
            if rec.trial_id not in known:
                study.add_trial(frozen_trial(rec, ranges or {}, spans))
                added += 1
    return added


def tuned(rec: TrialRecord) -> list[str]:
    return [k for k in str(rec.tags.get("tuned", "")).split(",") if k and k in rec.config]


def _spans(recs: list[TrialRecord]) -> dict[str, tuple[float, float]]:
    """Per tuned parameter, the smallest and largest value the group's trials used."""
    values: dict[str, list[float]] = defaultdict(list)
    for rec in recs:
        for k in tuned(rec):
            values[k].append(float(rec.config[k]))
    return {k: (min(v), max(v)) for k, v in values.items()}


def distribution(name: str, value: Any, ranges: dict[str, Any], spans: dict[str, tuple[float, float]]):
    """The parameter's distribution as searched (the sweep's range, widened to hold the value), else the span of
    its group's values (log-scaled for a positive learning rate, as grids are)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    r = ranges.get(name)
    low, high = spans.get(name, (value, value))
    if r is not None:
        low, high = min(low, r.min), max(high, r.max)
    log = (r.scaling == "log") if r is not None else (name == "lr" and low > 0)
    if r is not None and r.integer:
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)


def frozen_trial(rec: TrialRecord, ranges: dict[str, Any], spans: dict[str, tuple[float, float]]):
    """One record as an Optuna trial (see the module docstring for what goes where)."""
    from optuna.trial import TrialState, create_trial

    params = {k: rec.config[k] for k in tuned(rec)}
    metric = rec.tags.get("tune_metric", "")
    steps = {int(row["epoch"]): float(row[metric]) for row in rec.epochs
             if isinstance(row.get(metric), (int, float)) and math.isfinite(row[metric])}
    value = float(rec.tags.get("objective", math.nan))
    state = TrialState.COMPLETE if rec.status == TrialStatus.OK and math.isfinite(value) else \
        TrialState.PRUNED if rec.status == TrialStatus.STOPPED else TrialState.FAIL
    attrs = {"trial_id": rec.trial_id, "phase": str(rec.tags.get("phase", "")), "seed": rec.config.get("seed"),
             "status": str(rec.status), "workload": rec.config.get("workload")}
    score = rec.tags.get("score")
    if isinstance(score, (int, float)) and math.isfinite(score):
        attrs[str(rec.tags.get("target_metric", "score"))] = float(score)
    if rec.error:
        attrs["error"] = rec.error.splitlines()[0]
    return create_trial(state=state, value=value if state == TrialState.COMPLETE else None, params=params,
                        distributions={k: distribution(k, v, ranges, spans) for k, v in params.items()},
                        intermediate_values=steps, user_attrs=attrs)


def export_run(folder: Path | str, tensorboard: bool = True) -> None:
    """After a runner ran trials into `folder`: its journal (and TensorBoard files) gain the trials they lack."""
    from bench.results import ResultStore
    from bench.search.space import load_space

    records = ResultStore(folder).finished()
    if not records:
        return
    space = Path(folder) / "space.yaml"
    write_journal(folder, records, load_space(space).tune if space.is_file() else None)
    if tensorboard:
        from bench.tensorboard import write_tensorboard

        write_tensorboard(folder, records)
