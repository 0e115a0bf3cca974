"""The FAQ page: each question of the seed tutorial's FAQ, its claims, the experiment, the figures and a verdict
per claim with the numbers and the decision rule. Pure rendering of results judged elsewhere (bench.faq)."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bench.report.render import Page
from bench.report.stats import INCONCLUSIVE, NOT_EXERCISED, REFUTED, SUPPORTED, UNTESTABLE, VERDICT_WORDS

VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE, UNTESTABLE, NOT_EXERCISED)
VERDICTS_CSV = "verdicts.csv"
CSV_COLUMNS = ["claim", "verdict", "comparison", "rule", "comparison_verdict", "outcome", "metric", "margin", "estimate",
               "ci_low", "ci_high", "ci_level", "half_width", "seeds_for_margin", "test", "p", "p_holm", "seeds_a",
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


def verdict_table(results: list[QuestionResult]) -> pd.DataFrame:
    """verdicts.csv: one row per comparison (a claim without comparisons, e.g. one judged by a study, gets one row
    with its verdict)."""
    rows = []
    for c in (c for q in results for c in q.claims):
        base = {"claim": c.id, "verdict": VERDICT_WORDS[c.verdict]}
        for r in c.rows or [{}]:
            shared = ", ".join(c.shared.get(r.get("comparison", ""), []))
            rows.append({**base, **r, "comparison_verdict": VERDICT_WORDS.get(r.get("comparison_verdict"), ""),
                         "shared_with": shared})
    return pd.DataFrame(rows).reindex(columns=CSV_COLUMNS)


def summary_table(results: list[QuestionResult]) -> pd.DataFrame:
    return pd.DataFrame([{"claim": c.id, "statement": c.text, "verdict": VERDICT_WORDS[c.verdict],
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


def build_faq(results: list[QuestionResult], meta: dict[str, Any]) -> Page:
    """meta: budget (words), command, machine, created, wall_time, rules (list of sentences), and `reduced`: a
    warning shown first when the budget is smaller than the full one."""
    page = Page("The seed tutorial's FAQ, measured")
    page.text("The tutorial this project grew from ends with an FAQ of advice that practitioners repeat without "
              "evidence. Each claim below was turned into an experiment with a decision rule fixed in code before the "
              "data came in, checked against sanity gates, and judged supported, refuted or inconclusive, or "
              "untestable at this budget / not exercised when a gate failed.")
    facts = [f"Command: {meta['command']}", f"Machine: {meta['machine']}", f"Budget: {meta['budget']}",
             f"Generated: {meta['created']} in {meta['wall_time']}",
             f"Every comparison with its numbers and gates: {VERDICTS_CSV} beside this page."]
    if meta.get("reduced"):
        facts.insert(0, meta["reduced"])
    page.bullets(facts)
    page.heading("Verdicts", anchor="verdicts")
    page.text(tally(results))
    page.table(summary_table(results))
    page.heading("How claims are judged", anchor="rules")
    page.bullets(meta["rules"])
    for q in results:
        _question(page, q)
    return page


def _question(page: Page, q: QuestionResult) -> None:
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
        page.raw_html(f'<h3 id="c{c.id}">{html.escape(c.id)} {badge(c.verdict)} {html.escape(c.text)}</h3>',
                      f"\n### {c.id} {VERDICT_WORDS[c.verdict].upper()}: {c.text}\n")
        page.text(f"Decision rule: {c.rule}.", "note")
        page.bullets(c.numbers + [f"{comp}: the same comparison is used by {', '.join(others)}"
                                  for comp, others in c.shared.items()])
        if c.table is not None and len(c.table):
            page.table(c.table)
    if q.findings:
        page.heading("Findings", 4)
        page.bullets(q.findings)
    if q.notes:
        page.heading("Notes", 4)
        page.bullets(q.notes)
    if q.runs:
        page.text("Result tables: " + ", ".join(q.runs) + " (`bench report FOLDER` renders any of them in full).", "note")
