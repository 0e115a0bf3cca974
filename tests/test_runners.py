"""Runners: every trial of a plan runs once, its part lands in the run folder, and the cache serves identical
trials without training them."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from bench.config import TrialConfig
from bench.search.protocol import Group, Plan
from bench.search.runners import InProcess
from bench.search.trial import cache_file, config_key

TINY = {"workload": "mnist1d-cnn", "epochs": 1, "max_steps": 2, "n_train": 64, "width": 4, "fc_width": 8}


def fixed_plan(seeds=(1, 2)) -> Plan:
    """One configuration, nothing tuned: its final seeds are the trials (how the studies run theirs)."""
    g = Group(0, "adam", "demo", (), TrialConfig.from_dict(TINY), "test_acc", "max", trials=0, seeds=seeds,
              experiment="demo")
    return Plan(None, groups=[g])


def test_in_process_runs_each_trial_once_into_the_folder_and_restores_threads(tmp_path):
    import torch

    threads, lines = torch.get_num_threads(), []
    plan = fixed_plan()
    InProcess().run(plan, tmp_path, lines.append)
    parts = sorted(p.stem for p in (tmp_path / "parts").glob("*.json"))
    assert parts == ["demo.adam.seed-1", "demo.adam.seed-2"] and plan.finished()
    assert [json.loads((tmp_path / "parts" / f"{p}.json").read_text())["config"]["seed"] for p in parts] == [1, 2]
    assert len(lines) == 2 and all("demo adam" in line and "(cached)" not in line for line in lines)
    assert torch.get_num_threads() == threads


def test_the_cache_serves_identical_trials_and_keeps_no_failure(tmp_path, monkeypatch):
    import bench.train

    InProcess().run(fixed_plan(), tmp_path / "a", None, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
    part = tmp_path / "a" / "parts" / "demo.adam.seed-1.json"  # a cache entry is the trial's part, byte for byte
    assert (tmp_path / "cache" / f"{config_key(json.loads(part.read_text())['config'])}.json").read_bytes() == part.read_bytes()
    monkeypatch.setattr(bench.train, "run_trial", lambda *a, **k: pytest.fail("an identical trial trained again"))
    lines = []
    InProcess().run(fixed_plan(), tmp_path / "b", lines.append, tmp_path / "cache")
    assert all("(cached)" in line for line in lines) and len(lines) == 2
    assert (tmp_path / "b" / "parts" / "demo.adam.seed-1.json").exists()
    monkeypatch.setattr(bench.train, "run_trial", lambda *a, **k: 1 / 0)  # a trial that fails is not kept
    InProcess().run(fixed_plan(seeds=(3,)), tmp_path / "c", None, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2


def test_a_trials_identity_ignores_threads_and_device_and_asha_trials_are_never_cached(tmp_path):
    cfg = TrialConfig.from_dict(TINY).to_dict()
    assert config_key(cfg) == config_key({**cfg, "threads": 7, "device": "cpu"}) != config_key({**cfg, "seed": 9})
    task = {"config": cfg, "cache": str(tmp_path)}
    assert cache_file(task) == tmp_path / f"{config_key(cfg)}.json"
    assert cache_file({**task, "report_epochs": [1]}) is None and cache_file({"config": cfg}) is None


def test_stacked_seeds_take_what_the_cache_holds_and_train_only_the_rest(tmp_path, monkeypatch):
    """A group's final seeds as one stacked task: seeds trained before come from the cache, the others train
    (stacked) and are kept; every seed's part is written as its own trial would write it."""
    import bench.stacked

    InProcess().run(fixed_plan(seeds=(1,)), tmp_path / "a", None, tmp_path / "cache")  # seed 1 trained alone
    trained = []
    real = bench.stacked.run_stacked
    monkeypatch.setattr(bench.stacked, "run_stacked", lambda base, seeds: trained.append(seeds) or real(base, seeds))
    lines = []
    InProcess(stack_seeds=True).run(fixed_plan(seeds=(1, 2, 3)), tmp_path / "b", lines.append, tmp_path / "cache")
    assert trained == [[2, 3]] and "(stacked)" in lines[0]
    parts = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "b" / "parts").glob("*.json")}
    assert sorted(parts) == [f"demo.adam.seed-{s}" for s in (1, 2, 3)]
    assert [parts[f"demo.adam.seed-{s}"]["config"]["seed"] for s in (1, 2, 3)] == [1, 2, 3]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 3


@pytest.mark.parametrize("runner_kind", ["in-process", "tune-callback"])
def test_a_ctrl_c_a_library_swallowed_still_stops_the_run_at_its_next_step(tmp_path, runner_kind, monkeypatch,
                                                                          cli_signals):
    """A Ctrl-C whose KeyboardInterrupt a library swallowed (seen once mid-sweep under load: every trial ran and the
    sweep exited 0) must still stop the run, at the loop's next step, with Ctrl-C's exit status."""
    from bench.search import runners
    from bench.search.tune import TrialLog

    try:  # the library's swallow
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    except KeyboardInterrupt:
        pass
    plan = fixed_plan()
    with pytest.raises(KeyboardInterrupt) as caught:
        if runner_kind == "in-process":
            monkeypatch.setattr(runners, "forget_interrupts", lambda: None)  # the Ctrl-C lands after the run began
            InProcess(tensorboard=False).run(plan, tmp_path / "run", None)
        else:
            TrialLog(plan, tmp_path / "run", None).on_step_begin(iteration=0, trials=[])
    assert cli_signals.exit_status(caught.value) == 130
    assert not list((tmp_path / "run").glob("parts/*.json"))  # no trial ran after the interrupt


# pytest's own hook would turn a dropped exception into this warning: here it must not reach any hook's report
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_landing_in_a_finalizer_is_kept_without_a_traceback(capfd, cli_signals):
    """A Ctrl-C whose handler runs inside a `__del__` (Ray's ActorHandle.__del__ on the driver, in a CI run): Python
    drops the exception and would print "Exception ignored ... Traceback"; bench prints nothing and raises the
    interrupt again at the run's next step."""
    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs here, inside the finalizer

    obj = Finalized()
    del obj
    assert "Traceback" not in capfd.readouterr().err
    with pytest.raises(KeyboardInterrupt):
        cli_signals.raise_if_interrupted()


def test_a_ctrl_c_of_an_earlier_run_does_not_stop_the_next(tmp_path, cli_signals):
    """A notebook runs a plan, presses Ctrl-C (its exception raised and handled then) and runs another: the new run
    is not stopped by the old interrupt's record."""
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    try:
        InProcess(tensorboard=False).run(fixed_plan(), tmp_path / "run", None)
    except KeyboardInterrupt:  # a test failure, not pytest's own Ctrl-C that would end the session
        pytest.fail("the earlier run's Ctrl-C stopped the new run")
    assert len(list((tmp_path / "run").glob("parts/*.json"))) == 2


def test_a_config_key_added_later_keeps_the_keys_of_trials_cached_before_it():
    """warmup_steps came after trials were cached: at 0 (warmup_frac decides, as before it existed) a trial keeps its
    old key, so a cache or a run from before still resumes; at any other value it is another trial."""
    cfg = {k: v for k, v in TrialConfig.from_dict(TINY).to_dict().items() if k != "warmup_steps"}  # an older config
    assert config_key({**cfg, "warmup_steps": 0}) == config_key(cfg)
    assert config_key({**cfg, "warmup_steps": 144}) != config_key(cfg)
