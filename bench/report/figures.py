"""Report figures: pure functions from prepared result tables (see tables.prepare) to matplotlib Figures.

Figures are built on `matplotlib.figure.Figure` (no pyplot state, no GUI backend) and drawn with seaborn.
Each function raises NoData with a reason when its tables hold nothing to plot, so the report can say why
a figure is missing. One panel per workload; a level keeps its colour in every figure.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.report import stats as st
from bench.report import tables as tb

DPI = 120
PANEL = (4.6, 3.4)  # inches per panel
MAX_COLS = 3
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
    """Box plot plus every seed of the final-phase scores per level; one panel per workload."""
    final = tb.final_scores(df)
    if final["score"].notna().sum() == 0:
        raise NoData("no final-phase trial finished with a score")
    colours = palette(tb.levels(df))
    names = tb.workloads(final)
    fig, axes = panels(len(names), "Final score per level over seeds (box: quartiles; dots: seeds)")
    for ax, workload in zip(axes, names, strict=True):
        part = final[final["workload"] == workload]
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
        ax.set(title=f"{workload} ({'higher' if tb.higher_is_better(mode) else 'lower'} is better)",
               xlabel=str(part["compare"].iloc[0]), ylabel=axis_label(metric))
        ax.tick_params(axis="x", labelrotation=30 if len(order) > 4 else 0)
    return fig


def _band(ax, curves: pd.DataFrame, level: str, colour: tuple, label: str) -> None:
    """Mean over seeds per epoch and its 95% CI (stats.mean_ci) as a shaded band."""
    agg = curves.groupby("epoch")["value"].agg(lambda v: (v.mean(), *st.mean_ci(v)))
    epochs = agg.index.to_numpy()
    mean, lo, hi = (np.array([t[i] for t in agg]) for i in range(3))
    ax.plot(epochs, mean, color=colour, label=label, marker="o", markersize=3)
    ax.fill_between(epochs, np.where(np.isnan(lo), mean, lo), np.where(np.isnan(hi), mean, hi), color=colour, alpha=0.2)


def _epoch_metric(epochs: pd.DataFrame, split: str, metric: str) -> pd.DataFrame:
    return epochs[(epochs["split"] == split) & (epochs["metric"] == metric)]


def learning_curves(df: pd.DataFrame, epochs: pd.DataFrame) -> Figure:
    """Validation target metric per epoch of the final-phase seeds: mean and 95% CI band per level."""
    final = tb.final_scores(df)
    if epochs is None or epochs.empty or final.empty:
        raise NoData("no per-epoch metrics for final-phase trials")
    colours = palette(tb.levels(df))
    names = tb.workloads(final)
    fig, axes = panels(len(names), "Learning curves of the final seeds (line: mean; band: 95% CI over seeds)")
    drawn = 0
    for ax, workload in zip(axes, names, strict=True):
        part = final[final["workload"] == workload]
        metric = tb.metric_of(part)[0].partition("_")[2]
        val = _epoch_metric(epochs, "val", metric).merge(part[["trial_id", "level"]], on="trial_id")
        for level, curves in val.groupby("level", sort=False):
            _band(ax, curves, level, colours[level], f"{level} ({curves['trial_id'].nunique()} seeds)")
            drawn += 1
        ax.set(title=workload, xlabel="epoch", ylabel=axis_label(f"val_{metric}"))
        ax.legend(fontsize=8)
    if not drawn:
        raise NoData("the epochs table has no validation metric matching the target")
    return fig


def lr_sensitivity(df: pd.DataFrame) -> Figure:
    """Tuning objective (validation) against learning rate, log x, per level; diverged or failed tuning
    trials are marked x at the bottom, trials ASHA stopped early are hollow circles at the value they had then.
    The legend gives each level's good-LR span (tables.lr_ranges)."""
    tune = df[df["phase"] == tb.TUNE]
    if tune.empty or "lr" not in tune or tune["lr"].nunique() < 2:
        raise NoData("no tuning phase over the learning rate")
    colours = palette(tb.levels(df))
    spans = tb.lr_ranges(df).set_index(["workload", "level"])["decades"]
    names = tb.workloads(tune)
    fig, axes = panels(len(names), "Learning-rate sensitivity in the tuning phase")
    for ax, workload in zip(axes, names, strict=True):
        part = tune[tune["workload"] == workload].assign(value=lambda d: tb.tuning_values(d))
        for level, trials in part.groupby("level", sort=False):
            ok = trials[trials["status"] == "ok"].sort_values("lr")
            span = spans.get((workload, level), math.nan)
            label = f"{level} (good LRs span {span:.1f} decades)" if math.isfinite(span) else level
            ax.plot(ok["lr"], ok["value"], marker="o", color=colours[level], label=label)
            bad = trials[trials["status"].isin(tb.FAILED)]
            if len(bad):
                ax.scatter(bad["lr"], np.full(len(bad), 0.0), marker="x", s=60, color=colours[level],
                           transform=ax.get_xaxis_transform(), clip_on=False)
            stopped = trials[trials["status"] == "stopped"]  # judged at an early epoch: not comparable, shown apart
            if len(stopped):
                ax.scatter(stopped["lr"], stopped["value"], marker="o", s=40, facecolors="none", edgecolors=colours[level])
        ax.set_xscale("log")
        metric = tb.metric_of(part)[0]
        ylabel = axis_label(str(part["tune_metric"].iloc[0])) if "tune_metric" in part else axis_label(metric)
        ax.set(title=workload, xlabel="learning rate (log scale)", ylabel=ylabel)
        ax.legend(fontsize=8)
    return fig


def importance(df: pd.DataFrame) -> Figure:
    """fANOVA importance of the tuned hyperparameters (and the compared level) for the tuning objective."""
    imp = tb.param_importance(df)
    if imp.empty:
        raise NoData(f"fewer than {tb.IMPORTANCE_MIN_TRIALS} finished tuning trials per workload, or nothing varied")
    names = tb.workloads(imp)
    fig, axes = panels(len(names), "Hyperparameter importance (fANOVA over the tuning trials)", (4.6, 2.6))
    for ax, workload in zip(axes, names, strict=True):
        part = imp[imp["workload"] == workload].sort_values("importance", ascending=False)
        sns.barplot(part, x="importance", y="param", ax=ax, color="#4c72b0")
        ax.set(title=workload, xlabel="share of objective variance explained (0-1)", ylabel="hyperparameter", xlim=(0, 1))
    return fig


def gradient_heatmap(df: pd.DataFrame, gradients: pd.DataFrame) -> Figure:
    """log10 of the per-layer weight-gradient norm over training steps (mean over the final seeds), one
    panel per (workload, level); layers from input (top) to output (bottom)."""
    if gradients is None or gradients.empty or "grad_norm" not in gradients:
        raise NoData("no gradient probes were recorded (probe_every = 0?)")
    final = tb.final_scores(df)
    trials = final if final["trial_id"].isin(gradients["trial_id"]).any() else df
    grads = gradients.merge(trials[["trial_id", "workload", "level"]], on="trial_id")
    if grads.empty:
        raise NoData("the gradient table matches none of the trials")
    grads = grads.assign(log_norm=np.log10(grads["grad_norm"].clip(lower=1e-12)))
    cells = list(grads.groupby(["workload", "level"], sort=False))
    fig, axes = panels(len(cells), "Per-layer gradient norm over training (colour: log10 ||grad W||, mean over seeds)")
    lo, hi = np.nanpercentile(grads["log_norm"], [1, 99])  # one colour scale for every panel
    image = None
    for ax, ((workload, level), part) in zip(axes, cells, strict=True):
        layer_order = _layer_order(part)
        grid = part.pivot_table(index="layer", columns="step", values="log_norm", aggfunc="mean").reindex(layer_order)
        steps = grid.columns.to_numpy(float)
        width = (steps[-1] - steps[0]) / (len(steps) - 1) if len(steps) > 1 else max(steps[0], 1.0)
        image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest",
                          extent=(steps[0] - width / 2, steps[-1] + width / 2, len(grid) - 0.5, -0.5))
        ax.set_yticks(range(len(grid)), [str(n) for n in grid.index], fontsize=7)
        ax.set(title=f"{workload} / {level}", xlabel="optimizer step", ylabel="layer (input at top)")
    fig.colorbar(image, ax=axes, label="log10 gradient norm", shrink=0.8)
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
    gap = (val - train).dropna().rename("value").reset_index().merge(final[["trial_id", "workload", "level"]], on="trial_id")
    if gap.empty:
        raise NoData("the epochs table lacks train and validation loss")
    colours = palette(tb.levels(df))
    names = tb.workloads(gap)
    fig, axes = panels(len(names), "Generalization gap of the final seeds (line: mean; band: 95% CI)")
    for ax, workload in zip(axes, names, strict=True):
        for level, curves in gap[gap["workload"] == workload].groupby("level", sort=False):
            _band(ax, curves, level, colours[level], level)
        ax.axhline(0, color="grey", linewidth=0.8, linestyle="--")
        ax.set(title=workload, xlabel="epoch", ylabel="validation loss - training loss")
        ax.legend(fontsize=8)
    return fig


def time_to_target(df: pd.DataFrame, epochs: pd.DataFrame) -> Figure:
    """Wall-clock seconds each final seed took to reach the workload's validation target; seeds that never
    reached it are counted beside the level."""
    ttt = tb.time_to_target(df, epochs)
    if ttt.empty or ttt["seconds"].notna().sum() == 0:
        raise NoData("no final-phase trial reached its target (or no per-epoch times were recorded)")
    data = ttt.merge(df[["trial_id", "workload", "level"]], on="trial_id")
    colours = palette(tb.levels(df))
    names = tb.workloads(data)
    fig, axes = panels(len(names), "Time to the validation target per seed")
    for ax, workload in zip(axes, names, strict=True):
        part = data[data["workload"] == workload]
        order = tb.levels(part)
        missed = part[part["seconds"].isna()].groupby("level").size()
        sns.stripplot(part.dropna(subset=["seconds"]), x="seconds", y="level", hue="level", order=order,
                      palette=colours, ax=ax, size=7, jitter=0.1, legend=False)
        ax.set_yticks(range(len(order)), [f"{lv} ({missed[lv]} never)" if lv in missed else lv for lv in order])
        metric, mode = tb.metric_of(df[df["workload"] == workload])
        sign = "≥" if tb.higher_is_better(mode) else "≤"
        ax.set(title=f"{workload}: val_{metric.partition('_')[2]} {sign} {part['target'].iloc[0]:.3g}",
               xlabel="wall-clock training time to target (s)", ylabel="level")
        ax.set_xlim(left=0)
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
            ax.legend(fontsize=8)
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
        ax.legend(fontsize=8)
    return fig
