"""The tidy result store: one JSON part per finished trial, consolidated into Parquet tables.

Layout of a run folder:
  parts/<trial_id>.json   one finished trial (written atomically; what --resume reads)
  trials.parquet          one row per trial: tags, flattened config, status, error, final metrics
  epochs.parquet          trial_id, epoch, split, metric, value
  gradients.parquet       trial_id, step, epoch, layer, grad_norm, ...
  run.json                provenance (versions, git commit, device, command line)
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config import ConfigError
from bench.errors import FULL
from bench.status import TrialStatus

SPLITS = ("train", "val", "test")
TABLES = ("trials", "epochs", "gradients")
UNREADABLE = "unreadable-parts"  # where unreadable parts are moved, beside parts/ (kept for inspection, never read)
LOCK = ".lock"
CHECKSUM = "sha256"  # a part's field holding the checksum of the rest of it


class OutputError(ConfigError):
    """A result file could not be written (disk full, quota, read-only): one line naming the file, exit 2.
    `problem`: that line without its advice; `full`: the disk or quota is full (freeing space lets a run go on)."""

    def __init__(self, message: str, problem: str = "", full: bool = False):
        super().__init__(message)
        self.problem, self.full = problem or message, full


def warn(message: str) -> None:
    """A problem the command works around (it goes on): one line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (changing it is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[int, str], None]) -> None:
    """Write through a temporary file in the same folder, then rename: readers never see half a file, and a
    failed write (a full disk) leaves the old file, or none, and no temporary file behind."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as e:
        raise output_error(path, e) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared like any file
        write(fd, tmp)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise output_error(path, e) from None
        raise


def output_error(path: Path | str, e: OSError) -> OutputError:
    """The one-line error of a failed write of `path`, with the advice that fits its cause."""
    full = e.errno in FULL
    hint = "free some space or pass another --out" if full else {
        errno.EROFS: "pass a writable --out", errno.EACCES: "pass a writable --out"}.get(e.errno, "check the folder")
    problem = f"cannot write {path} ({e.strerror or e})"
    return OutputError(f"{problem}; {hint}", problem, full=full)


def atomic_write(path: Path, data: bytes) -> None:
    def write(fd: int, tmp: str) -> None:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    _atomic(path, write)


def atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    def write(fd: int, tmp: str) -> None:
        os.close(fd)
        df.to_parquet(tmp, index=False)
    _atomic(path, write)


def ensure_writable(folder: Path) -> Path:
    """Create the folder and prove we can write there before any work starts. The probe file has a name of its own
    (mkstemp): a fixed name let one of two concurrent probes delete the other's before it was read back."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"cannot write to output folder {folder} ({e.strerror}); pass a writable --out") from None
    return folder


def new_run_folder(root: Path, prefix: str) -> Path:
    """A run folder named by the time, made by this process alone: mkdir either creates it or fails because another
    process did, never both (checking that a name is free and then creating it let two processes share one)."""
    ensure_writable(root)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        folder = root / (f"{prefix}-{stamp}" if n == 1 else f"{prefix}-{stamp}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise output_error(folder, e) from None
        return ensure_writable(folder)
    raise OutputError(f"{root} already holds 9,999 runs named {prefix}-{stamp}*; pass another --out")


@contextmanager
def fresh_run_folder(root: Path, prefix: str) -> Iterator[Path]:
    """A new run folder that is removed again if writing into it fails: a failed command leaves no folder."""
    folder = new_run_folder(root, prefix)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold <folder>/.lock while a command writes to a run folder (a sweep, a FAQ run, a study, a report): a second
    writer stops with one line instead of running the same trials or deleting the first one's parts. The lock is
    the kernel's (filelock over flock), so it dies with its process; the file names its holder. The same thread may
    take it again (a study the FAQ runs locks its own folder inside the FAQ's); another thread or process may not."""
    from filelock import FileLock, Timeout

    path = (Path(folder) / LOCK).resolve()
    lock = FileLock(path, timeout=0, is_singleton=True, fallback_to_soft=False, on_acquired=_name_holder)
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise ConfigError(f"{folder} is in use by {_holder(path)}; wait for it to end (or stop it), or pass another "
                          "folder") from None
    except OSError as e:
        if e.errno not in (errno.ENOLCK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise output_error(path, e) from None
        warn(f"cannot lock {path} ({e.strerror or e}); do not write to this folder from two commands at once")
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _name_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.write(fd, f"bench (pid {os.getpid()} on {platform.node()})".encode())


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "another process"
    except OSError:
        return "another process"


def plain_name(name: str, option: str = "--name") -> str:
    """A folder name that stays inside its parent: no path separators, not '.' or '..', no leading dot."""
    if not re.fullmatch(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]*", name):
        raise ConfigError(f"{option} {name!r} must be a plain folder name: letters, digits, '_', '-', '+' and '.', "
                          "not starting with '.' (no '/', '.' or '..')")
    return name


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from importlib.metadata import version

    import torch

    def v(pkg: str) -> str:
        try:
            return version(pkg)
        except Exception:
            return "absent"

    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),  # no install path in shareable files
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "versions": {p: v(p) for p in ("bench", "torch", "ray", "optuna", "numpy", "pandas")},
        **(extra or {}),
    }


@dataclass
class TrialRecord:
    """A finished trial as stored: the TrialResult's fields plus the sweep's tags (phase, level, ...)."""
    trial_id: str
    tags: dict[str, Any]
    config: dict[str, Any]
    status: TrialStatus
    final: dict[str, float]
    epochs: list[dict[str, Any]]
    gradients: list[dict[str, Any]]
    error: str = ""


def record(trial_id: str, result: Any, tags: dict[str, Any] | None = None) -> TrialRecord:
    return TrialRecord(trial_id, tags or {}, result.config, result.status, result.final, result.epochs,
                       result.gradients, result.error)


class ResultStore:
    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.parts = self.folder / "parts"

    def add(self, rec: TrialRecord) -> None:
        """Write a trial's part with the sha256 of its content inside it. Inside, not in a sidecar file: a part stays
        one file written atomically, and the FAQ's and the studies' cache, which copies parts byte for byte, copies
        the checksum with it. It is taken of the record as JSON reads it back (numpy numbers made floats), so that
        reading recomputes it exactly."""
        body = json.loads(json.dumps(asdict(rec), default=float))
        atomic_write(self.parts / f"{rec.trial_id}.json", json.dumps({**body, CHECKSUM: canonical_sha256(body)}).encode())

    def finished(self) -> list[TrialRecord]:
        """The readable parts. An unreadable one (truncated, empty, not a trial, edited since it was written, named
        unlike its trial) is moved to unreadable-parts/ with a warning naming it: the others still count, and a
        --resume runs its trial again."""
        if not self.parts.exists():
            return []
        records = []
        for path in sorted(self.parts.glob("*.json")):
            try:
                records.append(read_part(path))
            except ValueError as e:
                self._set_aside(path, str(e))
        return records

    def _set_aside(self, path: Path, problem: str) -> None:
        dest = self.folder / UNREADABLE / path.name
        try:
            dest.parent.mkdir(exist_ok=True)
            os.replace(path, dest)
            where = f"moved to {dest}"
        except OSError:  # a read-only run folder: leave it, still skip it
            where = "left in place"
        warn(f"unusable result part {path} ({problem}); {where}; its trial is left out (a --resume runs it again)")

    def write_provenance(self, info: dict[str, Any]) -> None:
        atomic_write(self.folder / "run.json", json.dumps(info, indent=2, default=str).encode())

    def consolidate(self) -> dict[str, pd.DataFrame]:
        tables = to_tables(self.finished())
        for name, df in tables.items():
            atomic_parquet(df, self.folder / f"{name}.parquet")
        return tables


_PART_TYPES = {"trial_id": str, "tags": dict, "config": dict, "status": str, "final": dict, "epochs": list,
               "gradients": list, "error": str, CHECKSUM: str}


def read_part(path: Path, named: bool = True) -> TrialRecord:
    """One trial's part, checked field by field; ValueError says what is wrong with it. `named`: the file is
    named after its trial (a part; a cache entry is named after its config)."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as e:
        raise ValueError(e.strerror or str(e)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if missing := sorted({f.name for f in fields(TrialRecord) if f.name != "error"} - set(data)):  # sha256: optional
        raise ValueError(f"missing {', '.join(missing)}")
    if unknown := sorted(set(data) - set(_PART_TYPES)):
        raise ValueError(f"unknown fields {', '.join(unknown)}")
    for key, value in data.items():
        if not isinstance(value, _PART_TYPES[key]):
            raise ValueError(f"{key} is {type(value).__name__}, expected {_PART_TYPES[key].__name__}")
    if data["status"] not in set(TrialStatus):
        raise ValueError(f"status {data['status']!r} is none of {', '.join(TrialStatus)}")
    if CHECKSUM in data and data.pop(CHECKSUM) != canonical_sha256(data):  # parts written before checksums have none
        raise ValueError("its content no longer matches its sha256: edited after its trial wrote it")
    if named and data["trial_id"] != path.stem:  # a renamed or copied part: its trial would count twice, or under another id
        raise ValueError(f"it holds trial {data['trial_id']!r}, not the trial {path.stem!r} its name says")
    return TrialRecord(**{**data, "status": TrialStatus(data["status"])})


def canonical_sha256(data: Any) -> str:
    """The sha256 of data as canonical JSON (sorted keys, no spaces): equal data, equal checksum, however laid out."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _split_metric(key: str) -> tuple[str, str]:
    head, _, tail = key.partition("_")
    return (head, tail) if head in SPLITS and tail else ("train", key)


def to_tables(records: list[TrialRecord]) -> dict[str, pd.DataFrame]:
    trials, epochs, grads = [], [], []
    for r in records:
        trials.append({"trial_id": r.trial_id, **r.tags, **r.config, "status": r.status, "error": r.error, **r.final})
        for row in r.epochs:
            for key, value in row.items():
                if key not in ("epoch", "step"):
                    split, metric = _split_metric(key)
                    epochs.append({"trial_id": r.trial_id, "epoch": row["epoch"], "split": split,
                                   "metric": metric, "value": float(value)})
        grads.extend({"trial_id": r.trial_id, **g} for g in r.gradients)
    epoch_cols = ["trial_id", "epoch", "split", "metric", "value"]
    return {"trials": pd.DataFrame(trials), "epochs": pd.DataFrame(epochs, columns=epoch_cols),
            "gradients": pd.DataFrame(grads)}


def has_results(folder: Path | str) -> bool:
    """Whether a folder holds a run's results (tables or at least one part), as opposed to nothing yet."""
    folder = Path(folder)
    return (folder / "trials.parquet").is_file() or any((folder / "parts").glob("*.json"))


def read_run(folder: Path | str) -> dict[str, Any]:
    """Load a run folder's tables (from its parts if the run was interrupted, or if a table is unreadable and
    the parts are there to rebuild it) and provenance."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; pass a run folder under runs/")
    if not (folder / "trials.parquet").exists() and not (folder / "parts").exists():
        raise ConfigError(f"{folder} is not a bench run folder (no trials.parquet); pass a folder under runs/")
    return {**read_tables(folder), "provenance": read_provenance(folder)}


def read_tables(folder: Path) -> dict[str, pd.DataFrame]:
    if not (folder / "trials.parquet").exists():
        return to_tables(ResultStore(folder).finished())
    tables = {}
    for name in TABLES:
        path = folder / f"{name}.parquet"
        try:
            tables[name] = pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ... for a damaged file
            problem = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if not any((folder / "parts").glob("*.json")):
                raise ConfigError(f"{path} is unreadable ({problem}) and there are no parts/ to rebuild it from; "
                                  "restore the file or run the experiment again") from None
            warn(f"{path} is unreadable ({problem}); reading the run from its parts/ instead")
            return to_tables(ResultStore(folder).finished())
        check_schema(tables[name], path)
    return tables


# The columns every table of a run holds (gradients: when it has any row); a table without them is not bench's.
SCHEMA = {"trials": ("trial_id", "status"), "epochs": ("trial_id", "epoch", "split", "metric", "value"),
          "gradients": ("trial_id",)}


def check_schema(df: pd.DataFrame, path: Path) -> None:
    """Refuse a table that is not one bench wrote (a foreign Parquet file under a bench name), naming it."""
    if path.stem == "gradients" and df.columns.empty:
        return
    if missing := [c for c in SCHEMA[path.stem] if c not in df.columns]:
        raise ConfigError(f"{path} is not a bench {path.stem} table (no {', '.join(missing)} column); restore it, or "
                          "delete it to rebuild it from parts/")


def read_provenance(folder: Path) -> dict[str, Any]:
    """run.json as a dict ({} when absent); a damaged one is a one-line error naming it."""
    path = Path(folder) / "run.json"
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_bytes())
    except OSError as e:
        raise ConfigError(f"cannot read {path} ({e.strerror or e})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); restore it, or delete it to go on without the run's "
                          "provenance") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{path} holds a JSON {type(info).__name__}, not an object; restore it, or delete it to go "
                          "on without the run's provenance")
    return info


class RunClock:
    """A run's wall time over its sessions, for run.json: a resumed run adds this session's seconds to those its
    run.json recorded (`previous`, {} for a new run). A session killed before it wrote its time adds none. run.json
    records `wall_time` (every recorded session's seconds in all) and `sessions` (how many); one written before
    sessions were counted holds its last session's time only, and counts as one."""

    def __init__(self, previous: dict[str, Any] | None = None):
        previous = previous or {}
        seconds, sessions = previous.get("wall_time"), previous.get("sessions", 1)
        # a hand-edited value that is no time (or no count) is dropped, not trusted: the time is for reading only
        timed = type(seconds) in (int, float) and math.isfinite(seconds) and seconds >= 0
        self.before = float(seconds) if timed else 0.0
        self.sessions = (sessions if type(sessions) is int and sessions >= 1 else 1) if timed else 0
        self.t0 = time.perf_counter()

    def carried(self) -> dict[str, Any]:
        """What run.json says while this session runs: the earlier sessions' time, kept should this one be killed."""
        return {"wall_time": self.before, "sessions": self.sessions} if self.sessions else {}

    def elapsed(self) -> float:
        """This session's seconds so far."""
        return time.perf_counter() - self.t0

    def fields(self) -> dict[str, Any]:
        """What run.json says once this session has ended, however it ended."""
        return {"wall_time": round(self.before + self.elapsed(), 1), "sessions": self.sessions + 1}


def plan_identity(kind: str, plan: dict[str, Any]) -> dict[str, Any]:
    """What run.json records so that a --resume can check it continues the same run: the kind of run, this bench's
    version, the plan (what defines which trials run with which configs: a sweep's resolved space, a FAQ
    experiment's cells and budget, a study's size and seeds) as JSON reads it back, and its sha256."""
    from bench import __version__

    plan = json.loads(json.dumps(plan, default=str))  # tuples as lists: the plan as run.json will give it back
    return {"kind": kind, "bench_version": __version__, "plan": plan, "plan_sha256": canonical_sha256(plan)}


def check_resume(folder: Path, identity: dict[str, Any], force: bool = False,
                 recorded_plan: dict[str, Any] | None = None) -> list[str]:
    """Compare the run folder a --resume continues with this command's plan_identity: its run.json's kind, bench
    version and plan (`recorded_plan`: the plan as the folder keeps it elsewhere, e.g. a sweep's space.yaml).
    Without `force` a difference is a ConfigError naming it (nothing is written); with it, the differences are
    returned, for run.json's "forced". A run.json from before these were recorded is checked for what it has."""
    info = read_provenance(folder)
    differences = []
    if info.get("kind") not in (None, identity["kind"]):
        differences.append(f"kind {info['kind']} -> {identity['kind']}")
    version = info.get("bench_version") or (info.get("versions") or {}).get("bench")
    if version not in (None, "absent", identity["bench_version"]):
        differences.append(f"bench version {version} -> {identity['bench_version']}")
    plan = info.get("plan") if recorded_plan is None else json.loads(json.dumps(recorded_plan, default=str))
    if plan is not None and canonical_sha256(plan) != identity["plan_sha256"]:
        differences.append(first_difference(plan, identity["plan"]))
    if differences and not force:
        raise ConfigError(f"{folder} was started with other inputs ({'; '.join(differences)}); resume it with the "
                          "inputs it was started with, or pass --force to resume it anyway")
    return differences


def first_difference(before: Any, now: Any, where: str = "") -> str:
    """'budget.epochs 1 -> 2', 'cells[3].lr ...': the first key or item (depth first) whose value differs, with both
    values (shortened)."""
    if isinstance(before, dict) and isinstance(now, dict):
        for key in [*now, *(k for k in before if k not in now)]:
            if before.get(key) != now.get(key):
                return first_difference(before.get(key), now.get(key), f"{where}.{key}" if where else str(key))
    if isinstance(before, list) and isinstance(now, list) and len(before) == len(now):
        i = next(i for i, (a, b) in enumerate(zip(before, now, strict=True)) if a != b)
        return first_difference(before[i], now[i], f"{where}[{i}]")

    def short(value: Any) -> str:
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."

    return f"{where or 'plan'} {short(before)} -> {short(now)}"


def merge_runs(folders: list[Path | str]) -> dict[str, pd.DataFrame]:
    """Concatenate several runs; trial ids are prefixed by the run folder's name to stay unique."""
    parts: dict[str, list[pd.DataFrame]] = {n: [] for n in TABLES}
    for folder in folders:
        run = read_run(folder)
        for name in TABLES:
            df = run[name].copy()
            if "trial_id" in df:
                df["trial_id"] = Path(folder).name + "/" + df["trial_id"].astype(str)
            if name == "trials":
                df["run"] = Path(folder).name
            parts[name].append(df)
    return {n: pd.concat(dfs, ignore_index=True) if dfs else pd.DataFrame() for n, dfs in parts.items()}
