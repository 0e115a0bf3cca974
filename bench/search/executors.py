"""Where a batch of independent trials runs: in this process, in local worker processes, or as Ray tasks.

Each executor is a context manager (entering it starts its workers or its Ray session) with one method.

Every executor has one method, `map_unordered(fn, items)`, yielding `(item, fn(item))` as each finishes. `fn`
must be importable (a module-level function) and must not raise: a trial's failure is its result. Only a
worker that dies (killed for memory, a lost node) is turned into a result by `on_crash(item, message)`.

`RayTasks` runs on the private local Ray that `bench sweep` starts, or on a cluster (`--address`), with
`--cpus-per-trial` and `--gpus-per-trial` (`auto` packs trials onto each GPU, see resources.py). Ray reuses its
worker processes between tasks of the same shape, so torch is imported once per worker.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any, Protocol, TypeVar

from bench.config import TrialConfig

T = TypeVar("T")
R = TypeVar("R")
Crash = Callable[[Any, str], Any]


class Executor(Protocol):
    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]: ...


class Inline:
    """One trial after another in this process; torch's thread count is restored afterwards."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        import torch

        threads = torch.get_num_threads()
        try:
            for item in items:
                yield item, fn(item)
        finally:
            torch.set_num_threads(threads)  # trials set their own thread count; leave this process as it was

    def __enter__(self) -> Inline:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class Processes:
    """Up to `jobs` trials at a time in local spawn processes (terminated when the run is interrupted)."""

    def __init__(self, jobs: int):
        self.jobs, self.stack = max(1, jobs), ExitStack()

    def __enter__(self) -> Processes:
        from bench.procpool import process_pool

        self.pool = self.stack.enter_context(process_pool(self.jobs))
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self.stack.__exit__(*exc)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        from concurrent.futures import as_completed

        futures = {self.pool.submit(fn, item): item for item in items}
        for future in as_completed(futures):
            yield futures[future], future.result()


class RayTasks:
    """Each item as a Ray task holding `cpus` CPUs and a `gpus` share of a GPU, on a local Ray or a cluster."""

    def __init__(self, address: str | None = None, cpus: float = 1.0, gpus: float | str = "auto",
                 example: TrialConfig | None = None, on_crash: Crash | None = None, log: Callable[[str], None] = print):
        self.address, self.cpus, self.gpus, self.log = address, cpus, gpus, log
        self.example = example or TrialConfig()
        self.on_crash = on_crash
        self.stack = ExitStack()
        self.info: dict[str, Any] = {}

    def __enter__(self) -> RayTasks:
        from bench.search.resources import parse_gpus_per_trial
        from bench.search.tune import _check_reachable, ray_session, trial_resources

        if self.address:
            _check_reachable(self.address)
        self.log("starting Ray (a few seconds)..." if not self.address else f"joining the Ray cluster at {self.address}...")
        self.stack.enter_context(ray_session(self.address, dashboard=False))
        try:
            self.gpus, self.info, slots = trial_resources(parse_gpus_per_trial(self.gpus), self.example, self.cpus,
                                                          self.log)
            self.info["slots"] = slots
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self.stack.__exit__(*exc)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        import ray

        remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)(fn)
        pending = {remote.remote(item): item for item in items}
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(ref)
            try:
                yield item, ray.get(ref)
            except ray.exceptions.RayError as e:
                if self.on_crash is None:
                    raise
                yield item, self.on_crash(item, f"the trial's worker died: {str(e).strip().splitlines()[-1]}")
