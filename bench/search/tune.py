"""The Ray Tune driver of a sweep: the protocol's trials run as Tune trials on a local or remote Ray.

- `ProtocolSearcher` hands Tune (or experiment.py's driver) the next trial: each (level, workload) group's
  tuning trials come from its proposer -- its own seeded Optuna TPE search (`GroupSearch`, Optuna's
  ask-and-tell) or an LR grid with optional refinement (`GridSearch`, the FAQ's) -- the confirm re-runs of its top configs
  on a second seed as soon as its tuning is done, final-phase seed re-runs once the confirmed choice is made.
  Every trial is written down before it starts; a resumed sweep re-runs an interrupted trial with the
  parameters and seed it was given. One Tune run holds every group, so every slot stays busy and actors are
  reused across groups.
- `ProtocolScheduler` runs one ASHA per group in the tuning phase, so a trial only competes with trials of
  its own level, and never stops a final-phase trial. A trial that ASHA stops is told so through a flag
  file and ends itself, which keeps its record complete and its actor reusable.
- `sweep_trial` (trial.py) runs inside a Ray worker: it trains with `run_trial`, writes the trial's part
  atomically to the run folder (the results and what --resume reads), and returns the outcome. With stacked
  seeds (on a GPU by default), a group's final seeds run as one task that trains them as one stacked model
  (`final_stacked`) and writes each seed's part under its own trial id.
- `fit` runs all of it as one Tune run on the open Ray session; a runner (runners.py) calls it, for a sweep
  (sweep.py), the FAQ and the studies alike.
"""
from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune import Callback
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from bench.config import ConfigError, TrialConfig
from bench.errors import forget_interrupts, raise_if_interrupted
from bench.results import (
    ResultStore,
    atomic_write,
)
from bench.search.progress import Progress, live
from bench.search.protocol import (
    CONFIRM,
    FINAL,
    TUNE,
    Group,
    Plan,
    TrialSummary,
    rank,
    worst,
    write_suggestion,
)
from bench.search.resources import measure_on_cluster, resolve_gpus_per_trial
from bench.search.space import SweepSpace, latin_hypercube
from bench.search.trial import error_text, members, stop_flag, sweep_trial, write_part
from bench.search.watchdog import start_watchdog
from bench.stacked import why_not_stacked
from bench.status import INFRA_RETRIES, INFRASTRUCTURE, TrialStatus
from bench.train import TrialResult


def asha_rungs(epochs: int, grace: int, reduction_factor: int) -> list[int]:
    """Epochs before the last at which ASHA compares trials: grace * reduction_factor**k."""
    rungs, t = [], grace
    while t < epochs:
        rungs.append(t)
        t *= reduction_factor
    return rungs


class GroupSearch:
    """One group's TPE search through Optuna's ask-and-tell interface. The space's distributions describe what is
    sampled (e.g. 1 - beta2 on a log scale); the space decodes a suggestion into config values."""

    def __init__(self, space: SweepSpace, g: Group):
        import optuna

        self.space, self.dists = space, space.distributions(g.level)
        sampler = optuna.samplers.TPESampler(seed=g.sampler_seed, n_startup_trials=space.budget.startup,
                                             constant_liar=True)
        self.study = optuna.create_study(direction="maximize" if g.mode == "max" else "minimize", sampler=sampler)
        self.asked: dict[str, Any] = {}  # trial id -> Optuna trial, while it runs
        # The start-up trials (before TPE models the space) are a Latin hypercube, not random draws.
        self.design = latin_hypercube(self.dists, space.budget.startup, g.sampler_seed)
        self.order = {tid: k for k, tid in enumerate(g.tuning_ids())}
        for tid in g.tuning_ids():  # a resumed sweep: the search learns from the trials already finished
            if tid in g.done:
                self.study.add_trial(optuna.trial.create_trial(
                    params=space.encode(g.done[tid].params), distributions=self.dists, value=g.done[tid].objective))

    def ask(self, tune_id: str, trial_id: str, given: dict[str, Any] | None) -> dict[str, Any]:
        """The config values of tuning trial `trial_id`: a start-up trial's point of the design, else TPE's
        suggestion; `given`: an interrupted trial's own values, which it keeps."""
        k = self.order[trial_id]
        if given is not None or k < len(self.design):
            self.study.enqueue_trial(self.space.encode(given) if given is not None else self.design[k],
                                     skip_if_exists=False)
        self.asked[tune_id] = self.study.ask(self.dists)
        return dict(given) if given is not None else self.space.decode(self.asked[tune_id].params)

    def tell(self, tune_id: str, value: float | None) -> None:
        """A finished trial's objective; None: it was cancelled and will run again on resume."""
        from optuna.trial import TrialState

        trial = self.asked.pop(tune_id)
        if value is None:
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, value)


    def ready(self, g: Group) -> bool:
        """A start-up trial may always start; a TPE trial only once every start-up trial has finished, so that
        TPE models the space however many slots are free (before that, Optuna's TPE samples at random)."""
        startup = self.space.budget.startup
        index = self.order[g.next_tuning_id()]
        return index < startup or g.next_tuning_id() in g.suggested or sum(
            t in g.done for t in g.tuning_ids()[:startup]) == min(startup, g.trials)


class GridSearch:
    """The other proposer: every tuned level trains at the same grid of LRs (g.grid, on the tuning seed), then,
    where g.trials leaves room for two more, at the two half-way points (geometric) around its best grid LR
    (ties: the smaller LR). The same interface as GroupSearch."""

    def __init__(self, g: Group):
        self.g = g

    def ready(self, g: Group) -> bool:
        """A grid point may always start; a refinement point once the whole grid has finished."""
        tid = g.next_tuning_id()
        return g.tuning_index(tid) < len(g.grid) or tid in g.suggested or all(
            t in g.done for t in g.tuning_ids()[:len(g.grid)])

    def ask(self, tune_id: str, trial_id: str, given: dict[str, Any] | None) -> dict[str, Any] | None:
        """The lr of `trial_id` (`given`: an interrupted trial's own); None: nothing to refine around (no grid
        trial trained to the end)."""
        g, k = self.g, self.g.tuning_index(trial_id)
        if given is not None or k < len(g.grid):
            return dict(given) if given is not None else {"lr": g.grid[k]}
        ranked = rank([g.done[t] for t in g.tuning_ids()[:len(g.grid)] if t in g.done], g.mode)
        if not ranked:
            return None
        half = math.log10(g.grid[1] / g.grid[0]) / 2 * (1 if k > len(g.grid) else -1)
        return {"lr": float(f"{ranked[0].params['lr'] * 10 ** half:.3g}")}

    def tell(self, tune_id: str, value: float | None) -> None:
        """A grid learns nothing from a finished trial but the ranking the group keeps."""


class ProtocolSearcher(Searcher):
    """Suggests the protocol's trials to Tune: final-phase re-runs first, then confirm re-runs (their configs are
    known), then the tuning trial of the group with the fewest running trials, from that group's own TPE search; an interrupted
    trial of a resumed sweep before any new one."""

    def __init__(self, plan: Plan, out: Path, threads: int, stack_seeds: bool = False, cache: Path | None = None,
                 asha: bool = True):
        super().__init__(metric="objective")  # the mode is per group (a workload's target)
        self.plan, self.out, self.threads, self.stack_seeds, self.cache = plan, out, threads, stack_seeds, cache
        budget = plan.space.budget if plan.space else None
        asha = asha and budget is not None and budget.asha
        self.rungs = {g.index: asha_rungs(budget.epochs_for(g.workload), budget.grace_for(g.workload),
                                          budget.reduction_factor) if asha and not g.grid else []
                      for g in plan.groups}  # a grid point is judged at its end, as every other level's
        self.searches = {g.index: GridSearch(g) if g.grid else GroupSearch(plan.space, g) for g in plan.groups if g.tuned}
        self.concurrency = budget.concurrency if budget else math.inf
        self.live: dict[str, tuple[Group, list[str], str, dict[str, Any]]] = {}  # Tune id -> group, trial ids, phase, params

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # every group carries its own metric and mode

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        for g in self.plan.groups:
            if finals := g.open_finals():
                best = g.best()
                given = g.suggested.get(finals[0][0], {}).get("params")
                params = given or (best.params if best else {})
                if self.stack_seeds and len(finals) > 1 and why_not_stacked(g.config(params, 0, 1)) is None:
                    return self._start_stack(trial_id, g, finals, params)
                return self._start(trial_id, g, FINAL, finals[0][0], params, finals[0][1])
        for g in self.plan.groups:  # the top configs of a finished search, on the confirm seed
            if nxt := g.next_confirm():
                given = g.suggested.get(nxt[0])
                return self._start(trial_id, g, CONFIRM, nxt[0], given["params"] if given else nxt[1],
                                   given["seed"] if given else g.confirm_seed)
        # TPE learns from finished trials: not all of a group at once (a grid knows its points in advance)
        open_groups = (g for g in self.plan.groups if g.next_tuning_id() and (g.grid or len(g.running) < self.concurrency)
                       and self.searches[g.index].ready(g))
        for g in sorted(open_groups, key=lambda g: (len(g.running), g.index)):
            tid = g.next_tuning_id()
            given = g.suggested.get(tid)
            params = self.searches[g.index].ask(trial_id, tid, given["params"] if given else None)
            if params is None:  # nothing left to propose: the slot counts as a failed trial, never run
                g.record(TrialSummary(tid, {}, TrialStatus.ERROR, worst(g.mode)))
                return self.suggest(trial_id)
            return self._start(trial_id, g, TUNE, tid, params, given["seed"] if given else g.base.seed)
        return Searcher.FINISHED if self.plan.finished() else None

    def _start(self, tune_id: str, g: Group, phase: str, trial_id: str, params: dict[str, Any], seed: int) -> dict:
        self._write_down(g, trial_id, params, seed)
        self.live[tune_id] = (g, [trial_id], phase, params)
        return {"trial_id": trial_id, "phase": phase, "group": g.index, "out": str(self.out), "cwd": os.getcwd(),
                "config": g.config(params, seed, self.threads).to_dict(), "tags": g.tags(self.plan.space, phase),
                "metric": g.metric, "mode": g.mode, "target": g.target,
                "report_epochs": self.rungs[g.index] if phase == TUNE else [],
                **({"cache": str(self.cache)} if self.cache else {})}

    def _start_stack(self, tune_id: str, g: Group, finals: list[tuple[str, int]], params: dict[str, Any]) -> dict:
        """One task for the group's open final seeds, trained as one stacked model (trial.final_stacked); each seed
        is written down, and recorded, under its own trial id, as if it ran alone."""
        task = self._start(tune_id, g, FINAL, finals[0][0], params, finals[0][1])
        for tid, seed in finals[1:]:
            self._write_down(g, tid, params, seed)
        self.live[tune_id] = (g, [tid for tid, _ in finals], FINAL, params)
        return {**task, "stack": [{"trial_id": tid, "seed": seed} for tid, seed in finals]}

    def _write_down(self, g: Group, trial_id: str, params: dict[str, Any], seed: int) -> None:
        write_suggestion(self.out, trial_id, params, seed)  # before it starts: what --resume re-runs
        g.start({"trial_id": trial_id, "params": params, "seed": seed})

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        g, tids, phase, params = self.live.pop(trial_id)
        results = {r["trial_id"]: r for r in (result or {}).get("outcomes", [])} or {tids[0]: result or {}}
        for tid in tids:  # one, or the seeds of a stacked task
            outcome = None  # cancelled before it finished (Ctrl-C): it runs again on resume
            if error:  # the worker died (e.g. killed for memory): the sweep records it and goes on
                outcome = TrialSummary(tid, params, TrialStatus.ERROR, worst(g.mode))
            elif results.get(tid, {}).get("final"):
                outcome = TrialSummary(tid, params, results[tid]["status"], results[tid]["objective"])
            g.stop(tid, outcome)
        if phase == TUNE:
            self.searches[g.index].tell(trial_id, outcome.objective if outcome else None)

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        """Nothing to save: --resume rebuilds the searches from the result parts, not from Tune's state."""


class ProtocolScheduler(FIFOScheduler):
    """One ASHA per group in the tuning phase; confirm and final-phase trials always run to the end. ASHA's stop
    decisions are passed to the trial through a flag file, so the trial ends itself cleanly."""

    def __init__(self, plan: Plan):
        super().__init__()
        b = plan.space.budget if plan.space else None  # a plan without a space (FAQ, studies) stops no trial early
        self.ashas = {g.index: ASHAScheduler(time_attr="epoch", metric="objective", mode=g.mode,
                                             max_t=b.epochs_for(g.workload), grace_period=b.grace_for(g.workload),
                                             reduction_factor=b.reduction_factor,
                                             stop_last_trials=False)
                      for g in plan.groups if b and g.tuned and b.asha}

    def _asha(self, trial) -> ASHAScheduler | None:
        return self.ashas.get(trial.config["group"]) if trial.config["phase"] == TUNE else None

    def on_trial_add(self, tune_controller, trial) -> None:
        if asha := self._asha(trial):
            asha.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        asha = self._asha(trial)
        if asha and not result.get("final") and asha.on_trial_result(tune_controller, trial, result) == self.STOP:
            atomic_write(stop_flag(trial.config), b"")
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        if asha := self._asha(trial):
            asha.on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial) -> None:
        if asha := self._asha(trial):
            asha.on_trial_remove(tune_controller, trial)


class TrialLog(Callback):
    """One line per finished trial with the counts, the best so far and the ETA (`progress`, which it keeps up to
    date); records dead workers as errors."""

    def __init__(self, plan: Plan, out: Path, log: Callable[[str], None] | None, progress: Progress | None = None):
        self.plan, self.store, self.log = plan, ResultStore(out), log
        self.progress = progress or Progress(plan)
        self.t0 = time.perf_counter()

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the run's state; a log bound to a terminal (locks) is not state
        return {**self.__dict__, "log": None}

    def on_step_begin(self, iteration: int, trials: list, **info) -> None:
        raise_if_interrupted()  # a Ctrl-C whose exception a library swallowed still ends the run, at Tune's next step

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        self.progress.started(trial.config)

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self._line(trials, trial, trial.last_result)

    def on_trial_recover(self, iteration: int, trials: list, trial, **info) -> None:
        """Tune runs a trial again whose worker or storage failed (FailureConfig): say so, since it costs time."""
        if self.log:
            cause = str(trial.get_error() or "its worker died").strip().splitlines()[-1][:160]
            self.log(f"        {trial.config['trial_id']}: {INFRASTRUCTURE} ({cause}); running it again with its "
                     f"config and seed (at most {INFRA_RETRIES} times)")

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        task = trial.config
        trace = str(trial.get_error() or "the trial's worker died").strip()
        for tid, config in members(task):  # one, or each seed of a stacked task
            if not (self.store.parts / f"{tid}.json").exists():
                # the trainable records its own exceptions: an error reaching Tune is its worker's or storage's
                error = error_text(f"{INFRASTRUCTURE} on {1 + INFRA_RETRIES} tries: {trace.splitlines()[-1]}", trace)
                write_part(task, tid, TrialResult(config, TrialStatus.ERROR, {}, [], [], error))
        self._line(trials, trial, {"status": TrialStatus.ERROR})

    def _line(self, trials: list, trial, result: dict) -> None:
        self.progress.finished(trial.config, result)
        if self.log and "status" in result:
            running = sum(t.status == "RUNNING" for t in trials)
            self.log(trial_line(self.plan, trial.config, result, running, time.perf_counter() - self.t0,
                                self.progress.eta()))


def trial_line(plan: Plan, task: dict[str, Any], result: dict[str, Any], running: int, seconds: float,
               eta: str = "") -> str:
    """What the terminal says of a finished trial: its place in the plan, its config, its value, the counts, and
    the estimated time left (progress.py)."""
    g = plan.groups[task["group"]]
    done = plan.finished_count()
    failed = {phase: sum(grp.failures[phase == FINAL] for grp in plan.groups) for phase in (TUNE, FINAL)}
    params = " ".join(f"{k}={task['config'][k]:.4g}" for k in dict.fromkeys(("lr", *g.tuned)))
    if task["phase"] != FINAL:  # tune and confirm trials: judged on the validation objective
        best = g.search_best()
        value = f"{g.metric} {result.get('objective', math.nan):.4f}"
        value += f"  best {best.objective:.4f}" if best and math.isfinite(best.objective) else ""
        if task["phase"] == CONFIRM and (chosen := g.best()) and math.isfinite(chosen.objective):
            value += f"  chosen {chosen.objective:.4f} (mean of 2 seeds)"
    else:
        seeds = result.get("outcomes") or [{**result, "trial_id": task["trial_id"]}]
        scores = ", ".join(f"{r.get('score', math.nan):.4f}" for r in seeds)
        value = f"{g.target} {scores}  seed {','.join(str(c['seed']) for _, c in members(task))}"
        value += "  (stacked)" if task.get("stack") else ""
    where = f"{g.experiment} {g.group}" if g.experiment not in ("", g.group) else g.group
    return (f"[{done:>4}/{plan.total()}] {task['phase']:<7} {where} {g.level}  {params}  {value}  {result['status']}"
            f"{'  (cached)' if result.get('cached') else ''}  | running {running}, failed {failed[TUNE]} tuning "
            f"{failed[FINAL]} final, {seconds:.0f}s{', ' + eta if eta else ''}")


def _check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's minute of retries (or a hang), when nothing listens at host:port or what
    listens there is not a Ray head."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address!r} must be HOST:PORT of a Ray head (e.g. 127.0.0.1:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            tls = os.environ.get("RAY_USE_TLS", "0") not in ("0", "")  # a TLS head cannot be probed in plain text
            grpc = None if tls else _answers_http2(conn)
    except OSError as e:
        raise ConfigError(f"no Ray head reachable at {address} ({e.strerror or e}); start one with "
                          "`ray start --head` or drop --address to use a local Ray") from None
    if grpc is False:
        raise ConfigError(f"{address} answers, but not as a Ray head (no gRPC handshake); pass the address "
                          "`ray start --head` printed, or drop --address to use a local Ray")


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # + an empty SETTINGS frame


def _answers_http2(conn: socket.socket, timeout: float = 5.0) -> bool:
    """Whether the server answers an HTTP/2 preface with a SETTINGS frame, as a Ray head's gRPC server (GCS or Ray
    Client) does at once; an HTTP/1 server, a database or a silent port does not."""
    conn.settimeout(timeout)
    conn.sendall(HTTP2_PREFACE)
    head = b""
    try:
        while len(head) < 9 and (chunk := conn.recv(9 - len(head))):
            head += chunk
    except (TimeoutError, ConnectionError):
        return False
    return len(head) == 9 and head[3] == 4  # frame header: 3 bytes length, 1 byte type (4 = SETTINGS)


# Ray reads these when a cluster starts or a Tune run begins. They hold while a sweep's Ray session is open and
# are removed after it; a user's own setting wins.
RAY_DEFAULTS = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keep an embedded Ray on this host
    "RAY_USAGE_STATS_ENABLED": "0",  # offline by default: no usage reports
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # no CSV/JSON/TensorBoard files per trial
    "RAY_AIR_NEW_OUTPUT": "0",  # with verbose=0 Tune stays silent; the sweep prints its own lines
    # Tune catches Ctrl-C and returns from fit as if the run had ended: a FAQ or study would then judge a partial
    # plan. Without its handler Ctrl-C raises KeyboardInterrupt here, as SIGTERM does (bench.errors).
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
    # A trial whose worker or storage failed is retried, announced and recorded by the driver (on_trial_recover,
    # on_trial_error); Ray's own multi-line traceback of the same error, printed when Tune drops its result, is
    # noise in the terminal's one line per event; so is Tune's log of each failed try (the error part keeps it).
    "RAY_IGNORE_UNHANDLED_ERRORS": "1",
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
}


@contextmanager
def ray_defaults() -> Iterator[None]:
    added = {k: v for k, v in RAY_DEFAULTS.items() if k not in os.environ}
    os.environ.update(added)
    # Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, when it is imported (this module imports it first): with
    # that constant left on, ray.init swaps _node_ip_address 127.0.0.1 for the host's network address and the
    # local Ray listens on every interface. The constant follows the variable for the session.
    constants = ray._private.ray_constants
    cluster = constants.ENABLE_RAY_CLUSTER
    if "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" in added:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = cluster
        for key in added:
            os.environ.pop(key, None)


@contextmanager
def ray_session(address: str | None, dashboard: bool) -> Iterator[None]:
    """Connect to a Ray cluster (--address) or start a private local one bound to 127.0.0.1 with this
    machine's CPUs and GPUs, shut down at the end. A session the caller already opened is used as is."""
    with ray_defaults(), _ray_session(address, dashboard):
        yield


@contextmanager
def _ray_session(address: str | None, dashboard: bool) -> Iterator[None]:
    if ray.is_initialized():
        yield
        return
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    if address:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError) as e:
            raise ConfigError(f"cannot join the Ray cluster at {address}: {str(e).splitlines()[0]} (a head started "
                              "with token auth also needs RAY_AUTH_MODE=token here)") from None
    else:
        import torch

        # A new local cluster gets token auth by default; Ray warns about that on every start. Keep it, quietly.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        ray.init(address="local", num_cpus=os.cpu_count(), num_gpus=torch.cuda.device_count(),
                 include_dashboard=dashboard, _node_ip_address="127.0.0.1", **quiet)
        start_watchdog(ray._private.worker._global_node.get_session_dir_path())  # a killed driver takes its Ray along
    for sig, handler in handlers.items():  # ray.init installs its own SIGTERM handler; keep the caller's (the CLI's)
        if callable(handler):
            signal.signal(sig, handler)
    try:
        yield
    finally:
        ray.shutdown()


def _slots(cpus_per_trial: float, gpus_per_trial: float) -> int:
    have = ray.cluster_resources()
    cpus, gpus = have.get("CPU", 0.0), have.get("GPU", 0.0)
    if cpus_per_trial > cpus:
        raise ConfigError(f"--cpus-per-trial {cpus_per_trial} exceeds the {cpus:g} CPUs of the Ray cluster")
    if gpus_per_trial > gpus:
        raise ConfigError(f"--gpus-per-trial {gpus_per_trial} but the Ray cluster has {gpus:g} GPUs; "
                          "drop --gpus-per-trial to train on CPUs")
    # 1e-9: a share of 1/k in floating point may put k * share a hair above 1 GPU
    return int(min(cpus // cpus_per_trial, math.floor(gpus / gpus_per_trial + 1e-9) if gpus_per_trial else math.inf))


def trial_resources(request: float | str, example: TrialConfig, cpus: float,
                    log: Callable[[str], None]) -> tuple[float, dict[str, Any], int]:
    """On the open Ray session: each trial's GPU share (`auto` resolved from one measured trial of `example`),
    what that choice was based on, and how many trials run at once."""
    gpus, info = resolve_gpus_per_trial(request, ray.cluster_resources(), example, cpus, measure_on_cluster, log)
    return gpus, info, _slots(cpus, gpus)


def _tune_name(trial) -> str:
    return trial.trial_id  # Tune's default spells the whole config into every trial's folder name


def quiet_tune_logs() -> None:
    """Tune's result grid looks for per-trial CSV/JSON logs, which are off, and on Ctrl-C Tune advises
    Tuner.restore on its own state, which is not kept: the results and --resume live in the run folder."""
    for name in ("ray.tune.analysis.experiment_analysis", "ray.tune.tune"):
        logging.getLogger(name).setLevel(logging.ERROR)


def tune_storage() -> str:
    """A new temporary folder for Tune's bookkeeping, named after this process; fit removes it on every exit
    that runs code. Folders of sweeps that were killed (SIGKILL runs no code) are removed here, by the next one."""
    for old in Path(tempfile.gettempdir()).glob("bench-tune-*-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"bench-tune-{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def fit(plan: Plan, folder: Path, cpus: float, gpus: float, slots: int, log: Callable[[str], None] | None, *,
        reuse_actors: bool = True, stack_seeds: bool = False, cache: Path | None = None) -> None:
    """Run every trial of `plan` still to run as one Tune run on the open Ray session, each trial's part written
    into `folder` (cache: where identical trials are looked up and kept, see trial.cache_file)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial comes from TrialLog instead
    quiet_tune_logs()
    storage = tune_storage()  # Tune's own bookkeeping; the results live in the run folder
    # With a custom searcher Tune keeps one trial pending, so actors start one after another, each taking
    # seconds; let every slot's first trial be pending at once (a user's own setting wins).
    own_pending = "TUNE_MAX_PENDING_TRIALS_PG" not in os.environ
    progress = Progress(plan, slots)
    if own_pending:
        os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(max(1, slots))
    forget_interrupts()
    try:
        tuner = tune.Tuner(
            tune.with_resources(sweep_trial, {"cpu": cpus, "gpu": gpus}),
            tune_config=tune.TuneConfig(search_alg=ProtocolSearcher(plan, folder, max(1, int(cpus)), stack_seeds, cache),
                                        scheduler=ProtocolScheduler(plan), num_samples=-1, reuse_actors=reuse_actors,
                                        trial_name_creator=_tune_name, trial_dirname_creator=_tune_name),
            run_config=tune.RunConfig(name=plan.name.replace("/", "_"), storage_path=storage, verbose=0,
                                      callbacks=[TrialLog(plan, folder, log, progress)],
                                      checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
                                      failure_config=tune.FailureConfig(max_failures=INFRA_RETRIES)))
        with live(progress, log):
            tuner.fit()
        raise_if_interrupted()  # one that arrived during Tune's last step: an interrupted run, not a finished one
        plan.check_finished(folder)  # Tune may still return early (its handler turned back on): never hand on a partial plan
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        if own_pending:
            os.environ.pop("TUNE_MAX_PENDING_TRIALS_PG", None)
