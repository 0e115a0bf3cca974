"""The tidy result store: one JSON part per finished trial, consolidated into Parquet tables.

Layout of a run folder:
  parts/<trial_id>.json   one finished trial (written atomically; what --resume reads)
  trials.parquet          one row per trial: tags, flattened config, status, error, final metrics
  epochs.parquet          trial_id, epoch, split, metric, value
  gradients.parquet       trial_id, step, epoch, layer, grad_norm, ...
  run.json                provenance (versions, git commit, device, command line)
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config import ConfigError

SPLITS = ("train", "val", "test")
TABLES = ("trials", "epochs", "gradients")


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_writable(folder: Path) -> Path:
    """Create the folder and prove we can write there before any work starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"cannot write to output folder {folder} ({e.strerror}); pass a writable --out") from None
    return folder


def new_run_folder(root: Path, prefix: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder, n = root / f"{prefix}-{stamp}", 1
    while folder.exists():
        n += 1
        folder = root / f"{prefix}-{stamp}-{n}"
    return ensure_writable(folder)


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
    status: str
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
        atomic_write(self.parts / f"{rec.trial_id}.json", json.dumps(asdict(rec), default=float).encode())

    def finished(self) -> list[TrialRecord]:
        if not self.parts.exists():
            return []
        return [TrialRecord(**json.loads(p.read_text())) for p in sorted(self.parts.glob("*.json"))]

    def write_provenance(self, info: dict[str, Any]) -> None:
        atomic_write(self.folder / "run.json", json.dumps(info, indent=2, default=str).encode())

    def consolidate(self) -> dict[str, pd.DataFrame]:
        tables = to_tables(self.finished())
        for name, df in tables.items():
            atomic_parquet(df, self.folder / f"{name}.parquet")
        return tables


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


def read_run(folder: Path | str) -> dict[str, Any]:
    """Load a run folder's tables (consolidating parts if the run was interrupted) and provenance."""
    folder = Path(folder)
    if not (folder / "trials.parquet").exists() and not (folder / "parts").exists():
        raise ConfigError(f"{folder} is not a bench run folder (no trials.parquet); pass a folder under runs/")
    tables = ({n: pd.read_parquet(folder / f"{n}.parquet") for n in TABLES}
              if (folder / "trials.parquet").exists() else to_tables(ResultStore(folder).finished()))
    info = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
    return {**tables, "provenance": info}


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
