"""`bench faq` and `bench study` on a Ray cluster: the FAQ's trials run as Ray Tune trials on a separately started
loopback head; both commands hand `--address` and the per-trial resources to the one runner they share."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.test_sweep import ray_head, wait_for_port


@pytest.mark.slow
def test_faq_runs_its_trials_on_a_separately_started_head(tmp_path):
    with ray_head() as (address, head_tmp):
        wait_for_port(address)
        cmd = [sys.executable, "-m", "bench", "faq", "--budget", "tiny", "--questions", "8.2", "--address", address,
               "--out", str(tmp_path / "faq"), "--runs", str(tmp_path / "runs"), "--studies", str(tmp_path / "studies")]
        res = subprocess.run(cmd, env={**os.environ, "RAY_AUTH_MODE": "token"}, capture_output=True, text=True,
                             timeout=600)
        # The head's session logs hold the workers that ran the trials: they were the head's, not a local Ray's.
        head_workers = list(Path(head_tmp).rglob("worker-*.out"))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"joining the Ray cluster at {address}" in res.stdout
    assert (tmp_path / "faq" / "index.html").exists() and (tmp_path / "faq" / "verdicts.csv").exists()
    trials = pd.concat(pd.read_parquet(p) for p in (tmp_path / "runs").glob("*/trials.parquet"))
    assert len(trials) > 0 and set(trials["status"]) <= {"ok", "diverged"}
    ran = json.loads((tmp_path / "runs" / "losses" / "run.json").read_text())
    assert ran["runner"]["runner"] == "ray tune" and ran["runner"]["address"] == address
    assert ran["budget"]["name"] == "tiny" and len(trials) == len(list((tmp_path / "runs" / "losses" / "parts").glob("*.json")))
    assert head_workers, "no worker of the head ran anything"


@pytest.mark.parametrize("command", [["faq", "--budget", "tiny", "--questions", "8.2"],
                                     ["study", "exploding", "--budget", "tiny"]])
def test_faq_and_study_give_the_runner_the_address_and_resources(tmp_path, monkeypatch, command):
    """The wiring the head test above runs end to end for the FAQ: the study builds the same runner from the same
    options (its run on a head would repeat that test at twice the cost)."""
    from typer.testing import CliRunner

    import bench.search.runners
    from bench.cli import app

    made = {}

    class Stop(Exception):
        pass

    class Runner:
        def __init__(self, address, cpus, gpus, **kw):
            made.update(address=address, cpus=cpus, gpus=gpus)

        def __enter__(self):
            raise Stop  # nothing runs: the options are what is checked

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(bench.search.runners, "RayTune", Runner)
    folders = ["--runs", str(tmp_path / "runs"), "--studies", str(tmp_path / "studies")] if command[0] == "faq" else []
    res = CliRunner().invoke(app, [*command, "--address", "127.0.0.1:6390", "--cpus-per-trial", "0.5",
                                   "--gpus-per-trial", "0", "--out", str(tmp_path / "out"), *folders])
    assert isinstance(res.exception, Stop), res.output
    assert (made["address"], made["cpus"], float(made["gpus"])) == ("127.0.0.1:6390", 0.5, 0.0), made
