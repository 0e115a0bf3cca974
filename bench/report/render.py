"""Compose the tables, statistics and figures of one or more runs into index.html + report.md.

The HTML is self-contained (figures embedded as base64 PNG) and the PNGs are also written beside it for
the Markdown. Sections: summary, leaderboard per workload, pairwise comparisons, figures, diverged and
failed trials, method, provenance. Works from the tidy result tables only: nothing here trains.
"""
from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config import ConfigError
from bench.report import figures as fg
from bench.report import stats as st
from bench.report import tables as tb
from bench.results import atomic_write, ensure_writable, merge_runs, read_run

SECTIONS = {"summary": "Summary", "leaderboard": "Leaderboard", "comparisons": "Pairwise comparisons",
            "figures": "Figures", "failures": "Diverged and failed trials", "method": "Method",
            "provenance": "Provenance"}
CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f2f2f2}
figure{margin:1em 0 2em}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#444}
nav a{margin-right:1em}code,pre{background:#f6f6f6;padding:.1em .3em}pre{padding:.6em;overflow-x:auto}
.verdict-supported{color:#1a7f37;font-weight:600}.verdict-refuted{color:#b42318;font-weight:600}
.verdict-inconclusive{color:#9a6700;font-weight:600}.note{color:#555;font-size:.92em}"""


@dataclass
class Page:
    """A document built once and written twice: as HTML and as Markdown. Figures are PNG bytes by name."""
    title: str
    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)

    def heading(self, text: str, level: int = 2, anchor: str | None = None) -> None:
        ident = f' id="{anchor}"' if anchor else ""
        self.html.append(f"<h{level}{ident}>{html.escape(text)}</h{level}>")
        self.md.append(f"\n{'#' * level} {text}\n")

    def text(self, text: str, css: str = "") -> None:
        cls = f' class="{css}"' if css else ""
        self.html.append(f"<p{cls}>{html.escape(text)}</p>")
        self.md.append(f"{text}\n")

    def bullets(self, items: list[str]) -> None:
        self.html.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")
        self.md.append("\n".join(f"- {i}" for i in items) + "\n")

    def table(self, df: pd.DataFrame) -> None:
        self.html.append(df.to_html(index=False, escape=True, na_rep="n/a", border=0))
        self.md.append(md_table(df))

    def code(self, text: str) -> None:
        self.html.append(f"<pre>{html.escape(text)}</pre>")
        self.md.append(f"```\n{text}\n```\n")

    def figure(self, name: str, fig_or_png: Any, caption: str) -> None:
        data = fig_or_png if isinstance(fig_or_png, bytes) else fg.png(fig_or_png)
        self.figures[name] = data
        b64 = base64.b64encode(data).decode()
        self.html.append(f'<figure id="fig-{name}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        self.md.append(f"![{caption}](figures/{name}.png)\n\n*{caption}*\n")

    def raw_html(self, fragment: str, markdown: str) -> None:
        self.html.append(fragment)
        self.md.append(markdown)

    def to_html(self) -> str:
        body = "\n".join(self.html)
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}</title>"
                f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{CSS}</style></head>"
                f"<body>\n<h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n")

    def to_markdown(self) -> str:
        return f"# {self.title}\n\n" + "\n".join(self.md)

    def write(self, folder: Path, md_name: str) -> Path:
        ensure_writable(folder)
        for name, data in self.figures.items():
            atomic_write(folder / "figures" / f"{name}.png", data)
        atomic_write(folder / md_name, self.to_markdown().encode())
        atomic_write(folder / "index.html", self.to_html().encode())
        return folder / "index.html"


def md_table(df: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        text = "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")
    head = "| " + " | ".join(map(cell, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def ci_text(mean: float, lo: float, hi: float) -> str:
    if math.isnan(lo):
        return st.fmt(mean, 4)
    return f"{st.fmt(mean, 4)} [{st.fmt(lo, 4)}, {st.fmt(hi, 4)}]"


def leaderboard_view(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as shown: one formatted column per fact."""
    return pd.DataFrame({
        "rank": board["rank"], "level": board["level"],
        "mean [95% CI]": [ci_text(m, lo, hi) for m, lo, hi in zip(board["mean"], board["ci_low"], board["ci_high"],
                                                                  strict=True)],
        "seeds": board["seeds"], "failed": board["failed"], "best hyperparameters": board["best_params"],
        "good LR span (decades)": board["good_lr_decades"].map(lambda v: st.fmt(v, 2)),
        "time to target (median s)": board["time_to_target_s"].map(lambda v: st.fmt(v, 3)),
        "reached target": board["reached_target"]})


def comparisons_view(pairs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "A": pairs["a"], "B": pairs["b"], "test": pairs["test"],
        "gain of A [95% CI]": [ci_text(g, lo, hi) for g, lo, hi in zip(pairs["gain"], pairs["ci_low"], pairs["ci_high"],
                                                                      strict=True)],
        "p": pairs["p"].map(st.fmt_p), "Holm p": pairs["p_holm"].map(st.fmt_p),
        "Hedges' g": pairs["hedges_g"].map(lambda v: st.fmt(v, 2)), "verdict": pairs["verdict"]})


# name -> (title, caption, figure builder on (trials, epochs, gradients))
FIGURES: dict[str, tuple[str, str, Callable[..., Any]]] = {
    "scores": ("Score distribution", "Final test score of every seed per level (box: quartiles).",
               lambda t, e, g: fg.score_distribution(t)),
    "learning_curves": ("Learning curves", "Validation metric per epoch of the final seeds: mean and 95% CI band.",
                        lambda t, e, g: fg.learning_curves(t, e)),
    "lr_sensitivity": ("Learning-rate sensitivity", "Tuning-phase validation score against the learning rate; x marks "
                       "diverged or failed trials, hollow circles trials that ASHA stopped early (their value at that "
                       "epoch); the legend gives the span of LRs within the practical margin of the best.",
                       lambda t, e, g: fg.lr_sensitivity(t)),
    "importance": ("Hyperparameter importance", "fANOVA importance (Optuna) of the tuned hyperparameters and the level, "
                   "for the tuning objective.", lambda t, e, g: fg.importance(t)),
    "gradients": ("Gradient norms per layer", "log10 of each layer's weight-gradient norm over optimizer steps, mean over "
                  "the final seeds.", lambda t, e, g: fg.gradient_heatmap(t, g)),
    "gap": ("Train-validation gap", "Validation loss minus training loss per epoch (mean and 95% CI over seeds).",
            lambda t, e, g: fg.generalization_gap(t, e)),
    "time_to_target": ("Time to target", f"Seconds of training until the validation score met the {tb.TARGET_RULE}.",
                       lambda t, e, g: fg.time_to_target(t, e)),
}


def method_notes() -> list[str]:
    return [
        "Scores are the test metric of the final phase: each level's best tuning configuration (chosen on the "
        "validation metric) re-run with fresh seeds. Diverged or failed seeds are excluded from means and listed below.",
        f"95% CI of a mean: Student t below {st.BOOTSTRAP_MIN_N} seeds, else a seeded expanded-percentile bootstrap "
        f"({st.N_BOOT} resamples): with few seeds a percentile bootstrap cannot reach beyond the observed range.",
        "Pairs of levels: a paired t-test when both levels ran the same seeds, else Welch's t-test; the CI of the gain "
        "is the test's own interval; Hedges' g is the bias-corrected standardized difference.",
        f"Holm-Bonferroni correction over all pairs of one workload; a difference is reported when the corrected p is "
        f"below {st.ALPHA}, otherwise 'no detectable difference with N seeds'.",
        "Good LR span: sampled learning rates whose tuning score is within the practical margin of the best (2 points "
        "for accuracy-like metrics, 10% otherwise), in decades; a lower bound when LRs were sampled sparsely.",
        f"Time to target: {tb.TARGET_RULE}, measured per seed in wall-clock seconds on the machine in Provenance.",
    ]


def provenance_view(infos: dict[str, dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Scalar facts of every run side by side, and the nested ones (e.g. the resolved space) as JSON."""
    facts: dict[str, dict[str, str]] = {}
    nested: dict[str, str] = {}
    for run, info in infos.items():
        for key, value in info.items():
            if key == "versions" and isinstance(value, dict):
                for pkg, v in value.items():
                    facts.setdefault(f"version {pkg}", {})[run] = str(v)
            elif isinstance(value, (dict, list)):
                nested[f"{run}: {key}"] = json.dumps(value, indent=1, default=str)
            else:
                facts.setdefault(key, {})[run] = str(value)
    table = pd.DataFrame([{"field": k, **v} for k, v in facts.items()])
    return table.fillna("-"), nested


def summary(df: pd.DataFrame, runs: list[str]) -> list[str]:
    counts = df["status"].value_counts().to_dict()
    phases = df["phase"].value_counts().to_dict()
    return [f"Runs: {', '.join(runs)}",
            f"Trials: {len(df)} ({', '.join(f'{n} {s}' for s, n in counts.items())}); "
            f"{phases.get(tb.TUNE, 0)} tuning, {phases.get(tb.FINAL, 0)} final-phase",
            f"Compared: {', '.join(map(str, dict.fromkeys(df['compare'])))} = {', '.join(tb.levels(df))}",
            f"Workloads: {', '.join(tb.workloads(df))}"]


def build(tables: dict[str, pd.DataFrame], infos: dict[str, dict[str, Any]], title: str) -> Page:
    """The report as a Page (pure: tables in, document out)."""
    df, epochs, grads = tables["trials"], tables.get("epochs"), tables.get("gradients")
    page = Page(title)
    page.raw_html("<nav>" + "".join(f'<a href="#{k}">{v}</a>' for k, v in SECTIONS.items()) + "</nav>", "")
    page.heading(SECTIONS["summary"], anchor="summary")
    page.bullets(summary(df, list(infos)))
    board = tb.leaderboard(df, epochs)
    page.heading(SECTIONS["leaderboard"], anchor="leaderboard")
    page.text("Mean test score over the final seeds, best first. " + tb.TARGET_RULE + ".", "note")
    for workload in tb.workloads(df):
        part = board[board["workload"] == workload]
        metric, mode = tb.metric_of(df[df["workload"] == workload])
        page.heading(f"{workload}: {metric} ({'higher' if mode == 'max' else 'lower'} is better)", 3)
        page.table(leaderboard_view(part))
    _comparisons(page, df)
    _figures(page, df, epochs, grads)
    page.heading(SECTIONS["failures"], anchor="failures")
    bad = tb.failures(df)
    stopped = int((df["status"] == "stopped").sum())
    page.text(f"{len(bad)} trials diverged or failed" + (f"; {stopped} tuning trials were stopped early by ASHA "
                                                          "(not failures)." if stopped else "."))
    if len(bad):
        page.table(bad)
    page.heading(SECTIONS["method"], anchor="method")
    page.bullets(method_notes())
    page.heading(SECTIONS["provenance"], anchor="provenance")
    facts, nested = provenance_view(infos)
    page.text(f"Report written {datetime.now(UTC).isoformat(timespec='seconds')} from the runs' result tables.")
    page.table(facts)
    for key, text in nested.items():
        page.heading(key, 4)
        page.code(text)
    return page


def _comparisons(page: Page, df: pd.DataFrame) -> None:
    pairs = tb.pairwise(df)
    page.heading(SECTIONS["comparisons"], anchor="comparisons")
    if pairs.empty:
        page.text("Only one level per workload: nothing to compare.")
    for workload, part in pairs.groupby("workload", sort=False):
        page.heading(f"{workload} ({part['metric'].iloc[0]})", 3)
        page.table(comparisons_view(part))
        page.bullets(list(part["verdict"]))


def _figures(page: Page, df: pd.DataFrame, epochs: pd.DataFrame | None, grads: pd.DataFrame | None) -> None:
    page.heading(SECTIONS["figures"], anchor="figures")
    for name, (title, caption, make) in FIGURES.items():
        page.heading(title, 3, anchor=name)
        try:
            page.figure(name, make(df, epochs, grads), caption)
        except fg.NoData as e:
            page.text(f"Not shown: {e}.", "note")


def load(runs: list[Path], compare: str | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    """Read and merge run folders into prepared tables, with each run's provenance by run name."""
    if not runs:
        raise ConfigError("give at least one run folder (e.g. runs/optimizers-20250101-120000)")
    names = [Path(r).name for r in runs]
    if len(set(names)) < len(names):
        raise ConfigError(f"run folders must have distinct names to be merged, got {', '.join(names)}")
    infos = {Path(r).name: read_run(r)["provenance"] for r in runs}
    tables = merge_runs(runs) if len(runs) > 1 else {k: v for k, v in read_run(runs[0]).items() if k != "provenance"}
    if tables["trials"].empty:
        raise ConfigError(f"no finished trials in {', '.join(map(str, runs))}; nothing to report")
    if len(runs) == 1:
        tables["trials"]["run"] = names[0]
    try:
        tables["trials"] = tb.prepare(tables["trials"], compare)
    except KeyError:
        raise ConfigError(f"--compare {compare!r} is not a column of the trials table; use a config field such as "
                          "optimizer, lr or activation") from None
    return tables, infos


def default_name(runs: list[Path]) -> str:
    names = [Path(r).name for r in runs]
    return names[0] if len(names) == 1 else f"{names[0]}-and-{len(names) - 1}-more"


def write_report(runs: list[Path], out: Path, name: str | None = None, compare: str | None = None) -> Path:
    """Write <out>/<name>/index.html, report.md and figures/*.png; returns the HTML path."""
    name = name or default_name(runs)
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        raise ConfigError(f"--name {name!r} must be letters, digits, '_', '-', '+' or '.' (it names a folder)")
    tables, infos = load(runs, compare)
    return build(tables, infos, f"bench report: {name}").write(Path(out) / name, "report.md")
