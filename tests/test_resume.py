"""Exact resume of the FAQ and of a gradient study: the driver process is SIGKILLed while its trials run (no handler
runs, nothing is flushed), and the resumed run gives the trials table an uninterrupted run gives, trial by trial;
only the timings differ. Both run at the tiny budget on the in-process runner. Then a Ray worker of `bench faq` is
SIGKILLed instead (kill_a_worker, also used for a study), against the same uninterrupted in-process run."""
from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMINGS = ["wall_time", "samples_per_sec", "flops_per_sec", "peak_fraction", "peak_flops_per_sec"]

FAQ = """
import sys
from pathlib import Path
from bench.faq.main import answer
from bench.search.runners import InProcess
root = Path(sys.argv[1])
answer(["8.2"], "tiny", root / "out", root / "runs", root / "studies", reuse=False, runner=InProcess(),
       log=lambda line: print(line, flush=True))
"""
STUDY = """
import sys
from pathlib import Path
from bench.search.runners import InProcess
from bench.studies import vanishing
vanishing.run(size="tiny", out=Path(sys.argv[1]), progress=lambda line: print(line, flush=True), runner=InProcess())
"""


def drive(script: str, root: Path, kill_after: int) -> None:
    """Run the driver in a process of its own and SIGKILL it once `kill_after` trials have finished (their lines
    printed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=root)
    finished, lines = 0, []
    for line in proc.stdout:
        lines.append(line)
        finished += line.lstrip().startswith("[")  # one "[k/n] ..." line per finished trial
        if finished >= kill_after:
            proc.send_signal(signal.SIGKILL)
            break
    assert proc.wait(timeout=600) == -signal.SIGKILL, "".join(lines[-20:])  # killed mid-run, not finished first


def trials(folder: Path) -> pd.DataFrame:
    df = pd.read_parquet(folder / "trials.parquet")
    return df.drop(columns=[c for c in TIMINGS if c in df]).sort_values("trial_id").reset_index(drop=True)


def check_same(killed: Path, whole: Path) -> None:
    a, b = trials(killed), trials(whole)
    assert list(a["trial_id"]) == list(b["trial_id"])
    pd.testing.assert_frame_equal(a, b)


def faq(root: Path, resume: bool) -> None:
    from bench.faq.main import answer
    from bench.search.runners import InProcess

    answer(["8.2"], "tiny", root / "out", root / "runs", root / "studies", reuse=resume, runner=InProcess(),
           log=lambda line: None)


def study(root: Path, resume: bool) -> None:
    from bench.search.runners import InProcess
    from bench.studies import vanishing

    vanishing.run(size="tiny", out=root, progress=lambda line: None, runner=InProcess(), resume=resume)


# The uninterrupted run and the resume run here; only the run that is killed needs a process of its own.
@pytest.mark.slow
def test_a_killed_faq_resumes_to_the_tables_of_an_uninterrupted_run(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir(), killed.mkdir()
    faq(whole, resume=False)
    drive(FAQ, killed, kill_after=3)
    assert not (killed / "runs" / "losses" / "trials.parquet").exists()  # the kill left the experiment unfinished
    faq(killed, resume=True)
    check_same(killed / "runs" / "losses", whole / "runs" / "losses")


@pytest.mark.slow
def test_a_killed_study_resumes_to_the_tables_of_an_uninterrupted_run(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir(), killed.mkdir()
    study(whole, resume=False)
    drive(STUDY, killed, kill_after=3)
    assert not (killed / "vanishing" / "trials.parquet").exists()
    study(killed, resume=True)
    check_same(killed / "vanishing", whole / "vanishing")
    claims = [pd.read_csv(root / "vanishing" / "claims.csv", dtype=str) for root in (killed, whole)]
    pd.testing.assert_frame_equal(*claims)


def kill_a_worker(args: list[str], parts: Path, after: int = 1,
                  resume: tuple[str, ...] = ("--resume",)) -> tuple[str, str]:
    """Run `bench ARGS` in a process of its own and SIGKILL one Ray worker of its private Ray once `after` trials
    have written their parts (others are training: the later, the later the phase); should every retry of that
    worker's trial fail, run it once more with --resume, which must finish. Returns the output of the killed run
    and of the run that finished (the same when no resume was needed)."""
    import time

    from tests.test_interrupts import sigkill_a_worker

    cmd, env = [sys.executable, "-m", "bench", *args], {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, victim = time.monotonic() + 300, None
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        if len(glob.glob(str(parts / "*.json"))) >= after:  # `parts` may hold a pattern (a sweep's run folder)
            victim = sigkill_a_worker(proc.pid)
        time.sleep(0.05)
    output, _ = proc.communicate(timeout=600)
    assert victim is not None, output[-3000:]
    first = output
    if proc.returncode != 0:  # every retry failed as well: one --resume must finish it
        assert "--resume" in output, output[-3000:]
        again = subprocess.run([*cmd, *resume], env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        output = again.stdout + again.stderr
    return first, output


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the workers in /proc")
def test_a_killed_ray_worker_leaves_the_faqs_tables_of_an_uninterrupted_run(tmp_path):
    """SIGKILL of a Ray worker of `bench faq` while a trial trains, half-way through its 42 trials (its groups are
    then in their tuning, confirm and final phases): the trials table is then the uninterrupted in-process run's,
    trial by trial (a study's: tests/test_studies.py, killed in its final phase; a sweep's: tests/test_interrupts.py,
    killed in its tuning phase)."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir()
    faq(whole, resume=False)
    kill_a_worker(["faq", "--budget", "tiny", "--questions", "8.2", "--out", str(killed / "out"), "--runs",
                   str(killed / "runs"), "--studies", str(killed / "studies")], killed / "runs" / "losses" / "parts",
                  after=20)
    check_same(killed / "runs" / "losses", whole / "runs" / "losses")
