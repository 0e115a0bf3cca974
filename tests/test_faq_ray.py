"""`bench faq` on a Ray cluster: its trials run as Ray tasks on a separately started loopback head."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.test_sweep import free_port, ray_cli, reap


@pytest.fixture
def head():
    port, tmp = free_port(), tempfile.mkdtemp(prefix="rf", dir="/tmp")  # short: socket paths fit 107 bytes
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    proc = subprocess.Popen([ray_cli(), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                             "--num-cpus=2", f"--temp-dir={tmp}", "--include-dashboard=false", "--disable-usage-stats",
                             "--block"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        yield f"127.0.0.1:{port}", tmp, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        reap(tmp)


@pytest.mark.slow
def test_faq_runs_its_trials_on_a_separately_started_head(tmp_path, head):
    address, head_tmp, env = head
    cmd = [sys.executable, "-m", "bench", "faq", "--size", "tiny", "--questions", "8.2", "--address", address,
           "--out", str(tmp_path / "faq"), "--runs", str(tmp_path / "runs"), "--studies", str(tmp_path / "studies")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"joining the Ray cluster at {address}" in res.stdout
    assert (tmp_path / "faq" / "index.html").exists() and (tmp_path / "faq" / "verdicts.csv").exists()
    trials = pd.concat(pd.read_parquet(p) for p in (tmp_path / "runs").glob("*/trials.parquet"))
    assert len(trials) > 0 and set(trials["status"]) <= {"ok", "diverged"}
    # The head's own session logs hold the workers that ran the trials: they were the head's, not a local Ray's.
    assert list(Path(head_tmp).rglob("worker-*.out")), "no worker of the head ran anything"
