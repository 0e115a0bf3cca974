"""Concurrent writers: one lock per run folder for every writer (sweep, FAQ, study, report), run folders that two
processes never share, and a writability probe that concurrent calls do not trip over."""
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from bench.config import ConfigError
from bench.results import ensure_writable, new_run_folder, run_lock
from tests.test_hardening import bench, one_line_error, tree

ROOT = Path(__file__).resolve().parents[1]


def _folders(root: str) -> list[str]:
    return [new_run_folder(Path(root), "race").name for _ in range(5)]


def test_concurrent_processes_get_distinct_run_folders(tmp_path):
    """Eight processes, five folders each, in the same second: forty folders, none shared."""
    with ProcessPoolExecutor(8) as pool:
        names = [n for batch in pool.map(_folders, [str(tmp_path)] * 8) for n in batch]
    assert len(names) == 40 and len(set(names)) == 40
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_concurrent_writability_probes_do_not_collide(tmp_path):
    """600 probes of one folder from 12 threads: each writes and deletes a file of its own."""
    with ThreadPoolExecutor(12) as pool:
        done = list(pool.map(lambda _: ensure_writable(tmp_path), range(600)))
    assert len(done) == 600 and not list(tmp_path.iterdir())  # no probe left behind


def test_the_lock_refuses_another_thread_and_lets_its_holder_in_again(tmp_path):
    outcome = []

    def second():
        try:
            with run_lock(tmp_path):
                outcome.append("entered")
        except ConfigError as e:
            outcome.append(str(e))

    with run_lock(tmp_path):
        with run_lock(tmp_path):  # the FAQ locks its folders, then a study it runs locks its own: the same thread
            pass
        worker = threading.Thread(target=second)
        worker.start()
        worker.join()
    assert len(outcome) == 1 and "is in use by bench (pid" in outcome[0] and "\n" not in outcome[0]
    worker = threading.Thread(target=second)
    worker.start()
    worker.join()
    assert outcome[1] == "entered"  # released with its block


STUDY = """
import sys, time
from pathlib import Path
from bench.search.runners import InProcess
from bench.studies.common import Study
out, flag = Path(sys.argv[1]), Path(sys.argv[2])
study = Study("vanishing", out, "tiny", 2, lambda line: None, "two seeds of one tiny MLP", InProcess())
print("locked", flush=True)
while flag and not flag.exists():
    time.sleep(0.05)
study.batch({"mlp": dict(workload="mnist1d-mlp", width=8, depth=1, max_steps=3, n_train=64, batch_size=32,
                         probe_every=1)})
study.finish({})
"""


def run_study(out: Path, flag: Path | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", STUDY, str(out), str(flag or "")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def trials_table(folder: Path) -> pd.DataFrame:
    df = pd.read_parquet(folder / "trials.parquet")
    timing = [c for c in df.columns if any(word in c for word in ("time", "per_sec", "peak"))]  # the machine's speed
    return df.drop(columns=timing).sort_values("trial_id").reset_index(drop=True)


@pytest.mark.slow
def test_two_studies_into_one_out_one_is_refused_the_other_exact(tmp_path):
    """While a study trains into OUT/vanishing, `bench study vanishing --out OUT` stops with one line before Ray
    starts and deletes nothing; the first study's tables equal those of the same study run alone."""
    flag = tmp_path / "go"
    first = run_study(tmp_path / "shared", flag)
    assert first.stdout.readline().strip() == "locked", first.stderr.read()
    before = tree(tmp_path / "shared" / "vanishing")
    second = bench("study", "vanishing", "--budget", "tiny", "--out", str(tmp_path / "shared"))
    one_line_error(second, "vanishing is in use by bench (pid")
    assert tree(tmp_path / "shared" / "vanishing") == before
    flag.touch()
    assert first.wait(120) == 0, first.stderr.read()
    alone = run_study(tmp_path / "alone", None)
    assert alone.wait(120) == 0, alone.stderr.read()
    pd.testing.assert_frame_equal(trials_table(tmp_path / "shared" / "vanishing"), trials_table(tmp_path / "alone" / "vanishing"))


HOLD = """
import sys, time
from pathlib import Path
from bench.results import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


@pytest.mark.slow
def test_a_faq_run_into_a_folder_another_run_writes_is_refused_and_deletes_nothing(tmp_path):
    runs = tmp_path / "runs"
    (runs / "cache").mkdir(parents=True)
    (runs / "cache" / "trial.json").write_text("{}")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), str(runs)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = tree(runs)
        res = bench("faq", "--budget", "tiny", "--questions", "8.2", "--runs", str(runs), "--out", str(tmp_path / "page"))
        one_line_error(res, f"{runs} is in use by bench (pid {holder.pid}")
        assert tree(runs) == before and (runs / "cache" / "trial.json").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_study_locks_its_folder_before_deleting_anything(tmp_path):
    """A second Study into the same folder (another thread: the same as another process for the lock) is refused
    and leaves the first one's parts where they are."""
    from bench.studies.common import Study

    first = Study("demo", tmp_path, "tiny", 1, lambda line: None, "notes")
    (first.folder / "parts").mkdir()
    (first.folder / "parts" / "t.json").write_text("{}")
    refused = []

    def second():
        try:
            Study("demo", tmp_path, "tiny", 1, lambda line: None, "notes")
        except ConfigError as e:
            refused.append(str(e))

    worker = threading.Thread(target=second)
    worker.start()
    worker.join()
    assert len(refused) == 1 and "demo is in use by bench" in refused[0]
    assert (first.folder / "parts" / "t.json").exists()
    first.lock.close()
