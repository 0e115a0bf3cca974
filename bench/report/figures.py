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
from collections.abc import Iterable

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bench.report import stats as st
from bench.report import tables as tb
from bench.status import TrialStatus

DPI = 120
PANEL = (4.6, 3.4)  # inches per panel
LEGEND_WIDTH = 3.0  # at most this many inches added per panel column for a legend placed beside the data
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


def panels(n: int, title: str, panel: tuple[float, float] = PANEL) -> tuple[Figure, list]:
    cols = 2 if n == 4 else min(n, MAX_COLS)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(max(panel[0] * cols, 6.0), panel[1] * rows + 0.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12, wrap=True)
    return fig, list(axes[:n])


def png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def score_distribution(df: pd.DataFrame) -> Figure:
    """Box plot plus every seed of the final-phase scores per level; one panel per group."""
    final = tb.final_scores(df)
    if final["score"].notna().sum() == 0:
        raise NoData("no final-phase trial finished with a score")
    colours = palette(tb.levels(df))
    names = tb.groups(final)
    fig, axes = panels(len(names), "Final score per level over seeds (box: quartiles; dots: seeds)")
    for ax, group in zip(axes, names, strict=True):
        part = final[final["group"] == group]
        metric, mode = tb.metric_of(part)
        order = list(part.groupby("level", sort=False)["score"].mean()
                     .sort_values(ascending=not tb.higher_is_better(mode), na_position="last").index)
        ok = part[part["score"].notna()]
        sns.boxplot(ok, x="level", y="score", hue="level", order=order, palette=colours, ax=ax, showfliers=False,
                    boxprops={"alpha": 0.35}, legend=False)
        sns.stripplot(ok, x="level", y="score", hue="level", order=order, palette=colours, ax=ax, size=6,
                      edgecolor="black", linewidth=0.6, jitter=0.15, legend=False)
        failed = part[part["score"].isna()].groupby("level").size()
        ax.set_xticks(range(len(order)), [f"{lv}\n({failed[lv]} failed)" if lv in failed else lv for lv in order])
        ax.set(title=f"{group} ({'higher' if tb.higher_is_better(mode) else 'lower'} is better)",
               xlabel=str(part["compare"].iloc[0]), ylabel=axis_label(metric))
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
        val = _epoch_metric(epochs, "val", metric).merge(part[["trial_id", "level"]], on="trial_id")
        for level, curves in val.groupby("level", sort=False):
            _band(ax, curves, colours[level], f"{level} ({curves['trial_id'].nunique()} seeds)",
                  st.metric_bounds(metric), band_alpha(val["level"].nunique()))
            drawn += 1
        ax.set(title=group, xlabel="epoch", ylabel=axis_label(f"val_{metric}"))
        ax.legend()
    if not drawn:
        raise NoData("the epochs table has no validation metric matching the target")
    tidy(fig)
    return fig


def lr_sensitivity(df: pd.DataFrame) -> Figure:
    """Tuning objective (validation) against learning rate, log x, per level; diverged or failed tuning
    trials are marked x at the bottom, trials ASHA stopped early are hollow circles at the value they had then.
    The legend gives each level's good-LR span (tables.lr_ranges)."""
    tune = df[df["phase"] == tb.TUNE]
    if tune.empty or "lr" not in tune or tune["lr"].nunique() < 2:
        raise NoData("no tuning phase over the learning rate")
    colours = palette(tb.levels(df))
    spans = tb.lr_ranges(df).set_index(["group", "level"])["decades"]
    names = tb.groups(tune)
    fig, axes = panels(len(names), "Learning-rate sensitivity in the tuning phase")
    for ax, group in zip(axes, names, strict=True):
        part = tune[tune["group"] == group].assign(value=lambda d: tb.tuning_values(d))
        for level, trials in part.groupby("level", sort=False):
            # several seeds at one LR are one point (their mean) with a band over their range, not a zigzag
            ok = trials[trials["status"] == TrialStatus.OK].groupby("lr")["value"].agg(["mean", "min", "max"])
            span = spans.get((group, level), math.nan)
            label = f"{level} (good LRs span {span:.1f} decades)" if math.isfinite(span) else level
            ax.plot(ok.index, ok["mean"], marker="o", color=colours[level], label=label)
            if (ok["max"] > ok["min"]).any():
                ax.fill_between(ok.index, ok["min"], ok["max"], color=colours[level], alpha=0.2, linewidth=0)
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
        ax.set(title=group, xlabel="learning rate (log scale)", ylabel=ylabel)
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
        part = gap[gap["group"] == group]
        for level, curves in part.groupby("level", sort=False):
            _band(ax, curves, colours[level], level, alpha=band_alpha(part["level"].nunique()))
        ax.axhline(0, color="grey", linewidth=0.8, linestyle="--")
        ax.set(title=group, xlabel="epoch", ylabel="validation loss - training loss")
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
    names = tb.groups(data)
    fig, axes = panels(len(names), "Time to the validation target per seed")
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
    """Means with 95% CI bands over an ordered categorical x. Columns: panel, x (labels in order), hue, mean,
    lo, hi; one panel per `panel`."""
    fig, axes, names, colours = _estimate_panels(est, title)
    for ax, name in zip(axes, names, strict=True):
        part = est[est["panel"] == name]
        xs = list(dict.fromkeys(part["x"]))
        for hue, colour in colours.items():
            rows = part[part["hue"] == hue].set_index("x").reindex(xs)
            pos = np.arange(len(xs))
            ax.plot(pos, rows["mean"], marker="o", color=colour, label=hue or None)
            ax.fill_between(pos, rows["lo"].fillna(rows["mean"]), rows["hi"].fillna(rows["mean"]), color=colour, alpha=0.2)
        ax.set_xticks(range(len(xs)), xs)
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
    ("a, b and c overlap"); the legend moves beside the data. Text smaller than MIN_FONT grows to it. Idempotent:
    a second call changes nothing and returns the same notes."""
    if hasattr(fig, "bench_notes"):
        return fig.bench_notes
    notes: list[str] = []
    legends = {}
    for ax in [a for a in fig.axes if a.get_visible()]:
        panel_notes, legends[ax] = _tidy_axes(ax, merge_seeds)
        notes += panel_notes
    _place_legends(fig, {ax: entries for ax, entries in legends.items() if entries[0]})
    for text in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text")):
        if text.get_text() and text.get_fontsize() < MIN_FONT:
            text.set_fontsize(MIN_FONT)
    fig.bench_notes = list(dict.fromkeys(notes))
    return fig.bench_notes


def _place_legends(fig: Figure, legends: dict) -> None:
    """Beside the data: one legend right of the figure when every panel lists the same entries, else one right
    of each panel; the figure grows by the legends' width so that the panels keep theirs."""
    if not legends:
        return
    first = next(iter(legends.values()))
    shared = len(legends) > 1 and all([lb for _, lb in e[0]] == [lb for _, lb in first[0]] for e in legends.values())
    style = {"frameon": False, "fontsize": MIN_FONT, "title_fontsize": MIN_FONT}
    if shared:
        handles, labels = zip(*first[0], strict=True)
        placed = [fig.legend(handles, labels, title=first[1] or None, loc="outside right upper", **style)]
        columns = 1
    else:
        placed = [ax.legend(*zip(*entries, strict=True), title=title or None, loc="upper left",
                            bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **style)
                  for ax, (entries, title) in legends.items()]
        columns = max(_column_count(ax) for ax in legends)
    renderer = FigureCanvasAgg(fig).get_renderer()  # measured, so that the figure grows by no more than it needs
    width = max(legend.get_window_extent(renderer).width for legend in placed) / fig.dpi + 0.15
    fig.set_figwidth(fig.get_figwidth() + min(width, LEGEND_WIDTH) * columns)


def _column_count(ax) -> int:
    spec = ax.get_subplotspec()
    return spec.get_gridspec().ncols if spec is not None else 1


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
        if merge_seeds and len(lines) > 1 and _same_x(lines):
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


def _same_x(lines: list[Line2D]) -> bool:
    first = np.asarray(lines[0].get_xdata(), dtype=float)
    return all(np.array_equal(np.asarray(ln.get_xdata(), dtype=float), first) for ln in lines[1:])


def _merge_seeds(ax, lines: list[Line2D]) -> Line2D:
    """Replace the lines of one config's seeds by their mean (geometric on a log axis) and a min-max band."""
    x = np.asarray(lines[0].get_xdata(), dtype=float)
    ys = np.vstack([_ys(ln) for ln in lines])
    ys[~np.isfinite(ys)] = np.nan
    with np.errstate(all="ignore"):
        centre = 10 ** np.nanmean(np.log10(ys), axis=0) if ax.get_yscale() == "log" else np.nanmean(ys, axis=0)
    colour, style, width = lines[0].get_color(), lines[0].get_linestyle(), lines[0].get_linewidth()
    for ln in lines:
        ln.remove()
    ax.fill_between(x, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), color=colour, alpha=0.2, linewidth=0)
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
