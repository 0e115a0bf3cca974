"""Where a plan's trials run: as Ray Tune trials on a private local Ray or a cluster, or in this process.

A runner is a context manager (entering it starts or joins Ray) with one method, `run(plan, folder, log, cache)`:
it runs every trial of a protocol plan (bench/search/protocol.py) still to run, as `ProtocolSearcher` hands
them out, each writing its part into `folder` through `sweep_trial`. The FAQ's experiments and the gradient
studies run on one, and so does a sweep (`sweep.run_sweep`). However a run ends (Ctrl-C included), the folder's
Optuna journal and TensorBoard files then gain its finished trials (journal.export_run).

`RayTune` joins `--address` or starts the local Ray that `bench sweep` starts, with `--cpus-per-trial` and
`--gpus-per-trial` (`auto` packs trials onto each GPU, see resources.py); Tune reuses its actors between trials,
so torch is imported once per slot. `InProcess` runs the trials one after another here, for tests.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

from bench.config import TrialConfig
from bench.errors import forget_interrupts, interrupts_deferred, raise_if_interrupted
from bench.search.journal import export_run
from bench.search.progress import Progress, live
from bench.search.protocol import Plan

Log = Callable[[str], None]


class Runner(Protocol):
    def run(self, plan: Plan, folder: Path, log: Log | None, cache: Path | None = None) -> None: ...

    def describe(self) -> dict[str, Any]:
        """Where the trials ran, for run.json."""

    def __enter__(self) -> Runner: ...

    def __exit__(self, *exc: Any) -> bool | None: ...


class InProcess:
    """The trials one after another in this process; torch's thread count is restored afterwards. No trial is
    stopped early (ASHA needs Tune). `stack_seeds`: as RayTune's."""

    def __init__(self, stack_seeds: bool = False, tensorboard: bool = True):
        self.stack_seeds, self.tensorboard = stack_seeds, tensorboard

    def run(self, plan: Plan, folder: Path, log: Log | None, cache: Path | None = None) -> None:
        import torch

        from bench.search.trial import sweep_trial
        from bench.search.tune import ProtocolSearcher, trial_line

        searcher = ProtocolSearcher(plan, Path(folder), 1, self.stack_seeds, cache=cache, asha=False)
        threads, t0, progress = torch.get_num_threads(), time.perf_counter(), Progress(plan)
        forget_interrupts()
        try:
            k = 0
            with live(progress, log):
                while isinstance(task := searcher.suggest(f"t{k}"), dict):
                    raise_if_interrupted()  # as in Tune's loop (TrialLog): one swallowed by a library still stops
                    progress.started(task)
                    result = sweep_trial(task)
                    searcher.on_trial_complete(f"t{k}", result)
                    progress.finished(task, result)
                    if log:
                        log(trial_line(plan, task, result, 0, time.perf_counter() - t0, progress.eta()))
                    k += 1
        finally:
            torch.set_num_threads(threads)  # trials set their own thread count; leave this process as it was
            with interrupts_deferred():  # a Ctrl-C inside Optuna's journal lock would leave it broken
                export_run(folder, self.tensorboard)
        plan.check_finished(folder)

    def describe(self) -> dict[str, Any]:
        return {"runner": "in-process"}

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class RayTune:
    """Each trial a Ray Tune trial holding `cpus` CPUs and a `gpus` share of a GPU, on a local Ray or a cluster.
    The values are checked (and --address reached) when it is made, before Ray starts or anything is written.
    `stack_seeds`: train a group's final seeds as one stacked model where the config allows (trial.final_stacked);
    None: when the trials get a GPU. The FAQ and the studies keep it off, since stacked seeds record no per-layer
    gradient probes, which the studies' claims read. `example`: the config a GPU share is measured on (`auto`).
    `tensorboard`: write RUN/tensorboard/ after the trials (--no-tensorboard: off)."""

    def __init__(self, address: str | None = None, cpus: float = 1.0, gpus: float | str = "auto",
                 example: TrialConfig | None = None, log: Log = print, stack_seeds: bool | None = False,
                 dashboard: bool = False, reuse_actors: bool = True, tensorboard: bool = True):
        from bench.config import ConfigError
        from bench.search.resources import parse_gpus_per_trial
        from bench.search.tune import _check_reachable

        if not 0 < cpus <= 4096:  # also refuses nan, which every comparison fails
            raise ConfigError(f"--cpus-per-trial must be a number of CPUs > 0 (e.g. 1 or 0.5), got {cpus}")
        self.address, self.cpus, self.gpus, self.log = address, float(cpus), parse_gpus_per_trial(gpus), log
        if address:
            _check_reachable(address)
        self.example, self.stack_seeds = example or TrialConfig(), stack_seeds
        self.dashboard, self.reuse_actors, self.tensorboard = dashboard, reuse_actors, tensorboard
        self.stack = ExitStack()
        self.info: dict[str, Any] = {}

    def __enter__(self) -> RayTune:
        import ray

        from bench.search.tune import ray_session, trial_resources

        self.log("starting Ray (a few seconds)..." if not self.address else f"joining the Ray cluster at {self.address}...")
        self.stack.enter_context(ray_session(self.address, self.dashboard))
        try:
            self.gpus, chosen_by, self.slots = trial_resources(self.gpus, self.example, self.cpus, self.log)
            self.stack_seeds = self.gpus > 0 if self.stack_seeds is None else self.stack_seeds
            self.info = {"gpus": chosen_by, "slots": self.slots, "stack_seeds": self.stack_seeds,
                         "ray": {"version": ray.__version__, "resources": ray.cluster_resources()}}
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self.stack.__exit__(*exc)

    def describe(self) -> dict[str, Any]:
        return {"runner": "ray tune", "address": self.address or "local", "cpus_per_trial": self.cpus,
                "gpus_per_trial": self.gpus, "reuse_actors": self.reuse_actors, **self.info}

    def run(self, plan: Plan, folder: Path, log: Log | None, cache: Path | None = None) -> None:
        from bench.search.tune import fit

        try:
            fit(plan, Path(folder).resolve(), self.cpus, self.gpus, self.slots, log, reuse_actors=self.reuse_actors,
                stack_seeds=self.stack_seeds, cache=cache and Path(cache).resolve())
        finally:
            with interrupts_deferred():  # a Ctrl-C inside Optuna's journal lock would leave it broken
                export_run(folder, self.tensorboard)
