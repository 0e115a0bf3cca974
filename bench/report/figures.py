"""Report figures: pure functions from prepared result tables (see tables.prepare) to matplotlib Figures.

Figures are built on `matplotlib.figure.Figure` (no pyplot state, no GUI backend) and drawn with seaborn.
Each function raises NoData with a reason when its tables hold nothing to plot, so the report can say why
a figure is missing. One panel per group (tables.groups); a level keeps its colour in every figure.
"""
from __future__ import annotations

import io
import math
import re
import textwrap
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from bench.report import stats as st
from bench.report import tables as tb
from bench.status import TrialStatus

DPI = 120
PANEL = (4.6, 3.4)  # inches per panel
MAX_WIDTH = 9.4  # inches: 1128 px at DPI, about the width a page shows a figure at on a 1280 px screen (no shrinking)
MAX_COLS = 3
MAX_LAYER_LABELS = 16
MIN_FONT = 9  # points: the smallest text a figure keeps (at 120 dpi, 7 pt shrank to ~6 pt in a browser)
OVERLAP = 0.005  # lines whose gap stays within this share of the panel's y span are drawn on top of each other
UNITS = {"acc": "accuracy (fraction correct)", "f1": "F1 score (0-1)", "precision": "precision (0-1)",
         "recall": "recall (0-1)", "mse": "MSE (squared target units)", "loss": "loss (per sample)"}
SPLIT_WORDS = {"test": "test", "val": "validation", "train": "training"}


class NoData(ValueError):
    """The tables hold nothing this figure can show; the message says what is missing."""


def axis_label(metric: str) -> str:
    """'test_acc' -> 'test accuracy (fraction correct)'."""
    split, _, name = metric.partition("_")
    if not name:
        split, name = "", split
    return f"{SPLIT_WORDS.get(split, split)} {UNITS.get(name, name)}".strip()


def palette(levels: list[str]) -> dict[str, tuple]:
    """One colour per level, the same in every figure of a report."""
    colours = sns.color_palette("tab10" if len(levels) <= 10 else "husl", len(levels))
    return dict(zip(levels, colours, strict=True))


MAX_LINES = 10  # levels drawn per panel of a line or scatter figure; more stack into a blur nobody can read
MAX_COLUMNS = 12  # levels side by side in a box plot; more are drawn one per row


def top_levels(final: pd.DataFrame, group: str) -> tuple[list[str], str]:
    """The levels of `group` a line or scatter figure draws -- all, or beyond MAX_LINES the MAX_LINES of best mean
    final score (a figure is a picture of the leaders; the tables and the leaderboard keep every level) -- and
    the note the panel's title gets then ("" when all are drawn)."""
    part = final[final["group"] == group]
    names = tb.levels(part)
    if len(names) <= MAX_LINES:
        return names, ""
    mode = tb.metric_of(part)[1]
    means = part.groupby("level", sort=False)["score"].mean()
    best = list(means.sort_values(ascending=not tb.higher_is_better(mode), na_position="last").index[:MAX_LINES])
    return best, f"the {MAX_LINES} best of {len(names)} levels by mean final score"


def panels(n: int, title: str, panel: tuple[float, float] = PANEL) -> tuple[Figure, list]:
    """A figure of n panels, as many per row as fit in MAX_WIDTH (a wider figure is shown shrunk, its text with it)."""
    cols = max(1, min(n, MAX_COLS, int(MAX_WIDTH // panel[0])))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(min(max(panel[0] * cols, 6.0), MAX_WIDTH), panel[1] * rows + 0.6), dpi=DPI,
                 layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12, wrap=True)
    return fig, list(axes[:n])


FONT_KEY = "bench-min-font-px"  # PNG text chunk: the smallest text of the image, in pixels at its natural size


def png(fig: Figure) -> bytes:
    """The figure as PNG, at most MAX_WIDTH wide, stating its smallest text size (FONT_KEY) for the page."""
    fit_width(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={FONT_KEY: f"{min_font_pt(fig) * DPI / 72:.1f}"})
    return buf.getvalue()


def png_font_px(data: bytes) -> float | None:
    """The smallest text of a PNG that png() wrote, in pixels at its natural size (None for other PNGs)."""
    from PIL import Image, UnidentifiedImageError

    try:
        value = Image.open(io.BytesIO(data)).text.get(FONT_KEY)
    except (UnidentifiedImageError, OSError):  # not a PNG this module can read: it states nothing
        return None
    return float(value) if value else None


def texts(fig: Figure) -> list:
    """Every visible, non-empty text of the figure (titles, labels, ticks, legends, annotations)."""
    return [t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
            if t.get_text() and t.get_visible()]


def min_font_pt(fig: Figure) -> float:
    return min((t.get_fontsize() for t in texts(fig)), default=float(MIN_FONT))


def fit_width(fig: Figure) -> None:
    """A figure wider than MAX_WIDTH (panels side by side, drawn elsewhere) gets its panels in rows instead, so
    that it is shown at its natural size rather than shrunk with its text."""
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_subplotspec() is not None]
    width, height = fig.get_size_inches()
    if width <= MAX_WIDTH + 1e-6 or not axes:
        return
    rows, cols = axes[0].get_subplotspec().get_gridspec().get_geometry()
    panel_w, panel_h = width / cols, (height - 0.6) / rows
    fit = max(1, int(MAX_WIDTH / panel_w + 0.25))  # panels may narrow by a fifth rather than stack one a row
    if fit < len(axes) and rows == 1:
        grid = fig.add_gridspec(math.ceil(len(axes) / fit), fit)
        for k, ax in enumerate(axes):
            ax.set_subplotspec(grid[k // fit, k % fit])
        fig.set_size_inches(min(panel_w * fit, MAX_WIDTH), panel_h * math.ceil(len(axes) / fit) + height - panel_h * rows)
    else:
        fig.set_figwidth(MAX_WIDTH)


def score_distribution(df: pd.DataFrame) -> Figure:
    """Box plot plus every seed of the final-phase scores per level; one panel per group."""
    final = tb.final_scores(df)
    if final["score"].notna().sum() == 0:
        raise NoData("no final-phase trial finished with a score")
    colours = palette(tb.levels(df))
    names = tb.groups(final)
    most = max(final.groupby("group")["level"].nunique())
    rows = most > MAX_COLUMNS  # many levels: one per row, best at the top, the panel as tall as they need
    fig, axes = panels(len(names), "Final score per level over seeds (box: quartiles; dots: seeds)",
                       (PANEL[0], max(PANEL[1], 0.26 * most + 1.2)) if rows else PANEL)
    for ax, group in zip(axes, names, strict=True):
        part = final[final["group"] == group]
        metric, mode = tb.metric_of(part)
        order = list(part.groupby("level", sort=False)["score"].mean()
                     .sort_values(ascending=not tb.higher_is_better(mode), na_position="last").index)
        ok = part[part["score"].notna()]
        axes_of = {"y": "level", "x": "score"} if rows else {"x": "level", "y": "score"}
        sns.boxplot(ok, **axes_of, hue="level", order=order, palette=colours, ax=ax, showfliers=False,
                    boxprops={"alpha": 0.35}, legend=False)
        sns.stripplot(ok, **axes_of, hue="level", order=order, palette=colours, ax=ax, size=4 if rows else 6,
                      edgecolor="black", linewidth=0.6, jitter=0.15, legend=False)
        failed = part[part["score"].isna()].groupby("level").size()
        ticks = [f"{lv}\n({failed[lv]} failed)" if lv in failed else lv for lv in order]
        better = "higher" if tb.higher_is_better(mode) else "lower"
        if rows:
            ax.set_yticks(range(len(order)), [t.replace("\n", " ") for t in ticks])
            ax.set(title=f"{group} ({better} is better)", ylabel=str(part["compare"].iloc[0]),
                   xlabel=axis_label(metric))
        else:
            ax.set_xticks(range(len(order)), ticks)
            ax.set(title=f"{group} ({better} is better)", xlabel=str(part["compare"].iloc[0]),
                   ylabel=axis_label(metric))
            ax.tick_params(axis="x", labelrotation=30 if len(order) > 4 else 0)
    tidy(fig)
    return fig


def _band(ax, curves: pd.DataFrame, colour: tuple, label: str,
          bounds: tuple[float, float] = (-math.inf, math.inf), alpha: float = 0.2) -> None:
    """Mean over seeds per epoch and its 95% CI (stats.mean_ci), clipped to the metric's range, as a shaded band
    (a t-interval over 3 seeds near 0% or 100% accuracy would otherwise reach below 0 or above 1)."""
    agg = curves.groupby("epoch")["value"].agg(lambda v: (v.mean(), *st.clip_ci(st.mean_ci(v), bounds)))
    epochs = agg.index.to_numpy()
    mean, lo, hi = (np.array([t[i] for t in agg]) for i in range(3))
    ax.plot(epochs, mean, color=colour, label=label, marker="o", markersize=3)
    ax.fill_between(epochs, np.where(np.isnan(lo), mean, lo), np.where(np.isnan(hi), mean, hi), color=colour,
                    alpha=alpha, linewidth=0)


def band_alpha(levels: int) -> float:
    """Opacity of a CI band: fainter when many levels' bands stack up and would hide each other's lines."""
    return 0.2 if levels <= 4 else 0.08


def _epoch_metric(epochs: pd.DataFrame, split: str, metric: str) -> pd.DataFrame:
    return epochs[(epochs["split"] == split) & (epochs["metric"] == metric)]


def learning_curves(df: pd.DataFrame, epochs: pd.DataFrame) -> Figure:
    """Validation target metric per epoch of the final-phase seeds: mean and 95% CI band per level."""
    final = tb.final_scores(df)
    if epochs is None or epochs.empty or final.empty:
        raise NoData("no per-epoch metrics for final-phase trials")
    colours = palette(tb.levels(df))
    names = tb.groups(final)
    fig, axes = panels(len(names), "Learning curves of the final seeds (line: mean; band: 95% CI over seeds)")
    drawn = 0
    for ax, group in zip(axes, names, strict=True):
        part = final[final["group"] == group]
        metric = tb.metric_of(part)[0].partition("_")[2]
        shown, note = top_levels(final, group)
        val = _epoch_metric(epochs, "val", metric).merge(part[["trial_id", "level"]], on="trial_id")
        val = val[val["level"].isin(shown)]
        for level, curves in val.groupby("level", sort=False):
            _band(ax, curves, colours[level], f"{level} ({curves['trial_id'].nunique()} seeds)",
                  st.metric_bounds(metric), band_alpha(val["level"].nunique()))
            drawn += 1
        ax.set(title=f"{group}\n{note}" if note else group, xlabel="epoch", ylabel=axis_label(f"val_{metric}"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    if not drawn:
        raise NoData("the epochs table has no validation metric matching the target")
    tidy(fig)
    return fig


def lr_sensitivity(df: pd.DataFrame) -> Figure:
    """Tuning objective (validation) against learning rate, log x, one point per tuning trial and level (no line:
    trials at neighbouring LRs differ in their other hyperparameters too); diverged or failed tuning trials are
    marked x at the bottom, trials ASHA stopped early are hollow circles at the value they had then."""
    tune = df[df["phase"] == tb.TUNE]
    if tune.empty or "lr" not in tune or tune["lr"].nunique() < 2:
        raise NoData("no tuning phase over the learning rate")
    colours = palette(tb.levels(df))
    names = tb.groups(tune)
    fig, axes = panels(len(names), "Learning-rate sensitivity in the tuning phase (dot: one trial; x: diverged or "
                                   "failed; hollow: stopped early)")
    final = tb.final_scores(df)
    for ax, group in zip(axes, names, strict=True):
        part = tune[tune["group"] == group].assign(value=lambda d: tb.tuning_values(d))
        shown, note = top_levels(final, group) if (final["group"] == group).any() else (tb.levels(part), "")
        for level, trials in part[part["level"].isin(shown)].groupby("level", sort=False):
            ok = trials[trials["status"] == TrialStatus.OK]
            ax.scatter(ok["lr"], ok["value"], s=30, color=colours[level], label=str(level), alpha=0.85,
                       edgecolors="white", linewidths=0.5)
            bad = trials[trials["status"].isin(tb.FAILED)]
            if len(bad):
                ax.scatter(bad["lr"], np.full(len(bad), 0.0), marker="x", s=60, color=colours[level],
                           transform=ax.get_xaxis_transform(), clip_on=False)
            stopped = trials[trials["status"] == TrialStatus.STOPPED]  # judged at an early epoch: not comparable, shown apart
            if len(stopped):
                ax.scatter(stopped["lr"], stopped["value"], marker="o", s=40, facecolors="none", edgecolors=colours[level])
        ax.set_xscale("log")
        metric = tb.metric_of(part)[0]
        ylabel = axis_label(str(part["tune_metric"].iloc[0])) if "tune_metric" in part else axis_label(metric)
        ax.set(title=f"{group}\n{note}" if note else group, xlabel="learning rate (log scale)", ylabel=ylabel)
        ax.legend()
    tidy(fig)
    return fig


def importance(df: pd.DataFrame) -> Figure:
    """fANOVA importance of the tuned hyperparameters (and the compared level) for the tuning objective."""
    imp = tb.param_importance(df)
    if imp.empty:
        raise NoData(f"fewer than {tb.IMPORTANCE_MIN_TRIALS} finished tuning trials per workload, or nothing varied")
    names = tb.groups(imp)
    fig, axes = panels(len(names), "Hyperparameter importance (fANOVA over the tuning trials)", (4.6, 2.6))
    for ax, group in zip(axes, names, strict=True):
        part = imp[imp["group"] == group].sort_values("importance", ascending=False)
        sns.barplot(part, x="importance", y="param", ax=ax, color="#4c72b0")
        ax.set(title=group, xlabel="share of objective variance explained (0-1)", ylabel="hyperparameter", xlim=(0, 1))
    tidy(fig)
    return fig


def gradient_heatmap(df: pd.DataFrame, gradients: pd.DataFrame) -> Figure:
    """log10 of the per-layer weight-gradient norm over training steps (mean over the final seeds), one
    panel per (group, level); layers from input (top) to output (bottom)."""
    if gradients is None or gradients.empty or "grad_norm" not in gradients:
        raise NoData("no gradient probes were recorded (probe_every = 0?)")
    final = tb.final_scores(df)
    trials = final if final["trial_id"].isin(gradients["trial_id"]).any() else df
    grads = gradients.merge(trials[["trial_id", "group", "level"]], on="trial_id")
    if grads.empty:
        raise NoData("the gradient table matches none of the trials")
    grads = grads.assign(log_norm=np.log10(grads["grad_norm"].clip(lower=1e-12)))
    cells = list(grads.groupby(["group", "level"], sort=False))
    fig, axes = panels(len(cells), "Per-layer gradient norm over training (colour: log10 ||grad W||, mean over seeds)")
    lo, hi = np.nanpercentile(grads["log_norm"], [1, 99])  # one colour scale for every panel
    image = None
    for ax, ((group, level), part) in zip(axes, cells, strict=True):
        layer_order = _layer_order(part)
        grid = part.pivot_table(index="layer", columns="step", values="log_norm", aggfunc="mean").reindex(layer_order)
        steps = grid.columns.to_numpy(float)
        width = (steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else max(steps[0], 1.0)
        image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest",
                          extent=(steps[0] - width / 2, steps[-1] + width / 2, len(grid) - 0.5, -0.5))
        every = math.ceil(len(grid) / MAX_LAYER_LABELS)  # at MIN_FONT a panel holds about this many labels
        ax.set_yticks(range(0, len(grid), every), [str(n) for n in grid.index[::every]], fontsize=MIN_FONT)
        ax.set(title=f"{group} / {level}", xlabel="optimizer step", ylabel="layer (input at top)")
    fig.colorbar(image, ax=axes, label="log10 gradient norm", shrink=0.8)
    tidy(fig)
    return fig


def _layer_order(part: pd.DataFrame) -> list[str]:
    if "depth" in part and part["depth"].notna().any():
        return list(part.groupby("layer")["depth"].median().sort_values(kind="stable").index)
    return list(dict.fromkeys(part["layer"]))


def generalization_gap(df: pd.DataFrame, epochs: pd.DataFrame) -> Figure:
    """Validation loss minus training loss (both measured in evaluation mode after each epoch) of the final
    seeds: mean and 95% CI per level. Above 0 the model fits its training data better than unseen data."""
    final = tb.final_scores(df)
    if epochs is None or epochs.empty or final.empty:
        raise NoData("no per-epoch metrics for final-phase trials")
    val = _epoch_metric(epochs, "val", "loss").set_index(["trial_id", "epoch"])["value"]
    train = _epoch_metric(epochs, "train", "loss").set_index(["trial_id", "epoch"])["value"]
    gap = (val - train).dropna().rename("value").reset_index().merge(final[["trial_id", "group", "level"]], on="trial_id")
    if gap.empty:
        raise NoData("the epochs table lacks train and validation loss")
    colours = palette(tb.levels(df))
    names = tb.groups(gap)
    fig, axes = panels(len(names), "Generalization gap of the final seeds (line: mean; band: 95% CI)")
    for ax, group in zip(axes, names, strict=True):
        shown, note = top_levels(final, group)
        part = gap[(gap["group"] == group) & gap["level"].isin(shown)]
        for level, curves in part.groupby("level", sort=False):
            _band(ax, curves, colours[level], level, alpha=band_alpha(part["level"].nunique()))
        ax.axhline(0, color="grey", linewidth=0.8, linestyle="--")
        ax.set(title=f"{group}\n{note}" if note else group, xlabel="epoch", ylabel="validation loss - training loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
    tidy(fig)
    return fig


def time_to_target(df: pd.DataFrame, epochs: pd.DataFrame) -> Figure:
    """Wall-clock seconds each final seed took to reach the workload's validation target; seeds that never
    reached it are counted beside the level."""
    ttt = tb.time_to_target(df, epochs)
    if ttt.empty or ttt["seconds"].notna().sum() == 0:
        raise NoData("no final-phase trial reached its target (or no per-epoch times were recorded)")
    data = ttt.merge(df[["trial_id", "group", "level"]], on="trial_id")
    colours = palette(tb.levels(df))
    reached = set(data.loc[data["seconds"].notna(), "group"])
    names = [g for g in tb.groups(data) if g in reached]  # a group no seed reached would be an empty panel
    missed = [g for g in tb.groups(data) if g not in reached]
    title = "Time to the validation target per seed" + (f" (no seed of {words(missed)} reached it)" if missed else "")
    fig, axes = panels(len(names), title)
    for ax, group in zip(axes, names, strict=True):
        part = data[data["group"] == group]
        order = tb.levels(part)
        missed = part[part["seconds"].isna()].groupby("level").size()
        sns.stripplot(part.dropna(subset=["seconds"]), x="seconds", y="level", hue="level", order=order,
                      palette=colours, ax=ax, size=7, jitter=0.1, legend=False)
        ax.set_yticks(range(len(order)), [f"{lv} ({missed[lv]} never)" if lv in missed else lv for lv in order])
        metric, mode = tb.metric_of(df[df["group"] == group])
        sign = "≥" if tb.higher_is_better(mode) else "≤"
        ax.set(title=f"{group}: val_{metric.partition('_')[2]} {sign} {part['target'].iloc[0]:.3g}",
               xlabel="wall-clock training time to target (s)", ylabel="level")
        slowest = part["seconds"].max()
        ax.set_xlim(0, 1.08 * slowest if slowest > 0 else 1.0)  # room for the slowest seed's dot
    tidy(fig)
    return fig


def _estimate_panels(est: pd.DataFrame, title: str) -> tuple[Figure, list, list[str], dict[str, tuple]]:
    if est.empty or est["mean"].notna().sum() == 0:
        raise NoData("no estimates to plot")
    names = list(dict.fromkeys(est["panel"]))
    hues = list(dict.fromkeys(est["hue"])) if "hue" in est else [""]
    fig, axes = panels(len(names), title)
    return fig, axes, names, palette(hues)


def estimate_bars(est: pd.DataFrame, title: str, xlabel: str, ylabel: str) -> Figure:
    """Means with 95% CI error bars. Columns: panel, x, hue, mean, lo, hi; one panel per `panel`, bars per x
    grouped by hue (a NaN interval draws no error bar)."""
    fig, axes, names, colours = _estimate_panels(est, title)
    for ax, name in zip(axes, names, strict=True):
        part = est[est["panel"] == name]
        xs = list(dict.fromkeys(part["x"]))
        width = 0.8 / len(colours)
        for k, (hue, colour) in enumerate(colours.items()):
            rows = part[part["hue"] == hue].set_index("x").reindex(xs)
            pos = np.arange(len(xs)) + (k - (len(colours) - 1) / 2) * width
            err = np.array([rows["mean"] - rows["lo"], rows["hi"] - rows["mean"]]).clip(min=0)
            ax.bar(pos, rows["mean"], width, yerr=np.nan_to_num(err), capsize=3, color=colour, label=hue or None)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(xs)), xs, rotation=30 if len(xs) > 3 else 0, ha="right" if len(xs) > 3 else "center")
        ax.set(title=name, xlabel=xlabel, ylabel=ylabel)
        if len(colours) > 1:
            ax.legend()
    tidy(fig)
    return fig


def estimate_lines(est: pd.DataFrame, title: str, ylabel: str) -> Figure:
    """Means with 95% CIs over x. Columns: panel, x (labels in order), hue, mean, lo, hi; one panel per `panel`.
    Where every x of a panel is a number (dropout 0, 0.1, 0.3, 0.5) the axis is numeric (log when the values span
    more than 20x) and the means are joined with a band; otherwise the x are categories (off, patience 3) and each
    mean is a point with an error bar, nothing joining them."""
    fig, axes, names, colours = _estimate_panels(est, title)
    for ax, name in zip(axes, names, strict=True):
        part = est[est["panel"] == name]
        xs = list(dict.fromkeys(part["x"]))
        numbers = pd.to_numeric(pd.Series(xs, dtype=object), errors="coerce")
        numeric = bool(numbers.notna().all())
        pos = numbers.to_numpy(float) if numeric else np.arange(len(xs))
        for k, (hue, colour) in enumerate(colours.items()):
            rows = part[part["hue"] == hue].set_index("x").reindex(xs)
            lo, hi = rows["lo"].fillna(rows["mean"]), rows["hi"].fillna(rows["mean"])
            if numeric:
                ax.plot(pos, rows["mean"], marker="o", color=colour, label=hue or None)
                ax.fill_between(pos, lo, hi, color=colour, alpha=0.2)
            else:  # side by side, so that the hues' error bars do not hide each other
                shift = (k - (len(colours) - 1) / 2) * 0.12
                err = np.array([rows["mean"] - lo, hi - rows["mean"]]).clip(min=0)
                ax.errorbar(pos + shift, rows["mean"], yerr=err, fmt="o", capsize=3, color=colour, label=hue or None)
        if numeric and numbers.min() > 0 and numbers.max() / numbers.min() > 20:
            ax.set_xscale("log")
        ax.set_xticks(pos, xs)
        ax.minorticks_off()
        ax.set(title=name, xlabel=name, ylabel=ylabel)
        ax.legend()
    tidy(fig)
    return fig


# --- readability, whoever drew the figure ------------------------------------------------------------------------

def tidy(fig: Figure, merge_seeds: bool = False) -> list[str]:
    """Make a finished figure readable and return what it had to say in words (the notes for a caption).

    Per panel with a legend: an entry whose lines hold no finite value (a run that went NaN) leaves the legend
    and is named in the panel's title instead; with merge_seeds, the several lines of one entry (the seeds of one
    config) become their mean and a band over their range; entries whose lines coincide are named together
    ("a, b and c overlap"); the legend moves below the data. A figure wider than MAX_WIDTH gets its panels in rows;
    text smaller than MIN_FONT grows to it. Idempotent:
    a second call changes nothing and returns the same notes."""
    if hasattr(fig, "bench_notes"):
        return fig.bench_notes
    fit_width(fig)
    for text in texts(fig):
        if text.get_fontsize() < MIN_FONT:
            text.set_fontsize(MIN_FONT)
    notes: list[str] = []
    legends = {}
    for ax in [a for a in fig.axes if a.get_visible()]:
        panel_notes, legends[ax] = _tidy_axes(ax, merge_seeds)
        notes += panel_notes
    _place_legends(fig, {ax: entries for ax, entries in legends.items() if entries[0]})
    fig.bench_notes = list(dict.fromkeys(notes))
    return fig.bench_notes


def _place_legends(fig: Figure, legends: dict) -> None:
    """Outside the data, below it, so that no panel loses width to a legend: one legend under the figure when the
    panels' entries agree (a name has one colour everywhere), else one under each panel; the figure grows by the
    legends' height so that the panels keep theirs."""
    if not legends:
        return
    style = {"frameon": False, "fontsize": MIN_FONT, "title_fontsize": MIN_FONT}
    shared = _shared_entries(legends)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # lays the panels out: tick labels and x labels get their final extents
    if shared is not None:
        title = next(iter(legends.values()))[1]
        handles, labels = zip(*shared, strict=True)
        placed = [fig.legend(handles, labels, title=title or None, loc="outside lower center",
                             ncols=_columns(labels, fig.get_figwidth() * fig.dpi, renderer), **style)]
    else:
        placed = []
        for ax, (entries, title) in legends.items():
            below = ax.get_window_extent(renderer).y0 - ax.get_tightbbox(renderer).y0  # tick labels and x label
            handles, labels = zip(*entries, strict=True)
            placed.append(ax.legend(handles, labels, title=title or None, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                                    borderaxespad=below / (MIN_FONT * fig.dpi / 72) + 0.4,
                                    ncols=_columns(labels, ax.get_window_extent(renderer).width, renderer), **style))
    rows: dict[int, float] = {}
    for legend, ax in zip(placed, legends if shared is None else [None], strict=True):
        row = ax.get_subplotspec().rowspan.start if ax is not None and ax.get_subplotspec() is not None else -1
        rows[row] = max(rows.get(row, 0.0), legend.get_window_extent(renderer).height / fig.dpi)
    fig.set_figheight(fig.get_figheight() + sum(rows.values()) + 0.1)


def _shared_entries(legends: dict) -> list | None:
    """The union of the panels' legend entries (by label, in order of appearance) when every label has one colour
    in every panel and no colour stands for two labels; else None."""
    colours: dict[str, tuple] = {}
    entries = []
    for handles, _ in legends.values():
        for handle, label in handles:
            colour = _colour(handle)
            if label in colours:
                if colours[label] != colour:
                    return None
                continue
            colours[label] = colour
            entries.append((handle, label))
    if len(set(colours.values())) < len(colours) or len({title for _, title in legends.values()}) > 1:
        return None
    return entries


def _colour(handle) -> tuple:
    if isinstance(handle, Line2D):
        return to_rgba(handle.get_color())
    face = handle.get_facecolor()
    return tuple(np.round(np.asarray(face, dtype=float).reshape(-1, 4)[0], 3)) if np.size(face) else (0, 0, 0, 0)


def _columns(labels: Iterable[str], width_px: float, renderer) -> int:
    """How many legend entries fit side by side in width_px (a marker and the text of the longest label each)."""
    from matplotlib.font_manager import FontProperties

    labels, font = list(labels), FontProperties(size=MIN_FONT)
    widest = max(renderer.get_text_width_height_descent(lb, font, ismath=False)[0] for lb in labels)
    entry = widest + 4 * MIN_FONT * renderer.points_to_pixels(1.0)
    return max(1, min(len(labels), int(width_px // entry)))


def _tidy_axes(ax, merge_seeds: bool) -> tuple[list[str], tuple[list, str]]:
    """The panel's notes and its legend entries (handle, label) with the legend's title; the old legend is removed."""
    legend = ax.get_legend()
    if legend is None or not legend.legend_handles:
        return [], ([], "")
    handles, labels = legend.legend_handles, [t.get_text() for t in legend.texts]
    title = legend.get_title().get_text()
    legend.remove()
    drawn = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
    kept, curves, notes, merged = [], {}, [], False
    names = {label: short(label) for label in labels}
    if len(set(names.values())) < len(names):  # 'tanh RNN (Adam)' and 'tanh RNN (SGD)': keep the details
        names = {label: label for label in labels}
    for handle, label in zip(handles, labels, strict=True):
        if not isinstance(handle, Line2D):
            kept.append((handle, label))
            continue
        lines = [ln for ln in drawn if _same_style(ln, handle) and np.isfinite(_ys(ln)).any()]
        if not lines:
            notes.append(f"{names[label]} went NaN (not drawn)")
            continue
        if merge_seeds and len(lines) > 1:
            lines, merged = [_merge_seeds(ax, lines)], True
        kept.append((handle, label))
        curves[names[label]] = lines
    notes += overlaps(curves, log=ax.get_yscale() == "log")
    if merged:
        notes.append("line: mean over seeds; band: their range")
    if notes:
        ax.set_title("\n".join(filter(None, [ax.get_title(), *textwrap.wrap("; ".join(notes), 48)])))
    return notes, (kept, title)


def short(label: str) -> str:
    """A legend label without the details these figures add to it: 'adam (5 seeds)' -> 'adam' (other brackets,
    such as 'IRNN (Adam + clip 1)', name the entry and stay)."""
    return re.sub(r" \((\d+ seeds?|good LRs span [^)]*)\)$", "", label)


def _ys(line: Line2D) -> np.ndarray:
    return np.asarray(line.get_ydata(), dtype=float)


def _same_style(line: Line2D, handle: Line2D) -> bool:
    return to_rgba(line.get_color()) == to_rgba(handle.get_color()) and line.get_linestyle() == handle.get_linestyle()


def _merge_seeds(ax, lines: list[Line2D]) -> Line2D:
    """Replace the lines of one config's seeds by their mean (geometric on a log axis) and a min-max band, over the
    steps any seed reached (a seed that stopped early, or diverged, counts until it stopped)."""
    table = pd.concat([pd.Series(_ys(ln), index=np.asarray(ln.get_xdata(), dtype=float)).groupby(level=0).mean()
                       for ln in lines], axis=1).sort_index()
    ys = table.to_numpy().T
    ys[~np.isfinite(ys)] = np.nan
    x = table.index.to_numpy()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step no seed has a finite value at stays empty
        centre = 10 ** np.nanmean(np.log10(ys), axis=0) if ax.get_yscale() == "log" else np.nanmean(ys, axis=0)
        low, high = np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)
    colour, style, width = lines[0].get_color(), lines[0].get_linestyle(), lines[0].get_linewidth()
    for ln in lines:
        ln.remove()
    ax.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
    (mean,) = ax.plot(x, centre, color=colour, linestyle=style, linewidth=width)
    return mean


def overlaps(curves: dict[str, list[Line2D]], log: bool = False) -> list[str]:
    """Groups of entries whose lines lie on top of each other: same x, and y within OVERLAP of the span of all
    lines (in log10 on a log axis). One sentence per group, e.g. 'momentum, nesterov and sgd overlap'."""
    def xy(lines: list[Line2D]) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([np.asarray(ln.get_xdata(), dtype=float) for ln in lines])
        y = np.concatenate([_ys(ln) for ln in lines])
        with np.errstate(all="ignore"):
            y = np.log10(y) if log else y
        return x, np.where(np.isfinite(y), y, np.nan)
    data = {label: xy(lines) for label, lines in curves.items()}
    finite = np.concatenate([y[np.isfinite(y)] for _, y in data.values()] or [np.zeros(1)])
    tol = OVERLAP * max(float(np.ptp(finite)) if finite.size else 0.0, 1e-12)
    groups: list[list[str]] = []
    for label, (x, y) in data.items():
        for group in groups:
            gx, gy = data[group[0]]
            same = len(gx) == len(x) and np.array_equal(gx, x) and np.array_equal(np.isnan(gy), np.isnan(y))
            if same and np.max(np.abs(gy - y)[~np.isnan(y)], initial=0.0) <= tol:
                group.append(label)
                break
        else:
            groups.append([label])
    if len(groups) == 1 and len(data) > 2:
        return [f"all {len(data)} lines overlap"]
    return [f"{words(g)} overlap" for g in groups if len(g) > 1]


def words(items: Iterable[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b and c' ('a; b and c' when a name holds a comma itself)."""
    items = list(items)
    sep = "; " if any("," in i for i in items) else ", "
    return items[0] if len(items) == 1 else f"{sep.join(items[:-1])} and {items[-1]}"


def lr_range(curve: pd.DataFrame, suggestion: float, warning: str = "") -> Figure:
    """The LR range test (bench lr-find): loss and smoothed loss against LR (log scale), the suggested LR marked;
    `warning`: why the suggestion is unreliable, shown under the title."""
    if curve.empty:
        raise NoData("the range test recorded no finite loss")
    fig, (ax,) = panels(1, "LR range test" + (f"\n{warning}" if warning else ""), (6.0, 3.8))
    ax.plot(curve["lr"], curve["loss"], color="0.75", lw=1, label="loss per step")
    ax.plot(curve["lr"], curve["smoothed_loss"], color="C0", lw=2, label="smoothed loss")
    if math.isfinite(suggestion):
        ax.axvline(suggestion, color="C3", ls="--", lw=1.5, label=f"suggested lr {suggestion:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(UNITS["loss"])
    ax.legend(fontsize=MIN_FONT)
    return fig
