"""The FAQ page: each question of the seed tutorial's FAQ, its claims, the experiment, the figures and a verdict
per claim with the numbers and the decision rule. Pure rendering of results judged elsewhere (bench.faq)."""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from bench.report.render import Page
from bench.report.stats import INCONCLUSIVE, NOT_EXERCISED, REFUTED, SUPPORTED, UNTESTABLE, VERDICT_WORDS

VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE, UNTESTABLE, NOT_EXERCISED)
VERDICTS_CSV = "verdicts.csv"
CSV_COLUMNS = ["claim", "verdict", "verdict_full", "comparison", "rule", "comparison_verdict", "outcome", "metric", "margin",
               "estimate", "ci_low", "ci_high", "ci_level", "half_width", "seeds_for_margin", "test", "p", "p_holm", "seeds_a",
               "seeds_b", "reference_score", "target", "gate_target", "gate_acted", "gate_chance", "shared_with", "key"]


@dataclass
class ClaimResult:
    id: str
    text: str
    rule: str
    verdict: str
    numbers: list[str]
    table: pd.DataFrame | None = None
    rows: list[dict] = field(default_factory=list)  # one per comparison (bench.faq.evidence.comparison_row)
    shared: dict[str, list[str]] = field(default_factory=dict)  # comparison -> other claims that use it
    sources: list[str] = field(default_factory=list)  # folders of the result tables it was judged on (runs, studies)


@dataclass
class QuestionResult:
    id: str
    title: str
    quote: str
    translation: str
    source: str
    experiment: str
    claims: list[ClaimResult]
    figures: list[tuple[str, Any, str]] = field(default_factory=list)  # (name, Figure or PNG bytes, caption)
    missing: list[str] = field(default_factory=list)  # figures that could not be drawn, with the reason
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # run folders behind the question (readable by `bench report`)


RAW_FILES = ("trials.parquet", "epochs.parquet", "gradients.parquet", "claims.csv")  # the tables a verdict rests on
FULL = "full"
PENDING = "pending (run `bench faq` for the full budget)"
HOW_FULL = ("the full budget (`bench faq`) has not been run for this page (hours on a few CPU cores); once it has, "
            "`bench faq --quick --reuse --full-runs RUNS --full-studies STUDIES` (its --runs and --studies folders) "
            "shows its verdicts beside these")


def budget_name(meta: dict[str, Any]) -> str:
    """The page's budget ('quick', 'full', ...): meta's budget_name, else the word before meta's budget text."""
    return str(meta.get("budget_name") or str(meta.get("budget", "")).split(":")[0]).strip()


def by_claim(results: list[QuestionResult] | None) -> dict[str, ClaimResult]:
    return {c.id: c for q in results or [] for c in q.claims}


def full_verdict(claim: str, full: dict[str, ClaimResult] | None) -> str:
    """The claim's verdict at the full budget in words, or PENDING where the full budget has not judged it."""
    return VERDICT_WORDS[full[claim].verdict] if full and claim in full else PENDING


def relative(path: str | Path, folder: Path | None) -> str:
    """A link to path from a page in folder (POSIX separators and URL-quoted, as links want them: a --runs folder
    may hold a space), as render.file_links quotes the study pages' links."""
    return quote(Path(os.path.relpath(Path(path), folder or Path.cwd())).as_posix())


def raw_links(sources: list[str], folder: Path | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per source folder that exists: its name and (file name, link) for each raw table in it."""
    out = []
    for source in sources:
        files = [(name, relative(Path(source) / name, folder)) for name in RAW_FILES if (Path(source) / name).exists()]
        if files:
            out.append((Path(source).name, files))
    return out


def badge(verdict: str) -> str:
    return f'<span class="verdict-{verdict.replace(" ", "-")}">{VERDICT_WORDS[verdict].upper()}</span>'


def mark_shared(results: list[QuestionResult]) -> None:
    """Note in each claim which of its comparisons other claims rest on too (same trials, same metric)."""
    users: dict[str, list[str]] = {}
    for c in (c for q in results for c in q.claims):
        for key in dict.fromkeys(r["key"] for r in c.rows if r.get("key")):
            users.setdefault(key, []).append(c.id)
    for c in (c for q in results for c in q.claims):
        c.shared = {r["comparison"]: [o for o in users[r["key"]] if o != c.id] for r in c.rows
                    if r.get("key") and len(users[r["key"]]) > 1}


def verdict_table(results: list[QuestionResult], full: list[QuestionResult] | None = None,
                  budget: str = "") -> pd.DataFrame:
    """verdicts.csv: one row per comparison (a claim without comparisons, e.g. one judged by a study, gets one row
    with its verdict); verdict_full is the claim's verdict at the full budget (pending where not run; empty on a
    full-budget page)."""
    rows, other = [], by_claim(full)
    for c in (c for q in results for c in q.claims):
        base = {"claim": c.id, "verdict": VERDICT_WORDS[c.verdict],
                "verdict_full": "" if budget == FULL else full_verdict(c.id, other)}
        for r in c.rows or [{}]:
            shared = ", ".join(c.shared.get(r.get("comparison", ""), []))
            rows.append({**base, **r, "comparison_verdict": VERDICT_WORDS.get(r.get("comparison_verdict"), ""),
                         "shared_with": shared})
    return pd.DataFrame(rows).reindex(columns=CSV_COLUMNS)


def summary_table(results: list[QuestionResult], full: list[QuestionResult] | None = None,
                  budget: str = "") -> pd.DataFrame:
    """One row per claim: its verdict at this page's budget and, on a page of a smaller budget, at the full one."""
    other = by_claim(full)
    return pd.DataFrame([{"claim": c.id, "statement": c.text, f"verdict ({budget or 'this budget'})": VERDICT_WORDS[c.verdict],
                          **({} if budget == FULL else {"verdict (full budget)": full_verdict(c.id, other)}),
                          "shares a comparison with": ", ".join(sorted({o for others in c.shared.values() for o in others}))}
                         for q in results for c in q.claims])


def tally(results: list[QuestionResult]) -> str:
    """Claims by verdict, and the distinct comparisons behind them by verdict, each comparison counted once."""
    claims = pd.Series([c.verdict for q in results for c in q.claims], dtype=object).value_counts()
    distinct: dict[str, str] = {}
    for c in (c for q in results for c in q.claims):
        for r in c.rows:
            distinct.setdefault(r.get("key") or f"{c.id}:{r['comparison']}", r["comparison_verdict"])
    comps = pd.Series(list(distinct.values()), dtype=object).value_counts()
    words = lambda counts: ", ".join(f"{counts.get(v, 0)} {VERDICT_WORDS[v]}" for v in VERDICTS)
    return (f"Claims: {words(claims)} of {int(claims.sum())}. Distinct comparisons behind them, each counted once "
            f"however many claims use it: {words(comps)} of {len(distinct)}.")


def build_faq(results: list[QuestionResult], meta: dict[str, Any], folder: Path | None = None,
              full: list[QuestionResult] | None = None) -> Page:
    """meta: budget (words), budget_name, command, machine, created, wall_time, rules (list of sentences), and
    `reduced`: a warning shown first when the budget is smaller than the full one. folder: where the page will be
    written (links to the raw tables are relative to it; default the working directory). full: the same claims
    judged at the full budget, shown beside this page's verdicts (pending where missing)."""
    budget = budget_name(meta)
    page = Page("The seed tutorial's FAQ, measured")
    page.text("The tutorial this project grew from ends with an FAQ of advice that practitioners repeat without "
              "evidence. Each claim below was turned into an experiment with a decision rule fixed in code before the "
              "data came in, checked against sanity gates, and judged supported, refuted or inconclusive, or "
              "untestable at this budget / not exercised when a gate failed.")
    facts = [f"Command: {meta['command']}", f"Machine: {meta['machine']}", f"Budget: {meta['budget']}",
             f"Generated: {meta['created']} in {meta['wall_time']}"]
    if meta.get("reduced"):
        facts.insert(0, meta["reduced"])
    if budget != FULL and not full:
        facts.append(f"Full budget: pending: {HOW_FULL}.")
    page.bullets(facts)
    page.raw_html(f'<p>Every comparison with its numbers and gates: <a href="{VERDICTS_CSV}">{VERDICTS_CSV}</a> beside '
                  "this page; the raw tables behind each claim are linked under it.</p>",
                  f"Every comparison with its numbers and gates: [{VERDICTS_CSV}]({VERDICTS_CSV}) beside this page; the "
                  "raw tables behind each claim are linked under it.\n")
    page.heading("Verdicts", anchor="verdicts")
    page.text(tally(results))
    page.table(summary_table(results, full, budget))
    page.heading("How claims are judged", anchor="rules")
    page.bullets(meta["rules"])
    for q in results:
        _question(page, q, folder, None if budget == FULL else by_claim(full))
    return page


def _question(page: Page, q: QuestionResult, folder: Path | None, full: dict[str, ClaimResult] | None) -> None:
    page.heading(f"{q.id} {q.title}", anchor=f"q{q.id}")
    page.raw_html(f"<blockquote lang=\"zh\">{html.escape(q.quote)}</blockquote>"
                  f"<p><em>{html.escape(q.translation)}</em> ({html.escape(q.source)} {html.escape(q.id)})</p>",
                  f"> {q.quote}\n\n*{q.translation}* ({q.source} {q.id})\n")
    page.text(f"Experiment: {q.experiment}")
    for name, fig, caption in q.figures:
        page.figure(name, fig, caption)
    for reason in q.missing:
        page.text(f"Figure not shown: {reason}.", "note")
    for c in q.claims:
        _claim(page, c, folder, full)
    if q.findings:
        page.heading("Findings", 4)
        page.bullets(q.findings)
    if q.notes:
        page.heading("Notes", 4)
        page.bullets(q.notes)
    if q.runs:
        page.text("Result tables: " + ", ".join(q.runs) + " (`bench report FOLDER` renders any of them in full).", "note")


def _claim(page: Page, c: ClaimResult, folder: Path | None, full: dict[str, ClaimResult] | None) -> None:
    page.raw_html(f'<h3 id="c{c.id}">{html.escape(c.id)} {badge(c.verdict)} {html.escape(c.text)}</h3>',
                  f"\n### {c.id} {VERDICT_WORDS[c.verdict].upper()}: {c.text}\n")
    page.text(f"Decision rule: {c.rule}.", "note")
    page.bullets(c.numbers + [f"{comp}: the same comparison is used by {', '.join(others)}"
                              for comp, others in c.shared.items()])
    if c.table is not None and len(c.table):
        page.table(c.table)
    if full is not None:
        other = full.get(c.id)
        page.raw_html(f"<p>At the full budget: {badge(other.verdict) if other else html.escape(PENDING)}</p>",
                      f"At the full budget: {VERDICT_WORDS[other.verdict].upper() if other else PENDING}\n")
        if other:
            page.bullets(other.numbers)
    _raw_tables(page, c.sources, folder)


def _raw_tables(page: Page, sources: list[str], folder: Path | None) -> None:
    """'Raw tables: optimizers (trials.parquet, epochs.parquet, ...)', each file a link relative to the page."""
    groups = raw_links(sources, folder)
    if not groups:
        return
    as_html = "; ".join(f"{html.escape(name)} (" + ", ".join(f'<a href="{html.escape(link)}">{html.escape(file)}</a>'
                                                             for file, link in files) + ")" for name, files in groups)
    as_md = "; ".join(f"{name} (" + ", ".join(f"[{file}]({link})" for file, link in files) + ")" for name, files in groups)
    page.raw_html(f'<p class="note">Raw tables: {as_html}</p>', f"Raw tables: {as_md}\n")


def write_faq(results: list[QuestionResult], meta: dict[str, Any], out: Path,
              full: list[QuestionResult] | None = None) -> Path:
    """Write out/index.html, out/faq.md, their figures and out/verdicts.csv (links relative to out); returns the
    HTML path."""
    mark_shared(results)
    page = build_faq(results, meta, Path(out), full).write(Path(out), "faq.md")
    verdict_table(results, full, budget_name(meta)).to_csv(Path(out) / VERDICTS_CSV, index=False)
    return page
