"""Report figures drawn from the hand-made sweep: labelled axes, readable PNGs, and the planted data visible."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import seaborn as sns
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage

from bench.report import figures as fg
from bench.report import tables as tb
from bench.results import read_run
from tests.report_fixture import EPOCHS, LAYERS, LEVELS, SEEDS, finished_seeds, make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, pd.DataFrame]:
    tables = read_run(make_run(tmp_path_factory.mktemp("figs") / "opt"))
    tables["trials"] = tb.prepare(tables["trials"])
    return tables


def visible_axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def legends(fig) -> list:
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]


def legend_texts(fig) -> list:
    return [t for legend in legends(fig) for t in legend.get_texts()]


BUILDERS = {
    "scores": lambda t: fg.score_distribution(t["trials"]),
    "learning_curves": lambda t: fg.learning_curves(t["trials"], t["epochs"]),
    "lr_sensitivity": lambda t: fg.lr_sensitivity(t["trials"]),
    "importance": lambda t: fg.importance(t["trials"]),
    "gradients": lambda t: fg.gradient_heatmap(t["trials"], t["gradients"]),
    "gap": lambda t: fg.generalization_gap(t["trials"], t["epochs"]),
    "time_to_target": lambda t: fg.time_to_target(t["trials"], t["epochs"]),
}


@pytest.fixture(scope="module")
def figs(run) -> dict:
    """Each figure drawn once for the module (drawing dominates the time of these tests)."""
    return {name: build(run) for name, build in BUILDERS.items()}


@pytest.mark.parametrize("name", BUILDERS)
def test_every_figure_is_titled_labelled_and_a_readable_png(figs, name):
    fig = figs[name]
    assert fig._suptitle is not None and fig._suptitle.get_text()
    axes = visible_axes(fig)
    assert len(axes) >= 2  # one panel per workload (the gradient map: per workload and level)
    for ax in axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    width, height = fig.get_size_inches() * fg.DPI  # the PNG bytes themselves are checked in test_report
    assert 500 <= width <= 2500 and 250 <= height <= 1500


def test_score_distribution_shows_every_seed(figs):
    fig = figs["scores"]
    for ax in visible_axes(fig):
        dots = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
        workload = ax.get_title().split()[0]
        assert dots == sum(finished_seeds(workload, level) for level in LEVELS)  # 15 on mnist1d-cnn, 14 on adding
    cnn = next(ax for ax in visible_axes(fig) if ax.get_title().startswith("mnist1d-cnn"))
    assert [t.get_text() for t in cnn.get_xticklabels()] == ["adam", "rmsprop", "sgd"]  # best mean first
    assert "accuracy" in cnn.get_ylabel()


def test_learning_curve_line_is_the_mean_over_seeds(run, figs):
    fig = figs["learning_curves"]
    cnn = next(ax for ax in visible_axes(fig) if ax.get_title() == "mnist1d-cnn")
    line = next(ln for ln in cnn.get_lines() if ln.get_label().startswith("adam"))
    df, ep = run["trials"], run["epochs"]
    ids = df[(df["workload"] == "mnist1d-cnn") & (df["level"] == "adam") & (df["phase"] == "final")]["trial_id"]
    last = ep[ep["trial_id"].isin(ids) & (ep["split"] == "val") & (ep["metric"] == "acc") & (ep["epoch"] == EPOCHS)]
    assert line.get_ydata()[-1] == pytest.approx(last["value"].mean())
    assert line.get_label() == f"adam ({len(SEEDS)} seeds)"


def test_lr_sensitivity_is_log_scaled_points_and_marks_diverged_trials(run, figs):
    fig = figs["lr_sensitivity"]
    tune = run["trials"][(run["trials"]["phase"] == tb.TUNE) & (run["trials"]["status"] == "ok")]
    for ax in visible_axes(fig):
        assert ax.get_xscale() == "log"
        assert not [ln for ln in ax.get_lines() if len(ln.get_xdata())]  # no line joins trials of differing configs
        markers = [c for c in ax.collections if isinstance(c, PathCollection)]
        hollow = [c for c in markers if len(c.get_facecolors()) == 0]
        points = [c for c in markers if c not in hollow and not c.get_label().startswith("_")]
        assert sum(len(c.get_offsets()) for c in markers if c not in hollow + points) == 3  # lr = 1 of adam, rmsprop; sgd's error
        assert sum(len(c.get_offsets()) for c in hollow) == 1  # the trial ASHA stopped
        assert sum(len(c.get_offsets()) for c in points) == (tune["group"] == ax.get_title()).sum()  # one dot a trial
    assert len(legends(fig)) == 1 and sorted(t.get_text() for t in legend_texts(fig)) == sorted(LEVELS)  # one legend


def test_importance_finds_the_parameter_that_matters():
    # Two levels with the same response to the LR: the level explains nothing, the LR everything.
    lrs = np.geomspace(1e-4, 1, 8)
    rows = [{"trial_id": f"{level}{i}", "phase": "tune", "group": "w", "level": level, "tuned": "lr", "lr": lr,
             "status": "ok", "objective": 0.9 - 0.1 * (np.log10(lr) + 2) ** 2, "target_metric": "test_acc",
             "target_mode": "max", "score": np.nan} for level in ("a", "b") for i, lr in enumerate(lrs)]
    imp = tb.param_importance(pd.DataFrame(rows)).set_index("param")["importance"]
    assert set(imp.index) == {"lr", "level"} and imp.sum() == pytest.approx(1.0)
    assert imp["lr"] > 0.9 and imp["level"] < 0.1


def test_gradient_heatmap_orders_layers_by_depth(figs):
    fig = figs["gradients"]
    ax = visible_axes(fig)[0]
    image = next(a for a in ax.get_children() if isinstance(a, AxesImage))
    assert image.get_array().shape == (len(LAYERS), EPOCHS)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(LAYERS)
    assert np.all(np.diff(image.get_array()[:, 0]) < 0)  # planted: norms shrink with depth


def test_gap_is_validation_minus_training_loss(figs):
    fig = figs["gap"]
    line = visible_axes(fig)[0].get_lines()[0]
    assert line.get_ydata() == pytest.approx([0.05 * e for e in range(1, EPOCHS + 1)])  # planted val - train


def test_time_to_target_counts_seeds_that_never_reached_it(figs):
    fig = figs["time_to_target"]
    labels = [t.get_text() for ax in visible_axes(fig) for t in ax.get_yticklabels()]
    assert f"sgd ({len(SEEDS)} never)" in labels


def test_missing_data_raises_no_data_with_a_reason(run):
    final_only = run["trials"][run["trials"]["phase"] == "final"]
    with pytest.raises(fg.NoData, match="tuning"):
        fg.lr_sensitivity(final_only)
    with pytest.raises(fg.NoData, match="probe"):
        fg.gradient_heatmap(run["trials"], pd.DataFrame())
    with pytest.raises(fg.NoData):
        fg.importance(final_only)


def test_axis_labels_carry_units():
    assert fg.axis_label("test_acc") == "test accuracy (fraction correct)"
    assert fg.axis_label("val_mse") == "validation MSE (squared target units)"


# --- readability: ranges, legends, overlapping and NaN lines, seeds, font sizes ------------------------------------

def drawn(fig):
    """Lay the figure out (as saving it would) so that text and legend extents are final."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def test_learning_curve_bands_stay_inside_the_metric_range(run):
    ep = run["epochs"].copy()
    df = run["trials"]
    adam = df[(df["level"] == "adam") & (df["phase"] == "final") & (df["workload"] == "mnist1d-cnn")]["trial_id"]
    rows = ep["trial_id"].isin(adam) & (ep["metric"] == "acc") & (ep["split"] == "val")
    ep.loc[rows, "value"] = np.where(ep.loc[rows, "trial_id"].str[-1].astype(int) % 2, 0.999, 0.45)  # wide CI near 1
    fig = fg.learning_curves(df, ep)
    cnn = next(ax for ax in visible_axes(fig) if ax.get_title().startswith("mnist1d-cnn"))
    bands = [p for c in cnn.collections for p in c.get_paths()]
    assert bands and all(0.0 <= y <= 1.0 for p in bands for y in p.vertices[:, 1])
    assert cnn.get_ylim()[1] < 1.1


@pytest.mark.parametrize("name", ["learning_curves", "lr_sensitivity", "gap"])
def test_legends_sit_beside_the_data(figs, name):
    fig = drawn(figs[name])
    assert legends(fig)
    for legend in legends(fig):
        for ax in visible_axes(fig):
            assert not legend.get_window_extent().overlaps(ax.get_window_extent())


@pytest.mark.parametrize("name", BUILDERS)
def test_no_text_below_the_readable_size(figs, name):
    small = [t.get_text() for t in drawn(figs[name]).findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
             if t.get_text() and t.get_visible() and t.get_fontsize() < fg.MIN_FONT]
    assert not small, small


def lines_figure(curves: dict[str, list[list[float]]], **kw):
    """One panel, one seaborn line per config and seed (as the gradient studies draw), with a legend."""
    rows = [{"config": c, "seed": s, "step": i, "y": v} for c, seeds in curves.items()
            for s, ys in enumerate(seeds) for i, v in enumerate(ys)]
    fig, (ax,) = fg.panels(1, "test")
    sns.lineplot(pd.DataFrame(rows), x="step", y="y", hue="config", units="seed", estimator=None, ax=ax, **kw)
    ax.set_title("panel")
    return fig, ax


def test_identical_lines_are_named_and_near_ones_are_not():
    fig, ax = lines_figure({"sgd": [[0.1, 0.1, 0.1]], "momentum": [[0.1, 0.1, 0.1]], "nesterov": [[0.1, 0.1, 0.1]],
                            "adam": [[0.1, 0.5, 0.9]], "adamw": [[0.1, 0.52, 0.9]]})
    notes = fg.tidy(fig)
    assert notes == ["sgd, momentum and nesterov overlap"]
    assert "sgd, momentum and nesterov overlap" in ax.get_title()


def test_a_run_that_went_nan_is_named_instead_of_listed():
    fig, ax = lines_figure({"lecun": [[1.0, 2.0, 3.0]], "lecun+residual": [[np.nan] * 3], "kaiming": [[3.0, 2.0, 1.0]]})
    notes = fg.tidy(fig)
    assert "lecun+residual went NaN (not drawn)" in notes
    assert [t.get_text() for t in legend_texts(fig)] == ["lecun", "kaiming"]
    assert "lecun+residual went NaN" in ax.get_title()


def test_seeds_of_one_config_are_drawn_as_one_line_and_a_band():
    fig, ax = lines_figure({"a": [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], "b": [[10.0, 10.0, 10.0], [20.0, 20.0, 20.0]]})
    notes = fg.tidy(fig, merge_seeds=True)
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
    assert sorted(tuple(ln.get_ydata()) for ln in lines) == [(2.0, 3.0, 4.0), (15.0, 15.0, 15.0)]
    assert len(ax.collections) == 2 and "line: mean over seeds; band: their range" in notes
    assert fg.tidy(fig, merge_seeds=True) == notes and len(ax.get_lines()) == len(lines) + 2  # once only


def test_overlap_notes_keep_the_details_that_tell_entries_apart():
    fig, ax = lines_figure({"tanh RNN (Adam)": [[0.5, 0.2, 0.0]], "IRNN (Adam)": [[0.5, 0.2, 0.0]],
                            "tanh RNN (SGD)": [[0.0, 0.0, 0.0]]})
    assert fg.tidy(fig) == ["tanh RNN (Adam) and IRNN (Adam) overlap"]


def test_overlap_notes_stay_readable_for_names_with_commas_and_when_everything_overlaps():
    assert fg.words(["tanh RNN, SGD", "tanh RNN, SGD + clip 1", "GRU"]) == "tanh RNN, SGD; tanh RNN, SGD + clip 1 and GRU"
    fig, _ = lines_figure({"a": [[0.0, 0.0]], "b": [[0.0, 0.0]], "c": [[0.0, 0.0]]})
    assert fg.tidy(fig) == ["all 3 lines overlap"]
    assert fg.short("adam (5 seeds)") == "adam" and fg.short("IRNN (Adam + clip 1)") == "IRNN (Adam + clip 1)"


@pytest.mark.parametrize("name", BUILDERS)
def test_every_figure_is_drawn_at_the_width_a_page_shows_it(figs, name):
    """A page shows a figure at most about 1150 px wide at 1280 px: one drawn wider is shrunk, its text with it.
    Each PNG states its smallest text in pixels, which the browser test checks against the shown width."""
    import io

    from PIL import Image

    data = fg.png(figs[name])
    width = Image.open(io.BytesIO(data)).size[0]
    assert width <= fg.MAX_WIDTH * fg.DPI + 1
    assert fg.png_font_px(data) >= fg.MIN_FONT * fg.DPI / 72 - 0.05


def test_a_row_of_panels_too_wide_for_the_page_is_laid_out_in_rows():
    """The studies draw their panels side by side (3 x 4.8 in): the figure is reflowed, not shrunk."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14.4, 4.1), dpi=fg.DPI, layout="constrained")
    axes = fig.subplots(1, 3, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        ax.plot([1, 2, 3], [k, k + 1, k], label=f"config {k}")
        ax.legend()
    fg.tidy(fig)
    assert fig.get_figwidth() <= fg.MAX_WIDTH + 1e-6
    rows = {ax.get_subplotspec().rowspan.start for ax in axes}
    assert rows == {0, 1} and min(ax.get_position().width for ax in axes) * fig.get_figwidth() > 3.0  # inches a panel


def test_importance_of_many_levels_enters_the_level_as_its_rank_and_finds_it():
    """Beyond IMPORTANCE_MAX_CATEGORIES levels, fANOVA's categorical would take exponential time: the level enters
    as its rank by mean objective. Planted: the level sets the score, the LR does nothing."""
    n = tb.IMPORTANCE_MAX_CATEGORIES + 4
    rng = np.random.default_rng(0)
    rows = [{"trial_id": f"l{k}-{i}", "phase": "tune", "group": "w", "level": f"l{k:02d}", "tuned": "lr",
             "lr": float(10 ** rng.uniform(-4, 0)), "status": "ok", "objective": 0.5 + 0.03 * ((7 * k) % n),
             "target_metric": "test_acc", "target_mode": "max", "score": np.nan} for k in range(n) for i in range(6)]
    df = pd.DataFrame(rows)
    ranks = tb.level_encoding(df)
    assert sorted(ranks.values()) == list(range(n)) and ranks[max(ranks, key=ranks.get)] == n - 1
    assert [df[df["level"] == lv]["objective"].iloc[0] for lv in sorted(ranks, key=ranks.get)] == \
        sorted(df.groupby("level")["objective"].first())  # rank order is mean-objective order
    imp = tb.param_importance(df).set_index("param")["importance"]
    assert imp["level"] > 0.9 and imp["lr"] < 0.1


def test_a_png_from_elsewhere_states_no_text_size():
    assert fg.png_font_px(b"not a png") is None and fg.png_font_px(b"\x89PNG\r\n\x1a\n") is None


def test_a_sweep_of_50_levels_draws_the_10_best_per_line_figure_and_its_scores_one_level_per_row(tmp_path):
    """Beyond MAX_LINES levels, line and scatter figures draw the best MAX_LINES by mean final score and say so in
    the panel's title (50 stacked lines are a blur); beyond MAX_COLUMNS the box plot puts one level per row, best
    at the top. No panel collapses (matplotlib warns when constrained layout cannot fit one)."""
    import sys
    import warnings
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from report_scale import build

    build(tmp_path, levels=50, trials=3)
    tables = read_run(tmp_path)
    trials = tb.prepare(tables["trials"])
    final = tb.final_scores(trials)
    best = list(final.groupby("level")["score"].mean().sort_values(ascending=False).index[:fg.MAX_LINES])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "constrained_layout not applied because axes sizes collapsed to zero"
        for name in ("learning_curves", "lr_sensitivity", "gap"):
            fig = BUILDERS[name](tables | {"trials": trials})
            shown = {fg.short(t.get_text()) for t in legend_texts(fig)}
            assert shown == set(best), name
            assert f"the {fg.MAX_LINES} best of 50 levels by mean final score" in visible_axes(fig)[0].get_title()
            fg.png(fig)
        fig = BUILDERS["scores"](tables | {"trials": trials})
        ax = visible_axes(fig)[0]
        assert [t.get_text() for t in ax.get_yticklabels()][:3] == best[:3]  # one level per row, best first
        fg.png(fig)
