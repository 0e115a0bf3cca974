"""The FAQ page: each question of the seed tutorial's FAQ, its claims, the experiment, the figures and a verdict
per claim with the numbers and the decision rule. Pure rendering of results judged elsewhere (bench.faq)."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bench.report.render import Page
from bench.report.stats import INCONCLUSIVE, REFUTED, SUPPORTED

VERDICTS = (SUPPORTED, REFUTED, INCONCLUSIVE)


@dataclass
class ClaimResult:
    id: str
    text: str
    rule: str
    verdict: str
    numbers: list[str]
    table: pd.DataFrame | None = None


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
    return f'<span class="verdict-{verdict}">{verdict.upper()}</span>'


def summary_table(results: list[QuestionResult]) -> pd.DataFrame:
    return pd.DataFrame([{"claim": c.id, "statement": c.text, "verdict": c.verdict} for q in results for c in q.claims])


def build_faq(results: list[QuestionResult], meta: dict[str, Any]) -> Page:
    """meta: budget (words), command, machine, created, wall_time, rules (list of sentences), and `reduced`: a
    warning shown first when the budget is smaller than the full one."""
    page = Page("The seed tutorial's FAQ, measured")
    page.text("The tutorial this project grew from ends with an FAQ of advice that practitioners repeat without "
              "evidence. Each claim below was turned into an experiment with a decision rule fixed in code before the "
              "data came in, and judged supported, refuted or inconclusive.")
    facts = [f"Command: {meta['command']}", f"Machine: {meta['machine']}", f"Budget: {meta['budget']}",
             f"Generated: {meta['created']} in {meta['wall_time']}"]
    if meta.get("reduced"):
        facts.insert(0, meta["reduced"])
    page.bullets(facts)
    table = summary_table(results)
    counts = table["verdict"].value_counts()
    page.heading("Verdicts", anchor="verdicts")
    page.text(", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + f" of {len(table)} claims.")
    page.table(table)
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
                      f"\n### {c.id} {c.verdict.upper()}: {c.text}\n")
        page.text(f"Decision rule: {c.rule}.", "note")
        page.bullets(c.numbers)
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
