"""The trainable that runs inside Ray workers: one trial of a sweep, from its task dict to its result part.

Kept apart from tune.py, and importing torch only when a trial starts, so that a Ray actor for it comes up in
a moment. That matters: Tune hands a finished trial's actor to the next trial and kills any actor still
starting, so an actor slower to start than a short trial never joins and the sweep runs on one slot.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from bench.search.protocol import objective, tested_epoch
from bench.status import TrialStatus

STOP_DIR = ".stop"  # under the run folder: one empty file per trial the scheduler wants stopped
UNTRACKED = ("threads", "device")  # do not change what is computed, so they are not part of a trial's identity
# Config keys added after trials were first cached, with the value that computes what configs without them did: at
# that value a trial keeps the key it had before the key existed, so caches and resumable runs stay valid.
ADDED_LATER = {"warmup_steps": 0}
TRACE_LINES = 20  # lines of a failed trial's traceback kept in its record, after its one-line summary


def error_text(summary: str, trace: str) -> str:
    """A failed trial's error as stored: the one-line summary first (what tables and the terminal show), then
    the last TRACE_LINES lines of the traceback (where it happened, which the summary alone does not say)."""
    tail = trace.rstrip().splitlines()[-TRACE_LINES:]
    return "\n".join([summary.strip(), *tail]) if tail else summary.strip()


def stop_flag(task: dict[str, Any]) -> Path:
    return Path(task["out"]) / STOP_DIR / task["trial_id"]


def sweep_trial(task: dict[str, Any]) -> dict[str, Any]:
    """One trial inside a Ray worker (or, for a task that lists several seeds under "stack", one stacked run of
    them: final_stacked). It reports the validation objective at ASHA's rung epochs, stops itself when the
    scheduler flags it, writes its part, and returns its outcome. It never raises: an exception (out-of-memory
    included) is recorded with status "error" and the sweep goes on."""
    from bench.config import TrialConfig
    from bench.train import StopTrial, run_trial

    if task.get("stack"):
        return final_stacked(task)
    if cached := cached_result(hit := cache_file(task)):
        return {**write_part(task, task["trial_id"], cached), "cached": True}
    _enter_sweep_folder(task)
    metric, mode, rows = task["metric"], task["mode"], []
    rungs = set(task["report_epochs"])

    def report(row: dict[str, Any]) -> None:
        rows.append(row)
        if row["epoch"] in rungs:
            tune.report({"epoch": row["epoch"], "objective": objective(TrialStatus.OK, [row], metric, mode)})
            if stop_flag(task).exists():  # written by the scheduler before Tune let this trial continue
                raise StopTrial

    result = _guarded(task["config"], rows, lambda: run_trial(TrialConfig.from_dict(task["config"]), report))
    outcome = write_part(task, task["trial_id"], result)
    keep(hit, task, task["trial_id"], result)
    return outcome


def keep(hit: Path | None, task: dict[str, Any], trial_id: str, result: Any) -> None:
    """Keep a trained trial's part, just written, as the cache entry `hit` of its config (None: no cache): the cache
    is a lookup of finished parts by config key, one record type on disk. An error is not kept: it may be this
    machine's (out of memory), so the trial trains again next time."""
    if hit and result.status != TrialStatus.ERROR:
        from bench.results import ResultStore, atomic_write

        atomic_write(hit, (ResultStore(task["out"]).parts / f"{trial_id}.json").read_bytes())


def config_key(cfg: dict[str, Any]) -> str:
    """A trial's identity: its config without what does not change what is computed."""
    ident = {k: v for k, v in sorted(cfg.items())
             if k not in UNTRACKED and not (k in ADDED_LATER and v == ADDED_LATER[k])}
    return hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cache_file(task: dict[str, Any]) -> Path | None:
    """Where the result of a trial of this very config is kept when its task names a cache (the FAQ's experiments
    and the studies share trials across experiments and runs: identical trials train once); None: no cache. A
    trial that ASHA may stop is never cached: its result depends on the other trials."""
    if not task.get("cache") or task.get("report_epochs"):
        return None
    return Path(task["cache"]) / f"{config_key(task['config'])}.json"


def cached_result(hit: Path | None) -> Any:
    """The result kept in cache entry `hit`; None when there is none, or when it fails a part's checks (truncated,
    edited by hand since its trial wrote it: its sha256 no longer matches), which discards it with a warning
    naming it, so that its trial trains again instead of feeding a verdict."""
    from bench.results import read_part, warn

    if hit is None or not hit.exists():
        return None
    try:
        rec = read_part(hit, named=False)
    except ValueError as e:
        warn(f"unusable cache entry {hit} ({e}); discarded, its trial trains again")
        hit.unlink(missing_ok=True)
        return None
    return result_of(vars(rec))


def result_of(fields: dict[str, Any]) -> Any:
    """A TrialResult from its stored fields (a part, or a cache entry)."""
    from bench.train import TrialResult

    return TrialResult(fields["config"], TrialStatus(fields["status"]), fields["final"], fields["epochs"],
                       fields["gradients"], fields.get("error"))


def final_stacked(task: dict[str, Any]) -> dict[str, Any]:
    """A group's final-phase seeds (task["stack"]: [{"trial_id", "seed"}, ...]) trained as one stacked model
    (bench.stacked), writing for each seed the part its own trial would write: same id, config and tags. Should
    the stacked run fail as a whole, each seed runs alone, as its own trial would. Returns every seed's outcome,
    with its trial id, under "outcomes" (in the order of the stack), and the first seed's at the top level, as
    sweep_trial returns one."""
    from bench.config import TrialConfig
    from bench.stacked import run_stacked
    from bench.train import run_trial

    _enter_sweep_folder(task)
    base = TrialConfig.from_dict(task["config"])
    configs = [base.replace(seed=entry["seed"]) for entry in task["stack"]]
    hits = [cache_file({**task, "config": cfg.to_dict()}) for cfg in configs]  # seeds trained before: not again
    results = {i: cached for i, hit in enumerate(hits) if (cached := cached_result(hit))}
    todo = [i for i in range(len(configs)) if i not in results]
    if todo:
        try:
            trained = run_stacked(base, [configs[i].seed for i in todo])
        except Exception:  # noqa: BLE001 - e.g. out of memory for all seeds at once: one seed at a time instead
            trained = [_guarded(configs[i].to_dict(), [], lambda cfg=configs[i]: run_trial(cfg)) for i in todo]
        results.update(zip(todo, trained, strict=True))
    outcomes = [{"trial_id": entry["trial_id"], **write_part(task, entry["trial_id"], results[i]),
                 **({"cached": True} if i not in todo else {})} for i, entry in enumerate(task["stack"])]
    for i in todo:
        keep(hits[i], task, task["stack"][i]["trial_id"], results[i])
    return {**outcomes[0], "outcomes": outcomes}  # a list: Tune flattens the dicts inside a result, not lists


def members(task: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(trial id, config) of every trial a task runs: its own, or each stacked seed's."""
    if not task.get("stack"):
        return [(task["trial_id"], task["config"])]
    return [(entry["trial_id"], {**task["config"], "seed": entry["seed"]}) for entry in task["stack"]]


def _enter_sweep_folder(task: dict[str, Any]) -> None:
    # Tune starts each trial in a folder of its own; relative paths in the config (data_dir) mean the folder the
    # sweep was started from, as they do for `bench run`. On another node of a cluster that folder may not exist.
    cwd = task.get("cwd")
    if cwd and Path(cwd).is_dir():
        os.chdir(cwd)


def _guarded(config: dict[str, Any], rows: list[dict[str, Any]], train: Callable[[], Any]) -> Any:
    """train()'s result, or a result with status "error" holding the exception and the epochs reported in `rows`."""
    from bench.train import TrialResult

    try:
        return train()
    except Exception as e:  # noqa: BLE001 - a failure is a result
        error = error_text(f"{type(e).__name__}: {e}", traceback.format_exc())
        return TrialResult(config, TrialStatus.ERROR, {"epochs_run": len(rows)}, rows, [], error)


def write_part(task: dict[str, Any], trial_id: str, result: Any) -> dict[str, Any]:
    """Write a finished trial's part (its record with the protocol's tags) and return its outcome for the search.
    A failed result (a dead worker's included) gets the worst objective and no score, as the search needs."""
    from bench.results import ResultStore, record

    value = objective(result.status, result.epochs, task["metric"], task["mode"], tested_epoch(result.config, result.final))
    score = float(result.final.get(task["target"], math.nan)) if result.status == TrialStatus.OK else math.nan
    ResultStore(task["out"]).add(record(trial_id, result, {**task["tags"], "objective": value, "score": score}))
    return {"final": True, "epoch": len(result.epochs), "objective": value, "status": result.status, "score": score}
