"""Where a running plan stands and how long it has left: counts per phase, the running trials, an ETA.

`Progress` follows a plan's trials as a runner starts and finishes them. Its estimate of the time left is the work
still to do divided among the slots: every trial not yet finished costs what the finished trials of its workload
cost per epoch, times its epochs (a running trial: minus what it has run); a workload with nothing finished yet is
priced at the mean of all finished trials. A trial capped by steps (`max_steps`: the studies' runs, whose epochs are
a formal 100,000) is priced as a whole, at what finished trials of the same length took, since its epochs say nothing
of its length. Cached trials (read back, not trained) are left out of the prices.
On a terminal the runner shows `live(progress)`, a Rich display redrawn a few times a second, with the per-trial
lines printed above it; elsewhere only the lines, each ending in the ETA.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from bench.report.units import duration
from bench.search.protocol import Plan
from bench.status import Phase, TrialStatus


class Progress:
    """Counts and prices of one plan's trials; `clock` is injectable for tests."""

    def __init__(self, plan: Plan, slots: int = 1, clock: Callable[[], float] = time.perf_counter):
        self.plan, self.slots, self.clock = plan, max(1, slots), clock
        self.t0 = clock()
        self.running: dict[str, tuple[dict[str, Any], float]] = {}  # trial id -> (task, started)
        self.spent: dict[str, list[float]] = defaultdict(list)  # workload -> seconds per epoch of finished trials
        self.capped: dict[tuple, list[float]] = defaultdict(list)  # a step-capped trial's length -> its seconds
        self.trials: list[float] = []  # seconds of every finished trial
        self.done = {p: 0 for p in Phase}
        self.failed = {p: 0 for p in Phase}

    def started(self, task: dict[str, Any]) -> None:
        self.running[task["trial_id"]] = (task, self.clock())

    def finished(self, task: dict[str, Any], result: dict[str, Any]) -> None:
        """A task ended (with `result`: its status, epochs run, whether it came from the cache)."""
        _, t = self.running.pop(task["trial_id"], (task, self.clock()))
        n = max(1, len(task.get("stack") or [None]))
        phase = Phase(task["phase"])
        self.done[phase] += n
        if "status" in result and TrialStatus(result["status"]).is_failure():
            self.failed[phase] += n
        epochs = int(result.get("epoch") or task["config"]["epochs"])
        if not result.get("cached") and epochs > 0:
            seconds = (self.clock() - t) / n
            self.trials.append(seconds)
            if task["config"].get("max_steps"):
                self.capped[length(task["config"])].append(seconds)
            else:
                self.spent[task["config"]["workload"]].append(seconds / epochs)

    def per_epoch(self, workload: str) -> float | None:
        """Seconds per epoch of a trial of this workload, from the finished ones (None: nothing finished yet)."""
        prices = self.spent.get(workload) or [p for ps in self.spent.values() for p in ps]
        return sum(prices) / len(prices) if prices else None

    def price(self, config: dict[str, Any]) -> float:
        """Estimated seconds of one trial of `config` (some trial has finished)."""
        if config.get("max_steps"):
            key = length(config)
            same = self.capped.get(key) or [p for k, ps in self.capped.items() if k[:2] == key[:2] for p in ps]
            prices = same or [p for ps in self.capped.values() for p in ps] or self.trials
            return sum(prices) / len(prices)
        per_epoch = self.per_epoch(config["workload"])
        return per_epoch * config["epochs"] if per_epoch is not None else sum(self.trials) / len(self.trials)

    def remaining(self) -> float | None:
        """Estimated seconds until the plan is finished (None: no trial has finished to price the rest with)."""
        if not self.trials:
            return None
        work = 0.0
        for g in self.plan.groups:
            left = max(0, g.total() - len(g.done) - sum(1 for t in g.running if t in self.running))
            work += left * self.price(g.base.to_dict()) if left else 0.0
        now = self.clock()
        for task, t in self.running.values():
            work += max(0.0, self.price(task["config"]) * max(1, len(task.get("stack") or [None])) - (now - t))
        return work / self.slots

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def eta(self) -> str:
        left = self.remaining()
        return "eta: after the first trial" if left is None else f"eta {duration(left)}"

    def __rich__(self):
        """The live display: per phase done/failed/running of its total, then elapsed, ETA and the running trials."""
        from rich.table import Table

        table = Table(title=f"{self.plan.name}: {self.plan.finished_count()}/{self.plan.total()} trials, "
                            f"{duration(self.elapsed())} elapsed, {self.eta()}", title_justify="left")
        for col in ("phase", "done", "failed", "running", "of"):
            table.add_column(col, justify="left" if col == "phase" else "right")
        totals = phase_totals(self.plan)
        for p in Phase:
            running = sum(1 for task, _ in self.running.values() if task["phase"] == p)
            table.add_row(p.value, str(self.done[p]), str(self.failed[p]), str(running), str(totals[p]))
        table.add_section()
        now = self.clock()
        for tid, (task, t) in sorted(self.running.items(), key=lambda kv: kv[1][1]):
            table.add_row(tid, "", "", f"{duration(now - t)}", f"{task['config']['epochs']} epochs")
        return table


def length(config: dict[str, Any]) -> tuple:
    """What a step-capped trial's duration depends on, the workload and the cap first."""
    return (config["workload"], config.get("max_steps"), config.get("epochs"), config.get("batch_size"),
            config.get("n_train"), config.get("width"), config.get("depth"))


def phase_totals(plan: Plan) -> dict[Phase, int]:
    totals = {p: 0 for p in Phase}
    for g in plan.groups:
        totals[Phase.TUNE] += len(g.tuning_ids())
        totals[Phase.CONFIRM] += g.total() - len(g.tuning_ids()) - (0 if g.dropped() else len(g.seeds))
        totals[Phase.FINAL] += 0 if g.dropped() else len(g.seeds)
    return totals


@contextmanager
def live(progress: Progress, log: Callable[[str], None] | None) -> Iterator[Any]:
    """The Rich live display while the block runs (yielded), when there is a log and stdout is a terminal; else
    nothing (None)."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    shown = log is not None and console.is_terminal
    with Live(progress, console=console, refresh_per_second=2, transient=True) if shown else nullcontext() as display:
        yield display
