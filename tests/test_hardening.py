"""Faults and hostile inputs: each gets one line on stderr naming the file or key, exit code 2, no traceback, and
nothing half-written; damaged result state is set aside and re-run, not fatal. The CLI cases run `python -m bench`
in a subprocess, as a user would."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from bench.results import run_lock
from bench.search.space import load_space

ROOT = Path(__file__).resolve().parents[1]
TINY = {"width": 4, "fc_width": 8, "depth": 1, "n_train": 512, "probe_every": 2}


def tiny_space(**over) -> dict:
    space = {"name": "tiny", "compare": "optimizer", "levels": ["adam", "sgd"], "workloads": ["mnist1d-cnn"],
             "fixed": dict(TINY), "tune": {"lr": {"min": 1.0e-3, "max": 1.0e-1, "scaling": "log"}},
             "budget": {"trials_per_level": 2, "epochs": 1, "seeds": 1}}
    return {**space, **over}


def bench(*args: str, cwd: Path | None = None, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a fresh process that imports this checkout's bench."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)


def one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit code 2, exactly one line on stderr, containing every needle, and no traceback anywhere."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --- sweeps: --address, data, locks, temporary folders ---------------------------------------------------------

class TcpServer:
    """A loopback server that is not a Ray head: it accepts and then either stays silent or answers HTTP/1.1."""

    def __init__(self, reply: bytes):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.reply, self.conns = reply, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.reply:
                conn.recv(1024)
                conn.sendall(self.reply)

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"], ids=["silent", "http"])
def test_address_of_a_server_that_is_not_ray_fails_in_seconds(tmp_path, reply):
    server = TcpServer(reply)
    try:
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump(tiny_space()))
        # it used to hang for minutes; the timeout (not an assertion on time) turns a hang into a failure
        res = bench("sweep", str(path), "--out", str(tmp_path / "runs"), "--address", server.address, timeout=60)
    finally:
        server.close()
    one_line_error(res, server.address, "not as a Ray head")
    assert not (tmp_path / "runs").exists()


def test_address_check_accepts_an_http2_server():
    """The check asks for what a Ray head's gRPC server sends first (an HTTP/2 SETTINGS frame), nothing more."""
    from bench.search.tune import _check_reachable

    server = TcpServer(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    try:
        _check_reachable(server.address)
    finally:
        server.close()


def write_corrupt_cifar(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage, not a CIFAR archive")
    return folder


def test_sweep_with_missing_data_stops_before_any_trial(tmp_path):
    """Data are loaded once in the driver, before Ray: a broken dataset is one line, and no run folder exists."""
    data = write_corrupt_cifar(tmp_path / "data")
    path = tmp_path / "cifar.yaml"
    path.write_text(yaml.safe_dump(tiny_space(workloads=["cifar10-cnn"], fixed={**TINY, "data_dir": str(data)})))
    res = bench("sweep", str(path), "--out", str(tmp_path / "runs"))
    one_line_error(res, "CIFAR-10 archive", str(data / "cifar-10-python.tar.gz"), "truncated or corrupt")
    assert not (tmp_path / "runs").exists()
    assert tree(data) == ["cifar-10-python.tar.gz"]  # no extraction left behind


def test_datasets_are_loaded_once_per_distinct_data(monkeypatch):
    from dataclasses import replace

    from bench.search import sweep
    from bench.workloads import WORKLOADS

    calls = []
    for name in ("mnist1d-cnn", "mnist1d-mlp"):
        monkeypatch.setitem(WORKLOADS, name, replace(WORKLOADS[name], load=calls.append))
    sweep.load_datasets(load_space(tiny_space(workloads=["mnist1d-cnn", "mnist1d-mlp"])))
    assert [cfg.workload for cfg in calls] == ["mnist1d-cnn", "mnist1d-mlp"]  # once each, not once per level
    calls.clear()
    sweep.load_datasets(load_space(tiny_space(compare="seq_len", levels=[0, 20])))
    assert [cfg.seq_len for cfg in calls] == [0, 20]  # a level that changes the data loads its own


def make_sweep_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "runs" / "tiny-20250101-000000"
    folder.mkdir(parents=True)
    (folder / "space.yaml").write_text(yaml.safe_dump(load_space(tiny_space()).to_dict(), sort_keys=False))
    return folder


def test_a_locked_run_folder_cannot_be_resumed_twice(tmp_path):
    folder = make_sweep_folder(tmp_path)
    before = tree(folder)
    with run_lock(folder):
        res = bench("sweep", "--resume", str(folder))  # another thread: tests/test_locks.py
    one_line_error(res, str(folder), "is in use by bench (pid")
    assert tree(folder) == sorted([*before, ".lock"])
    with run_lock(folder):  # released at the end of the block
        pass


def test_temporary_folders_of_killed_sweeps_are_removed_by_the_next(tmp_path, monkeypatch):
    from bench.search.tune import tune_storage

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"bench-tune-{dead.pid}-abc"
    live = tmp_path / f"bench-tune-{os.getppid()}-def"
    for folder in (orphan, live):
        (folder / "trial").mkdir(parents=True)
    new = Path(tune_storage())
    assert new.parent == tmp_path and new.name.startswith(f"bench-tune-{os.getpid()}-")
    assert not orphan.exists() and live.exists()


# --- search-space files: limits checked before anything is built ---------------------------------------------

SPACE = "compare: optimizer\nlevels: [adam, sgd]\nworkloads: [mnist1d-cnn]\ntune: {lr: {min: 0.001, max: 0.1}}\n"


def alias_bomb() -> str:
    """The 'billion laughs' in YAML: 600 bytes that expand to 9**9 strings; `name` holds it."""
    lines = ['name: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"x{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text,key,problem", [
    (alias_bomb(), "line 6", "more than 100,000 values once YAML aliases are expanded"),
    ("a: " + "[" * 10_000 + "]" * 10_000 + "\n" + SPACE, "line 1", "nested deeper than 32 levels"),
], ids=["alias-bomb", "deep-nesting"])
def test_hostile_space_files_are_refused_in_a_real_process(tmp_path, text, key, problem):
    """A MemoryError or RecursionError needs a real process to show: the user's, with its default limits."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    # a closed --address: were the file accepted, the sweep would stop there instead of starting Ray
    res = bench("sweep", str(path), "--out", str(tmp_path / "runs"), "--address", f"127.0.0.1:{closed_port()}")
    one_line_error(res, f"{path}: {key}: {problem}")
    assert not (tmp_path / "runs").exists()


BAD_SPACES = [  # (file bytes, key named in the message, problem named in the message)
    (b"# " + b"x" * (1 << 20) + b"\n" + SPACE.encode(), "", "bytes; a search space file may hold at most 1,048,576"),
    (SPACE.encode() + b"description: caf\xe9\n", "line 5", "byte b'\\xe9' is not UTF-8"),
    (SPACE.replace("[adam, sgd]", "[[1, 2], sgd]").encode(), "levels[0]", "[1, 2] is a list; expected one value"),
    (SPACE.replace("[mnist1d-cnn]", "[{a: 1}]").encode(), "workloads[0]", "{'a': 1} is a dict; expected one value"),
    ((SPACE + "fixed: {schedule: [cosine]}\n").encode(), "fixed.schedule", "['cosine'] is a list"),
    (SPACE.replace("max: 0.1", "max: .nan").encode(), "tune.lr.max", "expected a finite number, got nan"),
    (SPACE.replace("max: 0.1", "max: .inf").encode(), "tune.lr.max", "expected a finite number, got inf"),
    ((SPACE + "budget: {trials_per_level: 3000000}\n").encode(), "budget.trials_per_level",
     "3,000,000 is beyond any sweep that could finish; at most 10,000"),
    ((SPACE + "budget: {epochs: 1000000000}\n").encode(), "budget.epochs", "at most 100,000"),
    (SPACE.replace("[adam, sgd]", "[sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad]")
     .replace("[mnist1d-cnn]", "[mnist1d-cnn, mnist1d-mlp]").encode() + b"budget: {trials_per_level: 9000, seeds: 1000}\n",
     "budget.trials_per_level", "the sweep would run 140,028 trials"),
    ((SPACE + "name: [a, b]\n").encode(), "name", "['a', 'b'] must be letters"),
    ((SPACE + "description: {a: 1}\n").encode(), "description", "expected text, got dict"),
]


@pytest.mark.parametrize("raw,key,problem", BAD_SPACES, ids=[f"{k or 'size'}:{p[:20]}" for _, k, p in BAD_SPACES])
def test_bad_space_file_is_one_line_before_anything_runs(tmp_path, monkeypatch, raw, key, problem):
    from typer.testing import CliRunner

    from bench.cli import app

    monkeypatch.setattr("bench.search.sweep.run_sweep", lambda *a, **k: pytest.fail("the sweep started"))
    path = tmp_path / "bad.yaml"
    path.write_bytes(raw)
    res = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "runs")])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output
    assert lines[0].startswith(f"error: {path}: {key}") and problem in lines[0], lines[0]
    assert not (tmp_path / "runs").exists()


# --- damaged result state: set aside and named, never a traceback -----------------------------------------------

def test_unreadable_parts_are_moved_aside_and_named(tmp_path, capsys):
    from bench.results import UNREADABLE, ResultStore, TrialRecord

    store = ResultStore(tmp_path / "run")
    store.add(TrialRecord("good", {}, {"lr": 0.1}, "ok", {"test_acc": 0.5}, [], []))
    whole = (store.parts / "good.json").read_bytes()
    damaged = {"truncated": whole[: len(whole) // 2], "empty": b"", "garbage": b"\xff\xfe\x00\x81 not json",
               "list": b"[]", "fields": b'{"trial_id": "fields"}', "types": whole.replace(b'"ok"', b"7")}
    for name, data in damaged.items():
        (store.parts / f"{name}.json").write_bytes(data)
    assert [r.trial_id for r in store.finished()] == ["good"]
    assert sorted(p.stem for p in (store.folder / UNREADABLE).iterdir()) == sorted(damaged)
    assert (store.folder / UNREADABLE / "garbage.json").read_bytes() == damaged["garbage"]  # kept as it was
    warnings = capsys.readouterr().err.strip().splitlines()
    assert len(warnings) == len(damaged)
    for name in damaged:
        assert sum(str(store.parts / f"{name}.json") in w and "moved to" in w for w in warnings) == 1
    assert [r.trial_id for r in store.finished()] == ["good"] and not capsys.readouterr().err  # said once


@pytest.fixture
def run_dir(tmp_path) -> Path:
    from tests.report_fixture import make_run

    return make_run(tmp_path / "runs" / "opt-20250101-000000")


def test_report_from_a_truncated_table_falls_back_to_the_parts(run_dir, tmp_path):
    from typer.testing import CliRunner

    from bench.cli import app

    table = run_dir / "trials.parquet"
    table.write_bytes(table.read_bytes()[:100])
    res = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "reports")])
    assert res.exit_code == 0, res.output
    assert f"warning: {table} is unreadable" in res.stderr and "reading the run from its parts/" in res.stderr
    assert (tmp_path / "reports" / run_dir.name / "report.md").is_file()


@pytest.mark.parametrize("damage,needle", [
    ("table", "trials.parquet is unreadable"), ("run.json", "run.json is not valid JSON"),
    ("run.json-list", "run.json holds a JSON list, not an object"),
])
def test_damaged_run_files_are_one_line_naming_the_file(run_dir, tmp_path, damage, needle):
    import shutil

    if damage == "table":
        shutil.rmtree(run_dir / "parts")  # nothing to rebuild the table from
        (run_dir / "trials.parquet").write_bytes(b"PAR1 truncated")
    else:
        (run_dir / "run.json").write_text('{"kind": "sweep", "comp' if damage == "run.json" else "[1, 2]")
    res = bench("report", str(run_dir), "--out", str(tmp_path / "reports"))
    one_line_error(res, str(run_dir), needle)
    assert not (tmp_path / "reports").exists()


def test_report_of_runs_star_skips_empty_run_folders(run_dir, tmp_path):
    from typer.testing import CliRunner

    from bench.cli import app

    empty = run_dir.parent / "opt-20250102-000000"  # what a run that failed before its first trial left behind
    empty.mkdir()
    res = CliRunner().invoke(app, ["report", str(empty), str(run_dir), "--out", str(tmp_path / "reports"),
                                   "--name", "all"])
    assert res.exit_code == 0, res.output
    assert res.stderr.strip() == f"warning: skipping {empty}: no results in it yet (no trials.parquet, no parts/)"
    assert (tmp_path / "reports" / "all" / "report.md").is_file()
    alone = CliRunner().invoke(app, ["report", str(empty), "--out", str(tmp_path / "reports")])
    assert alone.exit_code == 2 and "is not a bench run folder with results" in alone.stderr


def test_report_of_an_unfinished_sweep_says_so(run_dir, tmp_path):
    import json

    from bench.report.render import write_report

    for part in (run_dir / "parts").glob("adding.sgd.seed-*.json"):  # sgd's seeds on adding have not run yet
        part.unlink()
    (run_dir / "trials.parquet").unlink()
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "complete": False, "finished_trials": 58, "total_trials": 63}))
    md = write_report([run_dir], tmp_path / "reports").with_name("report.md").read_text()
    assert f"Unfinished: {run_dir.name} has 58 of 63 trials (run.json complete: false)" in md
    row = next(line for line in md.splitlines() if "| sgd |" in line and "unfinished" in line)
    assert "(unfinished: no final-phase seed yet)" in row
    assert "(not tuned)" not in md


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../escape", ".hidden", "a\\b"])
def test_report_name_must_be_a_plain_folder_name(run_dir, tmp_path, name):
    from typer.testing import CliRunner

    from bench.cli import app

    out = tmp_path / "reports" / "inner"
    res = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out), "--name", name])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--name {name!r} must be a plain folder name" in lines[0]
    assert not (tmp_path / "reports").exists()


# --- output files: the umask, a full disk --------------------------------------------------------------------

@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_result_files_follow_the_umask(tmp_path, mask):
    import pandas as pd

    from bench.results import atomic_parquet, atomic_write

    old = os.umask(mask)
    try:
        atomic_write(tmp_path / "a.json", b"{}")
        atomic_parquet(pd.DataFrame({"x": [1]}), tmp_path / "b.parquet")
    finally:
        os.umask(old)
    for name in ("a.json", "b.parquet"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask


def full_disk(monkeypatch) -> None:
    """Every file opened through os.fdopen takes half of what is written to it, then the disk is full."""
    import errno

    real = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Full(real(fd, *a, **k)))


def test_full_disk_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    from bench.results import OutputError, atomic_write

    target = tmp_path / "run.json"
    target.write_bytes(b'{"old": true}')
    full_disk(monkeypatch)
    with pytest.raises(OutputError, match=f"cannot write {target} \\(No space left on device\\); free some space"):
        atomic_write(target, b'{"new": true, "padding": "' + b"x" * 1000 + b'"}')
    assert target.read_bytes() == b'{"old": true}' and [p.name for p in tmp_path.iterdir()] == ["run.json"]


@pytest.mark.parametrize("command", [["study", "exploding", "--budget", "tiny"],
                                     ["faq", "--budget", "tiny", "--questions", "8.2"]])
def test_a_disk_that_fills_during_a_study_or_the_faq_says_free_space_then_resume(tmp_path, monkeypatch, command):
    """A full disk mid-run stops `bench study` and `bench faq` as it stops a sweep: one line naming the file, and
    the way on that keeps the finished trials (free space, then --resume), not another --out; exit 2. A read-only
    folder keeps its own advice."""
    import errno

    from typer.testing import CliRunner

    import bench.faq.main
    import bench.search.runners
    import bench.studies.exploding
    from bench.cli import app
    from bench.results import output_error

    def fill(e: OSError, raw: bool = False):
        def run(*a, **k):
            raise e if raw else output_error(tmp_path / "out" / "parts" / "x.json", e)
        return run

    class NoRay:  # the run is faked: no Ray needs to start
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(bench.search.runners, "RayTune", NoRay)
    for module, name in ((bench.studies.exploding, "run"), (bench.faq.main, "answer")):
        monkeypatch.setattr(module, name, fill(OSError(errno.ENOSPC, "No space left on device")))
    folders = ["--runs", str(tmp_path / "runs"), "--studies", str(tmp_path / "studies")] if command[0] == "faq" else []
    res = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "out"), *folders])
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "No space left on device" in lines[0] and "free some space, then add --resume to the same command" in lines[0]
    assert "another --out" not in lines[0] and "Traceback" not in res.output
    for module, name in ((bench.studies.exploding, "run"), (bench.faq.main, "answer")):  # a write of Ray's or Arrow's
        monkeypatch.setattr(module, name, fill(OSError(errno.ENOSPC, "No space left on device", "/tmp/x"), raw=True))
    res = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "out1"), *folders])
    assert res.exit_code == 2 and "free some space, then add --resume to the same command" in res.stderr, res.output
    for module, name in ((bench.studies.exploding, "run"), (bench.faq.main, "answer")):
        monkeypatch.setattr(module, name, fill(OSError(errno.EROFS, "Read-only file system")))
    res = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "out2"), *folders])
    assert res.exit_code == 2 and "pass a writable --out" in res.stderr and "--resume" not in res.stderr


def test_full_disk_during_bench_run_is_one_line_and_leaves_no_run_folder(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bench.cli import app

    out = tmp_path / "runs"
    full_disk(monkeypatch)
    res = CliRunner().invoke(app, ["run", "--workload", "mnist1d-mlp", "--epochs", "1", "--out", str(out), "--quiet",
                                   "--set", "width=8", "--set", "n_train=256", "--set", "threads=1"])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "trial-0000.json" in lines[0]
    assert "Traceback" not in res.output and tree(out) == []


# --- commands: data, devices, extras, messages ---------------------------------------------------------------

@pytest.mark.parametrize("command", ["run", "lr-find"])
def test_missing_data_leaves_no_run_folder(tmp_path, command):
    from typer.testing import CliRunner

    from bench.cli import app

    data = write_corrupt_cifar(tmp_path / "data")
    res = CliRunner().invoke(app, [command, "--workload", "cifar10-cnn", "--set", f"data_dir={data}",
                                   "--out", str(tmp_path / "runs")])
    assert res.exit_code == 2 and "CIFAR-10 archive" in res.stderr, res.output
    assert tree(tmp_path / "runs") == []


def test_an_unreadable_imdb_review_is_named(imdb_dir):
    from bench.data import imdb
    from bench.data.base import DatasetMissing

    review = imdb_dir / "aclImdb" / "train" / "neg" / "6_3.txt"
    review.write_bytes(b"Boring \xff\xfe plot")
    with pytest.raises(DatasetMissing, match=f"IMDB review {review.resolve()} is unreadable \\(byte b'\\\\xff' at "
                                             "offset 7 is not UTF-8\\)"):
        imdb.load(imdb_dir)


@pytest.mark.skipif(__import__("importlib").util.find_spec("aiohttp") is not None,
                    reason="Ray's dashboard packages are installed here")
def test_dashboard_without_its_packages_says_how_to_get_them(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_space()))
    res = bench("sweep", str(path), "--dashboard", "--out", str(tmp_path / "runs"))
    one_line_error(res, "--dashboard needs Ray's dashboard packages", "pip install 'bench[dashboard]'")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("space,quick,out,resume,argv", [
    ("optimizers", True, Path("my runs"), "last", ["sweep", "optimizers", "--quick", "--out", "my runs", "--resume", "last"]),
    (None, False, Path("runs"), "runs/it's here", ["sweep", "--resume", "runs/it's here"]),
    ("a b.yaml", False, Path("runs"), "last", ["sweep", "a b.yaml", "--resume", "last"]),
])
def test_the_printed_resume_command_survives_copy_and_paste(space, quick, out, resume, argv):
    import shlex

    from bench.cli import resume_command

    command = resume_command(space, quick, out, resume)
    assert shlex.split(command) == ["bench", *argv]


@pytest.mark.slow
def test_resume_reruns_the_trial_of_an_unreadable_part(tmp_path):
    """A damaged part is set aside and its trial runs again, with the configuration it had (exact resume)."""
    import json

    from bench.search.sweep import run_sweep
    from bench.search.tune import ray_session

    space = tiny_space(levels=["adam"], budget={"trials_per_level": 2, "epochs": 1, "seeds": 1})
    with ray_session(None, dashboard=False):
        folder = run_sweep(space, tmp_path / "runs", progress=False)
        parts = sorted((folder / "parts").glob("*.json"))
        victim = next(p for p in parts if ".tune-" in p.name)
        before = json.loads(victim.read_text())
        damaged = victim.read_bytes()[:40]
        victim.write_bytes(damaged)
        assert run_sweep(space, tmp_path / "runs", resume=folder, progress=False) == folder
    assert sorted((folder / "parts").glob("*.json")) == parts
    assert (folder / "unreadable-parts" / victim.name).read_bytes() == damaged
    after = json.loads(victim.read_text())
    assert after["config"] == before["config"] and after["final"]["test_acc"] == before["final"]["test_acc"]
    run = json.loads((folder / "run.json").read_text())
    assert run["complete"] and run["resumed_with"] == len(parts) - 1 == 4  # 2 tuning, 2 confirm, 1 final


def test_an_unreadable_suggestion_is_ignored_with_a_warning(tmp_path, capsys):
    from bench.search.protocol import SUGGESTED_DIR, read_suggestions, write_suggestion

    write_suggestion(tmp_path, "w.adam.tune-000", {"lr": 0.01}, 0)
    write_suggestion(tmp_path, "w.adam.tune-001", {"lr": 0.02}, 0)
    bad = tmp_path / SUGGESTED_DIR / "w.adam.tune-001.json"
    bad.write_bytes(bad.read_bytes()[:10])
    assert list(read_suggestions(tmp_path)) == ["w.adam.tune-000"]
    assert f"warning: unreadable suggestion {bad} ignored" in capsys.readouterr().err


def test_sighup_ends_a_command_like_ctrl_c_unless_nohup_ignores_it(cli_signals):
    """The terminal closing (SIGHUP) takes the interrupt path that saves results and removes temporary folders; an
    ignored SIGHUP (nohup) or SIGINT (a script's background job) stays ignored."""
    import signal

    errors = cli_signals
    assert signal.getsignal(signal.SIGTERM) is signal.getsignal(signal.SIGHUP) is errors._interrupt
    assert signal.getsignal(signal.SIGINT) is errors._interrupt
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(1)  # the handler runs before this returns
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup bench ...: the user asked to survive it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # bench ... & in a script
    errors.signals_as_interrupts()
    assert signal.getsignal(signal.SIGHUP) is signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_sigterm_exits_143_even_where_a_library_turned_its_interrupt_into_a_plain_ctrl_c(cli_signals):
    """Ray's and Tune's driver code may catch bench's Terminated and raise a bare KeyboardInterrupt in its place:
    the exit status still follows the signal received (143), and a new command starts from Ctrl-C's 130."""
    import signal

    errors = cli_signals
    with pytest.raises(errors.Terminated):
        errors._interrupt(signal.SIGTERM, None)
    assert errors.exit_status(KeyboardInterrupt()) == 143 and errors.exit_status(errors.Terminated(1)) == 129
    errors.signals_as_interrupts()
    assert errors.exit_status(KeyboardInterrupt()) == 130
