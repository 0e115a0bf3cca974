"""Executors: every item runs once and comes back paired with its own result, wherever it ran."""
from __future__ import annotations

import os

import pytest

from bench.search.executors import Inline, RayTasks


def square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def die_on_three(x: int) -> int:
    if x == 3:
        os._exit(1)  # a worker killed mid-trial (e.g. for memory), not an exception
    return x


def test_inline_runs_every_item_in_this_process_and_restores_threads():
    import torch

    threads = torch.get_num_threads()
    got = dict(Inline().map_unordered(square_with_pid, range(5)))
    assert {k: v[0] for k, v in got.items()} == {k: k * k for k in range(5)}
    assert {v[1] for v in got.values()} == {os.getpid()} and torch.get_num_threads() == threads


@pytest.mark.slow
def test_ray_tasks_pair_items_with_results_run_elsewhere_and_turn_a_dead_worker_into_a_result():
    lines = []
    with RayTasks(cpus=1.0, gpus="auto", on_crash=lambda item, msg: ("crashed", item, msg), log=lines.append) as ex:
        got = dict(ex.map_unordered(square_with_pid, range(6)))
        assert {k: v[0] for k, v in got.items()} == {k: k * k for k in range(6)}
        assert os.getpid() not in {v[1] for v in got.values()}
        assert ex.gpus == 0.0 and ex.info["chosen_by"] == "auto: no GPU" and ex.info["slots"] == os.cpu_count()
        crashed = dict(ex.map_unordered(die_on_three, [1, 3, 5]))
    assert crashed[1] == 1 and crashed[5] == 5
    assert crashed[3][:2] == ("crashed", 3) and "the trial's worker died" in crashed[3][2]
    assert "no GPU in the Ray cluster: trials train on CPUs" in lines
