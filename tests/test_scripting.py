"""Output for scripts: `bench sweep --json` (one JSON object, last line of stdout or a file), `bench report
--format csv|json` (the leaderboard and pairwise tables as files pandas and json read back), shell completion,
and every environment variable bench reads listed in `bench --help`."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.report import tables as tb
from tests.report_fixture import make_run
from tests.test_cli import finished_sweep  # noqa: F401 - a fixture: a finished sweep folder, run_sweep stubbed

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def board_of(folder: Path) -> pd.DataFrame:
    return tb.leaderboard(tb.prepare(pd.read_parquet(folder / "trials.parquet")))


def same_rows(rows: list[dict], board: pd.DataFrame) -> None:
    assert [(r["group"], str(r["level"])) for r in rows] == list(zip(board["group"], board["level"].astype(str),
                                                                      strict=True))
    for r, mean in zip(rows, board["mean"], strict=True):
        assert (r["mean"] is None and math.isnan(mean)) or r["mean"] == pytest.approx(mean, rel=1e-12)


def test_sweep_json_is_the_last_stdout_line_with_the_leaderboard(finished_sweep):  # noqa: F811
    folder, _ = finished_sweep
    res = runner.invoke(app, ["sweep", "optimizers", "--quick", "--out", str(folder.parent), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["run"] == str(folder) and out["complete"] and out["exit_code"] == 0 and out["total_trials"] == 9
    same_rows(out["leaderboard"], board_of(folder))
    assert {"seeds", "ci_low", "ci_high", "best_params", "flag"} <= set(out["leaderboard"][0])


def test_sweep_json_to_a_file(finished_sweep, tmp_path):  # noqa: F811
    folder, _ = finished_sweep
    res = runner.invoke(app, ["sweep", "optimizers", "--out", str(folder.parent), "--json-file", str(tmp_path / "o.json")])
    assert res.exit_code == 0, res.output
    same_rows(json.loads((tmp_path / "o.json").read_text())["leaderboard"], board_of(folder))
    with pytest.raises(json.JSONDecodeError):
        json.loads(res.stdout.strip().splitlines()[-1])


def test_report_csv_and_json_hold_the_leaderboard_and_pairwise_rows(tmp_path):
    run = make_run(tmp_path / "opt-run")
    trials = tb.prepare(pd.read_parquet(run / "trials.parquet"))
    board, pairs = board_of(run), tb.pairwise(trials)
    res = runner.invoke(app, ["report", str(run), "--format", "csv", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    read = pd.read_csv(tmp_path / "r" / "opt-run" / "leaderboard.csv")
    same_rows(read.to_dict("records"), board)
    assert len(board) > 1 and read["seeds"].tolist() == board["seeds"].tolist()
    read_pairs = pd.read_csv(tmp_path / "r" / "opt-run" / "pairwise.csv")
    assert len(pairs) > 0 and read_pairs[["a", "b", "outcome"]].values.tolist() == pairs[["a", "b", "outcome"]].values.tolist()
    assert read_pairs["p_holm"].to_numpy() == pytest.approx(pairs["p_holm"].to_numpy(), nan_ok=True)
    res = runner.invoke(app, ["report", str(run), "--format", "json", "--out", str(tmp_path / "j")])
    assert res.exit_code == 0, res.output
    both = json.loads((tmp_path / "j" / "opt-run" / "tables.json").read_text())
    same_rows(both["leaderboard"], board)
    assert len(both["pairwise"]) == len(pairs) and not (tmp_path / "j" / "opt-run" / "index.html").exists()


def test_report_format_is_checked_before_anything_is_written(tmp_path):
    run = make_run(tmp_path / "opt-run")
    res = runner.invoke(app, ["report", str(run), "--format", "xlsx", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "choose one of: html, md, csv, json" in res.output and not (tmp_path / "r").exists()


def environment_variables() -> set[str]:
    """Every environment variable the package's code reads or sets, found in its source."""
    found = set()
    for path in (ROOT / "bench").rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r"environ(?:\.get|\.pop)?[(\[]\s*\"([A-Z][A-Z0-9_]+)\"", text))
        found |= set(re.findall(r"\"([A-Z][A-Z0-9_]+)\" (?:not )?in os\.environ", text))
        found |= set(re.findall(r"^\s+\"((?:RAY|TUNE)_[A-Z0-9_]+)\":", text, re.M))  # the RAY_DEFAULTS table
    return found


def test_help_lists_every_environment_variable_and_completion_is_on():
    res = runner.invoke(app, ["--help"], terminal_width=200)
    assert res.exit_code == 0
    names = environment_variables()
    assert {"BENCH_CACHE", "RAY_USE_TLS", "TUNE_MAX_PENDING_TRIALS_PG", "RAY_USAGE_STATS_ENABLED"} <= names
    missing = sorted(n for n in names if n not in res.output)
    assert not missing, f"not in bench --help: {missing}"
    assert "--install-completion" in res.output and "--show-completion" in res.output
