"""A sweep: a validated search space (space.py) compiled into a protocol plan (protocol.py) and run on a `RayTune`
runner (runners.py, which starts or joins Ray, as it does for the FAQ and the studies) into a run folder, resumed
exactly from the suggestions and parts a killed run left there; the tidy tables are consolidated whatever happens."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from bench.config import ConfigError
from bench.results import (
    ResultStore,
    RunClock,
    atomic_write,
    check_resume,
    ensure_writable,
    new_run_folder,
    plan_identity,
    provenance,
    read_provenance,
    run_lock,
)
from bench.search.protocol import Plan, read_suggestions
from bench.search.runners import RayTune
from bench.search.space import SweepSpace, load_space
from bench.search.trial import STOP_DIR

__all__ = ["run_sweep"]

console = Console(highlight=False, soft_wrap=True)


def _resumed_folder(space: SweepSpace, out: Path, resume: bool | str | Path, force: bool) -> tuple[Path, list[str]]:
    """The run folder to continue (resume=True: the newest run of this sweep under out), checked to hold the same
    resolved space, written by the same bench version, so that a resumed sweep is the sweep that was started; and
    the differences `force` overrides (results.check_resume)."""
    if resume is True:
        runs = sorted(p for p in out.glob(f"{space.name}-*") if (p / "space.yaml").exists())  # names sort by time
        if not runs:
            raise ConfigError(f"no earlier run of sweep {space.name!r} under {out} to resume; drop --resume")
        folder = runs[-1]
    else:
        folder = Path(resume)
    if not (folder / "space.yaml").is_file():
        raise ConfigError(f"{folder} is not a sweep run folder (no space.yaml); pass the folder printed by `bench sweep`")
    before = load_space(folder / "space.yaml").to_dict()
    return folder, check_resume(folder, plan_identity("sweep", space.to_dict()), force, recorded_plan=before)


def run_sweep(space: SweepSpace | str | Path | dict, out: Path, *, quick: bool = False, address: str | None = None,
              cpus_per_trial: float | None = None, gpus_per_trial: float | str = "auto", resume: bool | str | Path = False,
              dashboard: bool = False, progress: bool = True, reuse_actors: bool = True,
              stack_seeds: bool | None = None, tensorboard: bool = True, retry_failed: bool = False,
              force: bool = False) -> Path:
    """Run (or resume) a sweep on a RayTune runner and return its run folder with trials/epochs/gradients tables,
    run.json and space.yaml. An interrupted sweep (Ctrl-C) keeps every finished trial; run.json says complete:
    false. Every check that can fail runs before a new run folder is made. `stack_seeds`: train each group's final
    seeds as one stacked model where the config allows (bench.stacked); None: when the trials get a GPU.
    `tensorboard`: also write RUN/tensorboard/ (the Optuna journal RUN/optuna.log is always written: journal.py).
    A resume runs again the trials lost to their worker or storage, and with `retry_failed` every errored trial; it
    is refused when the space or the bench version differ from the run's, unless `force` (recorded in run.json)."""
    space = space if isinstance(space, SweepSpace) else load_space(space)
    space = space.quick_version() if quick else space
    out = Path(out).resolve()  # Tune runs each trial in a folder of its own: a relative path would land there
    log = console.print if progress else None
    runner = RayTune(address, 1.0 if cpus_per_trial is None else cpus_per_trial, gpus_per_trial,
                     space.base_config(space.levels[0], space.workloads[0]), log or (lambda line: None), stack_seeds,
                     dashboard, reuse_actors, tensorboard)
    with ExitStack() as held:
        folder, forced = (None, []) if resume is False else _resumed_folder(space, Path(out), resume, force)
        if folder:
            held.enter_context(run_lock(folder))  # before reading its parts: two resumes never run the same trials
        plan = Plan(space, ResultStore(folder).finished() if folder else [], read_suggestions(folder),
                    retry_failed=retry_failed)
        info = {**plan_identity("sweep", space.to_dict()), "sweep": space.name, "quick": quick,
                "space": space.to_dict(), "resumed_with": plan.finished_count(), **({"forced": forced} if forced else {})}
        if folder and (folder / "run.json").exists():  # keep the history of an interrupted run
            info["previous"] = read_provenance(folder)
        if not plan.finished():
            load_datasets(space)
            if folder is None:
                ensure_writable(out)
            held.enter_context(runner)
        if folder is None:
            folder = new_run_folder(Path(out), space.name)
            held.enter_context(run_lock(folder))
        _run(plan, folder, {**info, **runner.describe()}, runner, log)
    return folder


def load_datasets(space: SweepSpace) -> None:
    """Load every dataset the sweep's trials will use, once, in the driver and before Ray starts: missing data
    stop the sweep here with one line (no run folder, no trial that fails for it), and a download happens once
    instead of in every trial. The bundles are dropped again; trials load their own from the files."""
    from bench.workloads import get_workload

    seen = set()
    for level in space.levels:
        for workload in space.workloads:
            cfg = space.base_config(level, workload)
            if (key := (cfg.workload, cfg.seq_len, cfg.data_dir)) not in seen:
                seen.add(key)
                get_workload(cfg.workload).load(cfg)


def _run(plan: Plan, folder: Path, info: dict[str, Any], runner: RayTune, log: Callable[[str], None] | None) -> None:
    """Run what is missing; whatever happens (Ctrl-C included), consolidate the finished trials' tables."""
    store = ResultStore(folder)
    atomic_write(folder / "space.yaml", yaml.safe_dump(plan.space.to_dict(), sort_keys=False).encode())
    clock = RunClock(info.get("previous"))  # a resumed sweep's time adds up over its sessions
    store.write_provenance(provenance({**info, "complete": False, **clock.carried()}))
    try:
        if not plan.finished():
            runner.run(plan, folder, log)
    finally:
        store.consolidate()
        shutil.rmtree(folder / STOP_DIR, ignore_errors=True)
        final = Plan(plan.space, store.finished())
        store.write_provenance(provenance({**info, "complete": final.finished(), "finished_trials": final.finished_count(),
                                           "total_trials": final.total(), **clock.fields()}))
