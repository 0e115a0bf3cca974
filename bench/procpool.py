"""Process pools that do not outlive an interrupted run."""
from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager


@contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A spawn-context pool (fork would copy torch's thread pools) whose workers are terminated when the block
    raises (Ctrl-C, or SIGTERM that the CLI turns into KeyboardInterrupt): a plain `shutdown` would wait for
    every running trial, and a killed parent would leave them training as orphans."""
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    except BaseException:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
