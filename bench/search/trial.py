"""The trainable that runs inside Ray workers: one trial of a sweep, from its task dict to its result part.

Kept apart from tune.py, and importing torch only when a trial starts, so that a Ray actor for it comes up in
a moment. That matters: Tune hands a finished trial's actor to the next trial and kills any actor still
starting, so an actor slower to start than a short trial never joins and the sweep runs on one slot.
"""
from __future__ import annotations

import math
import os
import traceback
from pathlib import Path
from typing import Any

from ray import tune

from bench.search.protocol import objective
from bench.status import TrialStatus

STOP_DIR = ".stop"  # under the run folder: one empty file per trial the scheduler wants stopped
TRACE_LINES = 20  # lines of a failed trial's traceback kept in its record, after its one-line summary


def error_text(summary: str, trace: str) -> str:
    """A failed trial's error as stored: the one-line summary first (what tables and the terminal show), then
    the last TRACE_LINES lines of the traceback (where it happened, which the summary alone does not say)."""
    tail = trace.rstrip().splitlines()[-TRACE_LINES:]
    return "\n".join([summary.strip(), *tail]) if tail else summary.strip()


def stop_flag(task: dict[str, Any]) -> Path:
    return Path(task["out"]) / STOP_DIR / task["trial_id"]


def sweep_trial(task: dict[str, Any]) -> dict[str, Any]:
    """One trial inside a Ray worker. It reports the validation objective at ASHA's rung epochs, stops itself
    when the scheduler flags it, writes its part, and returns its outcome. It never raises: an exception
    (out-of-memory included) is recorded with status "error" and the sweep goes on."""
    from bench.config import TrialConfig
    from bench.results import ResultStore, record
    from bench.train import StopTrial, TrialResult, run_trial

    # Tune starts each trial in a folder of its own; relative paths in the config (data_dir) mean the folder the
    # sweep was started from, as they do for `bench run`. On another node of a cluster that folder may not exist.
    cwd = task.get("cwd")
    if cwd and Path(cwd).is_dir():
        os.chdir(cwd)

    metric, mode, rows = task["metric"], task["mode"], []
    rungs = set(task["report_epochs"])

    def report(row: dict[str, Any]) -> None:
        rows.append(row)
        if row["epoch"] in rungs:
            tune.report({"epoch": row["epoch"], "objective": objective(TrialStatus.OK, [row], metric, mode)})
            if stop_flag(task).exists():  # written by the scheduler before Tune let this trial continue
                raise StopTrial

    try:
        result = run_trial(TrialConfig.from_dict(task["config"]), report)
    except Exception as e:  # noqa: BLE001 - a failure is a result
        error = error_text(f"{type(e).__name__}: {e}", traceback.format_exc())
        result = TrialResult(task["config"], TrialStatus.ERROR, {"epochs_run": len(rows)}, rows, [], error)
    value = objective(result.status, result.epochs, metric, mode)
    score = float(result.final.get(task["target"], math.nan)) if result.status == TrialStatus.OK else math.nan
    ResultStore(task["out"]).add(record(task["trial_id"], result, {**task["tags"], "objective": value, "score": score}))
    return {"final": True, "epoch": len(result.epochs), "objective": value, "status": result.status, "score": score}
