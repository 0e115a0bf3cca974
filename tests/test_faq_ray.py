"""`bench faq` and `bench study` on a Ray cluster: their trials run as Ray Tune trials on a separately started
loopback head."""
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
        study = subprocess.run([sys.executable, "-m", "bench", "study", "exploding", "--budget", "tiny", "--address",
                                address, "--out", str(tmp_path / "studies")], env={**os.environ, "RAY_AUTH_MODE": "token"},
                               capture_output=True, text=True, timeout=600)
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
    assert study.returncode == 0, study.stdout[-3000:] + study.stderr[-3000:]
    ran = json.loads((tmp_path / "studies" / "exploding" / "run.json").read_text())["runner"]
    assert f"joining the Ray cluster at {address}" in study.stdout and ran["address"] == address
    assert len(pd.read_parquet(tmp_path / "studies" / "exploding" / "trials.parquet")) > 0
