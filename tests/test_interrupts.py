"""Honest interrupts: Ctrl-C or SIGTERM during a study stops it like a sweep (exit 130/143, a resume hint) and
judges nothing; a runner that returns with trials of its plan unfinished raises instead of handing them on."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.config import TrialConfig
from bench.errors import PlanIncomplete
from bench.search.protocol import Group, Plan, TrialSummary
from bench.search.runners import InProcess
from bench.status import TrialStatus

ROOT = Path(__file__).resolve().parents[1]


def tiny_plan(seeds=(0, 1)) -> Plan:
    cfg = TrialConfig(workload="mnist1d-mlp", width=8, depth=1, max_steps=2, n_train=64, batch_size=32, threads=1,
                      probe_every=0)
    return Plan(None, groups=[Group(0, "mlp", "demo", (), cfg, "test_acc", "max", trials=0, seeds=seeds,
                                    experiment="demo")])


def test_a_plan_with_trials_without_results_is_refused_naming_them():
    plan = tiny_plan()
    with pytest.raises(PlanIncomplete, match=r"demo: 2 of 2 trials have no result: demo mlp \(0 of 2 trials\); "
                                             "nothing was judged: run the same command with --resume"):
        plan.check_finished()


def test_a_runner_that_stops_early_raises_instead_of_returning(tmp_path, monkeypatch):
    """The searcher hands out nothing more while the plan still lacks a seed (as when Tune returns from a swallowed
    Ctrl-C): the runner raises PlanIncomplete, so nothing downstream reads a partial plan."""
    from bench.search import tune

    calls = []
    real = tune.ProtocolSearcher.suggest

    def one_then_nothing(self, trial_id):
        calls.append(trial_id)
        return real(self, trial_id) if len(calls) == 1 else None

    monkeypatch.setattr(tune.ProtocolSearcher, "suggest", one_then_nothing)
    with pytest.raises(PlanIncomplete, match="1 of 2 trials have no result"):
        InProcess().run(tiny_plan(), tmp_path, None)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_study_exits_with_a_resume_hint_and_judges_nothing(tmp_path, sig):
    out = tmp_path / "studies"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    from tests.test_sweep import sigint_as_at_a_terminal

    proc = subprocess.Popen([sys.executable, "-m", "bench", "study", "vanishing", "--budget", "tiny", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
                            preexec_fn=sigint_as_at_a_terminal)
    deadline = time.monotonic() + 300
    while not list(out.glob("vanishing/parts/*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), output[-3000:]
    assert "add --resume to the same command to continue" in output and "Traceback" not in output, output[-3000:]
    assert not (out / "vanishing" / "claims.csv").exists()  # no claim judged from part of the study


DRIVER = """
import time
import ray
from bench.search.tune import ray_session
with ray_session(None, False):
    print(ray._private.worker._global_node.get_session_dir_path(), flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="the watchdog reads /proc")
def test_a_sigkilled_driver_takes_its_private_ray_along(tmp_path):
    """Without the watchdog the dashboard and runtime-env agents (ray::DashboardAgent, ray::RuntimeEnvAgent: renamed,
    no session path, the raylet's children) outlive a SIGKILLed driver by about a minute."""
    proc = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(b"ray::RuntimeEnvAgent" in c for c in descendants(proc.pid).values()):
        time.sleep(0.2)
    time.sleep(3)  # the watchdog refreshes its list every 2 s
    ray_pids = {pid for pid, cmd in descendants(proc.pid).items() if b"-c\x00" not in cmd}  # not the watchdog
    assert any(b"ray::DashboardAgent" in descendants(proc.pid).get(pid, b"") for pid in ray_pids)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [pid for pid in ray_pids if Path(f"/proc/{pid}").exists()]:
        time.sleep(0.2)
    left = [pid for pid in ray_pids if Path(f"/proc/{pid}").exists()]
    names = [Path(f"/proc/{pid}/cmdline").read_bytes()[:40] for pid in left if Path(f"/proc/{pid}").exists()]
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, names


# --- trials lost to their infrastructure: retried by Tune, then recorded with that cause and re-run on resume ---

def lost_and_failed(folder: Path) -> Plan:
    """Seed 0 lost to a dead worker on every try, seed 1 failed by its own exception."""
    from bench.results import ResultStore, TrialRecord
    from bench.status import INFRASTRUCTURE, TrialStatus

    plan = tiny_plan()
    store = ResultStore(folder)
    for tid, error in (("demo.mlp.seed-0", f"{INFRASTRUCTURE} on 3 tries: the trial's worker died"),
                       ("demo.mlp.seed-1", "ValueError: bad input")):
        store.add(TrialRecord(tid, {}, plan.groups[0].base.to_dict(), TrialStatus.ERROR, {}, [], [], error))
    return plan


def test_a_resume_reruns_trials_lost_to_their_infrastructure_and_with_retry_failed_every_error(tmp_path):
    from bench.results import ResultStore

    lost_and_failed(tmp_path)
    records = ResultStore(tmp_path).finished()
    assert set(Plan(None, records, groups=tiny_plan().groups).groups[0].done) == {"demo.mlp.seed-1"}
    assert Plan(None, records, groups=tiny_plan().groups, retry_failed=True).groups[0].done == {}


def test_a_plan_with_a_lost_trial_is_not_judged(tmp_path):
    plan = lost_and_failed(tmp_path)
    g = plan.groups[0]
    for tid in g.final_ids():  # the live searcher counted both as done
        g.record(TrialSummary(tid, {}, TrialStatus.OK, 0.5))
    with pytest.raises(PlanIncomplete, match=r"1 trial\(s\) lost to worker or storage failures on every try "
                                             r"\(demo.mlp.seed-0\); nothing was judged"):
        plan.check_finished(tmp_path)



def descendants(root: int) -> dict[int, bytes]:
    """pid -> command line of every process below `root` (Ray's workers are the raylet's children, the raylet the
    driver's): only this test's own processes, never another run's on the same machine."""
    parent, cmd = {}, {}
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit():
                parent[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            pass

    def below(pid: int) -> bool:
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == root:
                return True
        return False
    return {pid: cmd[pid] for pid in parent if below(pid)}


def sigkill_a_worker(driver: int) -> int | None:
    """SIGKILL one Ray Tune trial worker below the process `driver`; its pid, or None while there is none."""
    workers = [pid for pid, cmd in descendants(driver).items() if cmd.startswith(b"ray::ImplicitFunc")]
    if workers:
        os.kill(workers[0], signal.SIGKILL)
    return workers[0] if workers else None


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MB tmpfs of this test's own (root with mount rights, as on the CI machine; skipped elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()[:200]}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the workers in /proc")
def test_a_killed_worker_and_a_disk_filled_mid_sweep_then_freed_give_the_uninterrupted_trials(tmp_path, small_disk):
    """Two infrastructure faults in one sweep. A Ray worker is SIGKILLed while its trial trains: Tune re-runs the
    trial with its config and seed, and says so. Then the run folder's disk fills up: the sweep stops with one line
    naming the full disk and the resume (no traceback). Once space is freed, one --resume finishes it, with no error
    part and every trial holding the result its config and seed give (the tiny space's trials are its start-up
    design, so the trials and the choices are an uninterrupted run's)."""
    import pandas as pd
    import yaml

    from bench.results import ResultStore
    from bench.train import run_trial
    from tests.test_sweep import tiny_space

    path = tmp_path / "fulldisk.yaml"
    path.write_text(yaml.safe_dump(tiny_space(name="fulldisk", budget={"trials_per_level": 3, "epochs": 3, "seeds": 2,
                                                                       "grace_epochs": 3, "startup_trials": 3})))
    out, filler = small_disk / "runs", small_disk / "filler"
    cmd = [sys.executable, "-m", "bench", "sweep", str(path), "--out", str(out), "--no-tensorboard"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, victim = time.monotonic() + 300, None
    while not filler.exists() and time.monotonic() < deadline and proc.poll() is None:
        parts = len(list(out.glob("fulldisk-*/parts/*.json")))
        if parts >= 1 and victim is None:  # trials are under way: kill a worker that trains one
            victim = sigkill_a_worker(proc.pid)
        if parts >= 5 and victim is not None:  # later: fill the disk
            with open(filler, "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError:
                    pass
        time.sleep(0.05)
    output, _ = proc.communicate(timeout=300)
    assert filler.exists() and victim is not None, output[-3000:]
    assert "running it again with its config and seed" in output, output[-3000:]  # Tune retried the killed trial
    assert proc.returncode != 0 and "Traceback" not in output, output[-3000:]
    assert "No space left on device" in output and "--resume" in output, output[-3000:]
    filler.unlink()  # space freed
    again = subprocess.run([*cmd, "--resume", "last"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    folder = next(out.glob("fulldisk-*"))
    trials = pd.read_parquet(folder / "trials.parquet")
    assert len(trials) == trials["trial_id"].nunique() == 14 and not (trials["status"] == "error").any(), \
        trials[["trial_id", "status", "error"]]
    for rec in ResultStore(folder).finished():
        assert run_trial(TrialConfig.from_dict(rec.config)).final["test_acc"] == rec.final["test_acc"], rec.trial_id
