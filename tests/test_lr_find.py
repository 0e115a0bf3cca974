"""bench lr-find: the curve as CSV and as a PNG with the suggestion marked, and a warning when the loss never fell
meaningfully (the suggestion is then noise)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from bench.cli import app
from bench.lr_finder import suggest_lr, unreliable
from bench.report.figures import lr_range

runner = CliRunner()


def curve(start: float, low: float, n: int = 30) -> pd.DataFrame:
    lrs = np.geomspace(1e-4, 10, n)
    smoothed = np.concatenate([np.linspace(start, low, n - 5), np.linspace(low, 3 * start, 5)])
    return pd.DataFrame({"lr": lrs, "loss": smoothed, "smoothed_loss": smoothed})


def test_a_loss_that_barely_fell_makes_the_suggestion_unreliable():
    assert "fell only 1.6% (2.311 -> 2.275" in unreliable(curve(2.311, 2.275))  # SGD on MNIST-1D, as seen
    assert unreliable(curve(2.3, 1.2)) == ""
    assert unreliable(curve(2.3, 2.3 * 0.89)) == "" and unreliable(curve(2.3, 2.3 * 0.91)) != ""  # the 10% line


def test_the_figure_marks_the_suggestion_on_a_log_lr_axis():
    c = curve(2.3, 1.2)
    s = suggest_lr(c)
    fig = lr_range(c, s, "unreliable: the loss never fell meaningfully")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "unreliable" in fig._suptitle.get_text()
    marks = [line for line in ax.get_lines() if list(line.get_xdata()) == [s, s]]
    assert len(marks) == 1 and f"suggested lr {s:.3g}" == marks[0].get_label()


def test_lr_find_writes_the_png_and_warns_on_a_flat_curve(tmp_path):
    res = runner.invoke(app, ["lr-find", "--workload", "mnist1d-mlp", "--steps", "30", "--min-lr", "1e-7",
                              "--max-lr", "1e-6", "--out", str(tmp_path), "--set", "width=16"])  # too small to learn
    assert res.exit_code == 0, res.output
    folder = next(tmp_path.glob("lrfind-*"))
    assert (folder / "lr_range.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "suggestion is unreliable" in res.stderr and f"plot: {folder / 'lr_range.png'}" in res.stdout
