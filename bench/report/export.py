"""The report's tables as data for scripts: the leaderboard and the pairwise comparisons as CSV or JSON files
(`bench report RUN --format csv|json`), and the leaderboard as JSON records (`bench sweep ... --json`).

The rows are the report's own (tables.leaderboard, tables.pairwise), unrounded; missing numbers are empty in CSV
and null in JSON."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.report import tables as tb
from bench.results import atomic_write

FORMATS = ("html", "md", "csv", "json")


def records(df: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A table's rows as JSON-ready dicts (NaN and NA as None, numpy scalars as Python numbers)."""
    if df is None or df.empty:
        return []
    return json.loads(df.to_json(orient="records", double_precision=15))


def report_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The leaderboard and the pairwise comparisons of prepared run tables (render.load)."""
    return {"leaderboard": tb.leaderboard(tables["trials"], tables.get("epochs")),
            "pairwise": tb.pairwise(tables["trials"])}


def write_tables(tables: dict[str, pd.DataFrame], folder: Path, fmt: str) -> list[Path]:
    """leaderboard.csv and pairwise.csv, or tables.json holding both; returns the written paths."""
    found = report_tables(tables)
    if fmt == "csv":
        paths = []
        for name, df in found.items():
            atomic_write(folder / f"{name}.csv", df.to_csv(index=False).encode())
            paths.append(folder / f"{name}.csv")
        return paths
    atomic_write(folder / "tables.json", json.dumps({k: records(v) for k, v in found.items()}, indent=1).encode())
    return [folder / "tables.json"]
