"""Compose the tables, statistics and figures of one or more runs into index.html + report.md.

The HTML is self-contained (figures embedded as base64 PNG) and the PNGs are also written beside it for
the Markdown. Sections: summary, leaderboard per group (a sweep's workload), pairwise comparisons, figures,
diverged and failed trials, method, provenance. Works from the tidy result tables only: nothing here trains.
"""
from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from bench.config import ConfigError
from bench.report import figures as fg
from bench.report import fonts, units
from bench.report import stats as st
from bench.report import tables as tb
from bench.report.flags import FLAG_RULE, search_flags
from bench.report.units import duration
from bench.results import atomic_write, ensure_writable, merge_runs, plain_name, read_run, run_lock
from bench.status import TrialStatus

SECTIONS = {"summary": "Summary", "leaderboard": "Leaderboard", "comparisons": "Pairwise comparisons",
            "figures": "Figures", "failures": "Diverged and failed trials", "method": "Method",
            "provenance": "Provenance"}
CSS = """body{font-family:system-ui,-apple-system,"Segoe UI","bench-cjk",""" + fonts.SYSTEM_CJK + """,sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;margin:.5em 0 1.5em;
font-size:.88em;display:block;max-width:100%;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f2f2f2}
figure{margin:1em 0 2em}figure img{max-width:100%;height:auto;border:1px solid #ddd}figcaption{font-size:.9em;color:#444}
code,pre{background:#f6f6f6;padding:.1em .3em;font-size:.92em}pre{padding:.6em;overflow-x:auto}
nav.toc{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.5em 1em;margin:1em 0 1.5em}
nav.toc ul{margin:.3em 0;padding-left:1.2em;columns:2 22em}nav.toc li{margin:.1em 0}
.badge{display:inline-block;padding:.05em .5em;border-radius:1em;font-size:.78em;font-weight:700;letter-spacing:.02em;
color:#fff;background:#6e7781;text-decoration:none;white-space:nowrap;vertical-align:.1em}
.good{background:#1a7f37}.bad{background:#b42318}.mixed{background:#9a6700}.same{background:#0969da}.none{background:#6e7781}
.answers ul{list-style:none;padding-left:.5em;margin:.2em 0 1em}.answers li{margin:.25em 0}
.answers .question{margin:1em 0 .2em;font-weight:600}
details{margin:.4em 0 1em;border-left:3px solid #d0d7de;padding-left:.8em}summary{cursor:pointer;color:#0969da}
blockquote{margin:.5em 0;padding-left:1em;border-left:3px solid #ccc;color:#444}
.note{color:#555;font-size:.92em}"""


# verdict word -> badge colour: what the reader should take from it at a glance
TONES = {"supported": "good", "pass": "good", "better": "good", "refuted": "bad", "fail": "bad", "worse": "bad",
         "inconclusive": "mixed", "equivalent": "same"}
CODE_SPAN = re.compile(r"`([^`]+)`")


def inline(text: Any) -> str:
    """Text for HTML: escaped, its Markdown code spans (`bench faq`) as <code>, numbers as shown()."""
    return CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(shown(text)))


def shown(value: Any) -> str:
    """units.shown, the one number format of pages and terminal, with pandas' missing values (NA, NaT) as n/a."""
    if value is not None and pd.api.types.is_scalar(value) and pd.isna(value):
        return "n/a"
    return units.shown(value)


def badge(word: str, href: str | None = None) -> str:
    """A verdict as a coloured badge (a link when href is given); its tone comes from the verdict's first word."""
    tone = TONES.get(word.split(" ")[0].lower(), "none")
    css = f"badge {tone} verdict-{word.replace(' ', '-')}"
    label = html.escape(word.upper())
    return f'<a class="{css}" href="{html.escape(href)}">{label}</a>' if href else f'<span class="{css}">{label}</span>'


@dataclass
class Page:
    """A document built once and written twice: as HTML and as Markdown. Figures are PNG bytes by name."""
    title: str
    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    figure_dir: str = "figures/"  # where the Markdown looks for the PNGs, relative to it ("" for beside it)

    def heading(self, text: str, level: int = 2, anchor: str | None = None) -> None:
        ident = f' id="{anchor}"' if anchor else ""
        self.html.append(f"<h{level}{ident}>{inline(text)}</h{level}>")
        target = f'<a id="{anchor}"></a>\n' if anchor else ""
        self.md.append(f"\n{target}{'#' * level} {text}\n")

    def text(self, text: str, css: str = "") -> None:
        cls = f' class="{css}"' if css else ""
        self.html.append(f"<p{cls}>{inline(text)}</p>")
        self.md.append(f"{text}\n")

    def bullets(self, items: list[str]) -> None:
        self.html.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
        self.md.append("\n".join(f"- {i}" for i in items) + "\n")

    def table(self, df: pd.DataFrame, cells: dict[str, Callable[[Any], str]] | None = None,
              row_ids: list[str] | None = None) -> None:
        """df as a table; cells: column -> the HTML of its values (a badge, say), else the value as text;
        row_ids: an anchor per row (the row is then a claim that a table of contents may link to)."""
        self.html.append(html_table(df, cells, row_ids))
        self.md.append(md_table(df))

    def toc(self, entries: list[tuple[str, str]]) -> None:
        """A table of contents: (anchor, label) per entry."""
        items = "".join(f'<li><a href="#{html.escape(a)}">{inline(label)}</a></li>' for a, label in entries)
        self.html.append(f'<nav class="toc" aria-label="Contents"><strong>Contents</strong><ul>{items}</ul></nav>')
        self.md.append("Contents: " + " · ".join(f"[{label}](#{a})" for a, label in entries) + "\n")

    @contextmanager
    def details(self, summary: str) -> Iterator[None]:
        """What is written inside the block is folded under summary until the reader opens it."""
        self.html.append(f"<details><summary>{inline(summary)}</summary>")
        self.md.append(f"<details><summary>{html.escape(summary)}</summary>\n")
        yield
        self.html.append("</details>")
        self.md.append("</details>\n")

    def figure(self, name: str, fig_or_png: Any, caption: str) -> None:
        """A figure with its caption; a matplotlib Figure is tidied first and its notes (overlapping lines, runs
        that went NaN) end the caption. The image states its smallest text in pixels at its natural size
        (data-font-px), so that a browser can check what a reader sees."""
        if not isinstance(fig_or_png, bytes):
            caption = with_notes(caption, fg.tidy(fig_or_png))
        data = fig_or_png if isinstance(fig_or_png, bytes) else fg.png(fig_or_png)
        self.figures[name], self.captions[name] = data, caption
        b64 = base64.b64encode(data).decode()
        font = fg.png_font_px(data)
        size = f' data-font-px="{font:.1f}"' if font else ""
        self.html.append(f'<figure id="fig-{name}"><img alt="{html.escape(caption)}"{size} '
                         f'src="data:image/png;base64,{b64}"><figcaption>{inline(caption)}</figcaption></figure>')
        self.md.append(f"![{caption}]({self.figure_dir}{name}.png)\n\n*{caption}*\n")

    def raw_html(self, fragment: str, markdown: str) -> None:
        self.html.append(fragment)
        self.md.append(markdown)

    def to_html(self) -> str:
        body = "\n".join(self.html)
        face = fonts.font_face(self.title + body)
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}</title>"
                f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{face}{CSS}</style></head>"
                f"<body>\n<h1>{inline(self.title)}</h1>\n{body}\n</body></html>\n")

    def to_markdown(self) -> str:
        return f"# {self.title}\n\n" + "\n".join(self.md)

    def write(self, folder: Path, md_name: str) -> Path:
        ensure_writable(folder)
        for name, data in self.figures.items():
            atomic_write(folder / "figures" / f"{name}.png", data)
        atomic_write(folder / md_name, self.to_markdown().encode())
        atomic_write(folder / "index.html", self.to_html().encode())
        return folder / "index.html"


def html_table(df: pd.DataFrame, cells: dict[str, Callable[[Any], str]] | None = None,
               row_ids: list[str] | None = None) -> str:
    cells = cells or {}
    head = "".join(f"<th>{inline(c)}</th>" for c in df.columns)
    rows = []
    for k, row in enumerate(df.itertuples(index=False)):
        attrs = f' id="{html.escape(row_ids[k])}" class="claim"' if row_ids else ""
        tds = "".join(f"<td>{cells[c](v) if c in cells else inline(v)}</td>" for c, v in zip(df.columns, row, strict=True))
        rows.append(f"<tr{attrs}>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def with_notes(caption: str, notes: list[str]) -> str:
    """'Caption.' + ['a and b overlap', 'c went NaN'] -> 'Caption. Notes: a and b overlap; c went NaN.' (names keep
    their case: a level called 'lecun' stays lower-case)."""
    return f"{caption} Notes: {'; '.join(notes)}." if notes else caption


def md_table(df: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        return shown(v).replace("|", "\\|").replace("\n", " ")
    head = "| " + " | ".join(map(cell, df.columns)) + " |"
    rule = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


def ci_text(mean: float, lo: float, hi: float) -> str:
    if math.isnan(lo):
        return shown(mean)
    return f"{shown(mean)} [{shown(lo)}, {shown(hi)}]"


G_SANE = 10.0  # |Hedges' g| beyond this says the seeds barely vary, not how large the difference is
NOT_JUDGED = "not judged"


def leaderboard_view(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as shown: one formatted column per fact. A flagged search gets no good-LR span (at chance
    every LR is as good as the best)."""
    flags = board["flag"] if "flag" in board else pd.Series("", index=board.index)
    return pd.DataFrame({
        "rank": board["rank"].map(lambda r: "-" if pd.isna(r) else int(r)), "level": board["level"],
        "mean [95% CI]": [ci_text(m, lo, hi) for m, lo, hi in zip(board["mean"], board["ci_low"], board["ci_high"],
                                                                  strict=True)],
        "seeds": board["seeds"], "failed final seeds": board["failed"],
        "failed tuning trials": board["failed_tune"] if "failed_tune" in board else 0,
        "search flagged (not ranked)": flags,
        "best hyperparameters": board["best_params"],
        "good LR span (decades)": [shown(v) if not f else "n/a" for v, f in zip(board["good_lr_decades"], flags, strict=True)],
        "time to target (median s)": board["time_to_target_s"].map(shown),
        "reached target": board["reached_target"]})


def comparisons_view(pairs: pd.DataFrame, flagged: dict[str, str] | None = None) -> pd.DataFrame:
    """The pairwise table as shown. A pair with a flagged level (a failed search: at chance, unstable, ...) gets no
    outcome and no verdict: it would compare a failed search, not the level. Hedges' g only where it is defined and
    below G_SANE. One CI level per table: in the header when every row shares it (see ci_note otherwise)."""
    flagged = flagged or {}
    failed = [", ".join(lv for lv in (a, b) if lv in flagged) for a, b in zip(pairs["a"], pairs["b"], strict=True)]
    levels = set(pairs["ci_level"].round(4))
    header = f"gain of A [{shown(100 * levels.pop())}% CI]" if len(levels) == 1 else "gain of A [Holm-compatible CI]"
    return pd.DataFrame({
        "A": pairs["a"], "B": pairs["b"], "test": pairs["test"],
        header: [ci_text(g, lo, hi) for g, lo, hi in zip(pairs["gain"], pairs["ci_low"], pairs["ci_high"], strict=True)],
        "p": pairs["p"].map(st.fmt_p), "Holm p": pairs["p_holm"].map(st.fmt_p),
        "Hedges' g": pairs["hedges_g"].map(lambda v: shown(v) if math.isfinite(v) and abs(v) <= G_SANE else "n/a"),
        "outcome": [NOT_JUDGED if f else o for o, f in zip(pairs["outcome"], failed, strict=True)],
        "verdict": [f"{NOT_JUDGED}: the search of {f} failed" if f else v
                    for v, f in zip(pairs["verdict"], failed, strict=True)]})


def ci_note(pairs: pd.DataFrame) -> str:
    """What the intervals of one pairwise table are, said once under it."""
    levels = pairs["ci_level"]
    if levels.round(4).nunique() == 1:
        return (f"Intervals: {shown(100 * levels.iloc[0])}% CIs of the gain, the ones the outcomes were read from. "
                f"Hedges' g is n/a where undefined or beyond {G_SANE:g} (seeds that barely vary).")
    return (f"Intervals: Holm-compatible CIs of the gain, each at the level its step of the Holm correction used "
            f"({shown(100 * levels.min())}% to {shown(100 * levels.max())}%), so that an interval excludes 0 exactly "
            f"when the corrected test rejects; the outcomes were read from them. Hedges' g is n/a where undefined or "
            f"beyond {G_SANE:g} (seeds that barely vary).")


# name -> (title, caption, figure builder on (trials, epochs, gradients))
FIGURES: dict[str, tuple[str, str, Callable[..., Any]]] = {
    "scores": ("Score distribution", "How far apart the levels are against the spread over seeds: boxes that overlap "
               "widely mean the seeds cannot rank those levels (the pairwise table says whether a difference holds). "
               "Box: quartiles; dots: one final seed each.", lambda t, e, g: fg.score_distribution(t)),
    "learning_curves": ("Learning curves", "Whether a level was still improving when training stopped (a rising last "
                        "epoch means the budget, not the level, limited its score), and which levels learn fastest. "
                        "Line: mean over the final seeds; band: 95% CI, clipped to the metric's range.",
                        lambda t, e, g: fg.learning_curves(t, e)),
    "lr_sensitivity": ("Learning-rate sensitivity", "How much each level depends on its learning rate: a flat, wide "
                       "curve forgives a rough LR, a sharp peak needs tuning. x: diverged or failed trials; hollow "
                       "circles: trials ASHA stopped early (their value at that epoch); the legend gives the span of LRs "
                       "within the practical margin of the best.", lambda t, e, g: fg.lr_sensitivity(t)),
    "importance": ("Hyperparameter importance", "Which choice moved the tuning objective most: a long bar for the level "
                   "means the compared choice matters more than its tuning (fANOVA, Optuna).",
                   lambda t, e, g: fg.importance(t)),
    "gradients": ("Gradient norms per layer", "Whether gradients reach the early layers: a top row much darker than the "
                  "bottom means vanishing gradients toward the input, a bright band late in training growing ones. "
                  "Colour: log10 of each layer's weight-gradient norm, mean over the final seeds.",
                  lambda t, e, g: fg.gradient_heatmap(t, g)),
    "gap": ("Train-validation gap", "Overfitting: a line climbing above 0 means validation loss is pulling away from "
            "training loss. Line: mean over seeds; band: 95% CI.", lambda t, e, g: fg.generalization_gap(t, e)),
    "time_to_target": ("Time to target", f"Which level gets to a good score first in wall-clock time (the {tb.TARGET_RULE}); "
                       "seeds that never got there are counted beside the level.", lambda t, e, g: fg.time_to_target(t, e)),
}


def method_notes() -> list[str]:
    return [
        "Scores are the test metric of the final phase: each level's best tuning configuration (chosen on the "
        "validation metric; where the search confirmed its top configurations on a second seed, on the mean over "
        "both seeds) re-run with fresh seeds. Diverged or failed seeds are excluded from means and listed below.",
        f"95% CI of a mean: Student t below {st.BOOTSTRAP_MIN_N} seeds, else a seeded expanded-percentile bootstrap "
        f"({st.N_BOOT} resamples): with few seeds a percentile bootstrap cannot reach beyond the observed range.",
        "Pairs of levels: a paired t-test when both levels ran the same seeds, else Welch's t-test; the CI of the gain "
        "is the test's own interval; Hedges' g is the bias-corrected standardized difference. Holm-Bonferroni "
        "correction over all pairs of one workload; practical margin 2 points for accuracy-like metrics, else 10% of "
        "B's mean.",
        st.OUTCOME_RULE,
        "Good LR span: sampled learning rates whose tuning score is within the practical margin of the best (2 points "
        "for accuracy-like metrics, 10% otherwise), in decades; a lower bound when LRs were sampled sparsely.",
        f"Time to target: {tb.TARGET_RULE}, measured per seed in wall-clock seconds on the machine in Provenance.",
    ]


def readable(key: str, value: Any) -> str:
    """One provenance value as a person reads it: durations in minutes and seconds, floats rounded, lists joined."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, (int, float)) and ("time" in key or key.endswith("_s")):
        return duration(float(value))
    if isinstance(value, float):
        return st.fmt(value, 4)
    if isinstance(value, (list, tuple)):
        return ", ".join(readable(key, v) for v in value)
    return str(value)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys: {'tune': {'lr': {'min': 1e-4}}} -> {'tune.lr.min': 1e-4}."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def provenance_view(infos: dict[str, dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Scalar facts of every run side by side (one column per run), and each nested fact (e.g. the resolved
    search space) as its own two-column table of dotted settings."""
    facts: dict[str, dict[str, str]] = {}
    nested: dict[str, pd.DataFrame] = {}
    for run, info in infos.items():
        for key, value in info.items():
            if key == "versions" and isinstance(value, dict):
                for pkg, v in value.items():
                    facts.setdefault(f"version {pkg}", {})[run] = str(v)
            elif isinstance(value, dict):
                rows = flatten(value)
                nested[f"{run}: {key}"] = pd.DataFrame({"setting": list(rows),
                                                        "value": [readable(k, v) for k, v in rows.items()]})
            else:
                facts.setdefault(key.replace("_", " "), {})[run] = readable(key, value)
    table = pd.DataFrame([{"field": k, **v} for k, v in facts.items()])
    return table.fillna("-"), nested


def summary(df: pd.DataFrame, runs: list[str]) -> list[str]:
    counts = df["status"].value_counts().to_dict()
    phases = df["phase"].value_counts().to_dict()
    return [f"Runs: {', '.join(runs)}",
            f"Trials: {len(df)} ({', '.join(f'{n} {s}' for s, n in counts.items())}); "
            f"{phases.get(tb.TUNE, 0)} tuning, {phases.get(tb.CONFIRM, 0)} confirm, {phases.get(tb.FINAL, 0)} final-phase",
            f"Compared: {', '.join(map(str, dict.fromkeys(df['compare'])))} = {', '.join(tb.levels(df))}",
            *([f"Groups compared within: {', '.join(tb.groups(df))}"] if tb.groups_span_workloads(df) else []),
            f"Workloads: {', '.join(map(str, dict.fromkeys(df['workload'])))}"]


def unfinished(infos: dict[str, dict[str, Any]]) -> list[str]:
    """A line per run whose run.json says complete: false (a sweep still running, or interrupted)."""
    return [f"Unfinished: {run} has {info.get('finished_trials', '?')} of {info.get('total_trials', '?')} trials "
            "(run.json complete: false); levels without final-phase seeds are ranked last for that reason only"
            for run, info in infos.items() if info.get("complete") is False]


def build(tables: dict[str, pd.DataFrame], infos: dict[str, dict[str, Any]], title: str) -> Page:
    """The report as a Page (pure: tables in, document out)."""
    df, epochs, grads = tables["trials"], tables.get("epochs"), tables.get("gradients")
    page = Page(title)
    page.toc(list(SECTIONS.items()))
    page.heading(SECTIONS["summary"], anchor="summary")
    page.bullets(summary(df, list(infos)) + unfinished(infos))
    board = tb.leaderboard(df, epochs)
    page.heading(SECTIONS["leaderboard"], anchor="leaderboard")
    page.text(" ".join(filter(None, ("Mean test score over the final seeds, best first.", tb.protocol(df),
                                     tb.TARGET_RULE + "."))), "note")
    for group in tb.groups(df):
        part = board[board["group"] == group]
        metric, mode = tb.metric_of(df[df["group"] == group])
        page.heading(f"{group}: {metric} ({'higher' if mode == 'max' else 'lower'} is better)", 3)
        page.table(leaderboard_view(part))
        flagged = part[part["flag"] != ""] if "flag" in part else part.iloc[:0]
        if len(flagged):
            page.text("Searches flagged as failed (shown, not ranked; comparisons with them say little about the "
                      "optimizer): " + "; ".join(f"{r.level}: {r.flag}" for r in flagged.itertuples()) + ". "
                      + FLAG_RULE + ".", "note")
    _comparisons(page, df)
    _figures(page, df, epochs, grads)
    page.heading(SECTIONS["failures"], anchor="failures")
    bad = tb.failures(df)
    stopped = int((df["status"] == TrialStatus.STOPPED).sum())
    page.text(f"{len(bad)} trials diverged or failed" + (f"; {stopped} tuning trials were stopped early by ASHA "
                                                          "(not failures)." if stopped else "."))
    if len(bad):
        page.table(bad)
    page.heading(SECTIONS["method"], anchor="method")
    page.bullets(method_notes())
    page.heading(SECTIONS["provenance"], anchor="provenance")
    facts, nested = provenance_view(infos)
    page.text(f"Report written {datetime.now(UTC).isoformat(timespec='seconds')} from the runs' result tables.")
    with page.details("Versions, machine, command line, scheduler settings and the resolved search space"):
        page.table(facts)
        for key, settings in nested.items():
            page.heading(key, 4)
            page.table(settings)
    return page


def _comparisons(page: Page, df: pd.DataFrame) -> None:
    pairs = tb.pairwise(df)
    page.heading(SECTIONS["comparisons"], anchor="comparisons")
    if pairs.empty:
        page.text("Only one level per workload: nothing to compare.")
    flags = search_flags(df) if "phase" in df else pd.DataFrame(columns=["group", "level", "flag"])
    for k, (group, part) in enumerate(pairs.groupby("group", sort=False)):
        page.heading(f"{group} ({part['metric'].iloc[0]})", 3, anchor=f"comparisons-{k + 1}")
        flagged = {str(r.level): r.flag for r in flags[(flags["group"] == group) & (flags["flag"] != "")].itertuples()
                   if r.level in set(part["a"]) | set(part["b"])}
        view = comparisons_view(part, flagged)
        page.table(view, {"outcome": badge}, [f"pair-{k + 1}-{i + 1}" for i in range(len(view))])
        page.text(ci_note(part), "note")
        if flagged:
            page.text(f"The searches of {', '.join(flagged)} failed (see the leaderboard): the pairs with them are not "
                      "judged, since they would compare a failed search, not the level.", "note")


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
    missing = [str(r) for r in runs if not Path(r).exists()]
    if missing:
        raise ConfigError(f"{missing[0]} does not exist; pass a run folder that `bench sweep` or `bench run` printed "
                          "(e.g. runs/optimizers-20250101-120000)")
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
    name = plain_name(name or default_name(runs))
    tables, infos = load(runs, compare)
    page = build(tables, infos, f"bench report: {name}")
    with run_lock(ensure_writable(Path(out) / name)):  # two reports into one folder would mix their figures
        return page.write(Path(out) / name, "report.md")


# --- the gradient studies' page: the claims table and the figures, in the FAQ page's look ---

CAPTIONS_FILE = "captions.json"
STUDY_COLUMNS = {"seeds_met": "seeds meeting it", "claim": "claim", "source": "source", "criterion": "criterion",
                 "measured": "measured"}


def study_page(title: str, notes: list[str], claims: pd.DataFrame, figures: dict[str, Any],
               captions: dict[str, str] | None = None, tables: dict[str, str] | None = None) -> Page:
    """A gradient study as a page (pure). claims: the study's claims table (claim, source, criterion, measured,
    outcome); figures: name -> matplotlib Figure or PNG bytes; captions: name -> what to see in that figure (default:
    the figure's title); tables: file name beside the page -> what it holds ('' when unknown), linked under the
    claims. Lines of one config's seeds are drawn as their mean and range."""
    page = Page(title, figure_dir="")
    entries = [("claims", "Claims"), *([("tables", "Raw tables")] if tables else []), ("figures", "Figures"),
               *((f"fig-{name}", name.replace("_", " ")) for name in figures)]
    page.toc(entries)
    for note in notes:
        page.text(note)
    counts = claims["outcome"].value_counts()
    page.heading("Claims", anchor="claims")
    page.text(f"Of {len(claims)} claims: " + ", ".join(f"{n} {word}" for word, n in counts.items()) + ".")
    shown_claims = pd.DataFrame({"outcome": claims["outcome"],
                                 **{name: claims[c] for c, name in STUDY_COLUMNS.items() if c in claims}})
    ids = [f"claim-{k + 1}" for k in range(len(claims))]
    page.table(shown_claims, {"outcome": badge}, ids)
    if tables:
        page.heading("Raw tables", 3, anchor="tables")
        page.text("Beside this page, behind every number on it (pandas.read_parquet reads them; "
                  "`bench report FOLDER` renders the trials as a report):", "note")
        page.raw_html(*file_links(tables))
    page.heading("Figures", anchor="figures")
    for name, fig in figures.items():
        caption = (captions or {}).get(name) or figure_title(fig, name)
        if not isinstance(fig, bytes):
            fg.tidy(fig, merge_seeds=True)
        page.figure(name, fig, caption)
    return page


def file_links(files: dict[str, str]) -> tuple[str, str]:
    """A list of relative links to files beside a page, each with what it holds: (HTML, Markdown)."""
    items = [(quote(name), name, f": {about}" if about else "") for name, about in files.items()]
    fragment = "<ul>" + "".join(f'<li><a href="{html.escape(href)}">{html.escape(name)}</a>{html.escape(about)}</li>'
                                for href, name, about in items) + "</ul>"
    return fragment, "\n".join(f"- [{name}]({href}){about}" for href, name, about in items) + "\n"


def figure_title(fig: Any, name: str) -> str:
    title = getattr(fig, "_suptitle", None)
    text = title.get_text() if title is not None else name.replace("_", " ")
    return text.rstrip(".") + "."


def write_study_page(folder: Path, title: str, notes: list[str], claims: pd.DataFrame, figures: dict[str, Any],
                     captions: dict[str, str] | None = None, tables: dict[str, str] | None = None) -> Path:
    """Write folder/index.html (self-contained but for the linked tables), the same page as folder/claims.md, each
    figure as folder/<name>.png and their captions (with the figures' notes) as folder/captions.json, for pages
    that show the PNGs elsewhere; returns the HTML path. tables: as study_page's; by default the claims.csv and
    Parquet tables already in the folder, linked without a description."""
    if tables is None:
        tables = {p.name: "" for p in [folder / "claims.csv", *sorted(Path(folder).glob("*.parquet"))] if p.is_file()}
    page = study_page(title, notes, claims, figures, captions, tables)
    ensure_writable(folder)
    for name, data in page.figures.items():
        atomic_write(folder / f"{name}.png", data)
    atomic_write(folder / CAPTIONS_FILE, json.dumps(page.captions, indent=1).encode())
    atomic_write(folder / "claims.md", page.to_markdown().encode())
    atomic_write(folder / "index.html", page.to_html().encode())
    return folder / "index.html"
