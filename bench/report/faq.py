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

from bench.report.render import Page, badge, inline, shown
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


def answer_line(q: QuestionResult) -> str:
    """The question's answer at this budget in one line: its claims by verdict."""
    counts = pd.Series([VERDICT_WORDS[c.verdict] for c in q.claims], dtype=object).value_counts()
    return ", ".join(f"{n} {word}" for word, n in counts.items()) + f" (of {len(q.claims)} claims)"


def build_faq(results: list[QuestionResult], meta: dict[str, Any], folder: Path | None = None,
              full: list[QuestionResult] | None = None) -> Page:
    """meta: budget (words), budget_name, command, machine, created, wall_time, rules (list of sentences), and
    `reduced`: a warning shown first when the budget is smaller than the full one. folder: where the page will be
    written (links to the raw tables are relative to it; default the working directory). full: the same claims
    judged at the full budget, shown beside this page's verdicts (only where given), with meta's `full` (where
    they were judged from, and how long that run trained) under About this run.

    Answer first: every question with its claims' verdicts as badges linking to their sections; each claim then
    shows its comparisons in one line each, with the rule, the numbers, the gates and the raw tables folded away."""
    budget = budget_name(meta)
    other = by_claim(full) if full and budget != FULL else None
    page = Page("The seed tutorial's FAQ, measured")
    page.text("The tutorial this project grew from ends with an FAQ of advice that practitioners repeat without "
              "evidence. Each claim below was turned into an experiment with a decision rule fixed in code before the "
              "data came in, checked against sanity gates, and judged supported, refuted or inconclusive, or "
              "untestable at this budget / not exercised when a gate failed.")
    if meta.get("reduced"):
        page.text(meta["reduced"], "note")
    page.toc([("answers", "Answers"), *((f"q{q.id}", f"{q.id} {q.title}") for q in results),
              ("rules", "How claims are judged"), ("about", "About this run")])
    _answers(page, results, other)
    for q in results:
        _question(page, q, folder, other)
    page.heading("How claims are judged", anchor="rules")
    page.bullets(meta["rules"])
    _about(page, meta, budget, full)
    return page


def _answers(page: Page, results: list[QuestionResult], full: dict[str, ClaimResult] | None) -> None:
    page.heading("Answers", anchor="answers")
    page.text(tally(results))
    parts, md = [], []
    for q in results:
        parts.append(f'<p class="question"><a href="#q{q.id}">{inline(f"{q.id} {q.title}")}</a>: '
                     f"{inline(answer_line(q))}</p><ul>")
        md.append(f"**[{q.id} {q.title}](#q{q.id})**: {answer_line(q)}\n")
        for c in q.claims:
            word = VERDICT_WORDS[c.verdict]
            extra = f" {_full_badge(full[c.id])}" if full and c.id in full else ""
            parts.append(f'<li class="claim">{badge(word, f"#c{c.id}")}{extra} <a href="#c{c.id}">{inline(c.id)}</a> '
                         f"{inline(c.text)}</li>")
            md.append(f"- **{word.upper()}** [{c.id}](#c{c.id}) {c.text}")
        parts.append("</ul>")
        md.append("")
    page.raw_html('<div class="answers">' + "".join(parts) + "</div>", "\n".join(md) + "\n")


def _full_badge(claim: ClaimResult) -> str:
    return badge(f"full: {VERDICT_WORDS[claim.verdict]}")


def _about(page: Page, meta: dict[str, Any], budget: str, full: list[QuestionResult] | None) -> None:
    page.heading("About this run", anchor="about")
    facts = [f"Command: {meta['command']}", f"Machine: {meta['machine']}", f"Budget: {meta['budget']}",
             f"Generated: {meta['created']} in {meta['wall_time']}"]
    if budget != FULL and not full:
        facts.append(f"Full budget: {HOW_FULL}.")
    elif budget != FULL and meta.get("full"):
        facts.append(f"Full budget: {meta['full']}.")
    page.bullets(facts)
    page.raw_html(f'<p>Every comparison with its numbers and gates: <a href="{VERDICTS_CSV}">{VERDICTS_CSV}</a> beside '
                  "this page; the raw tables behind each claim are linked under it.</p>",
                  f"Every comparison with its numbers and gates: [{VERDICTS_CSV}]({VERDICTS_CSV}) beside this page; the "
                  "raw tables behind each claim are linked under it.\n")


def _question(page: Page, q: QuestionResult, folder: Path | None, full: dict[str, ClaimResult] | None) -> None:
    page.heading(f"{q.id} {q.title}", anchor=f"q{q.id}")
    page.raw_html(f"<blockquote lang=\"zh\">{html.escape(q.quote)}</blockquote>"
                  f"<p><em>{inline(q.translation)}</em> ({inline(q.source)} {html.escape(q.id)})</p>",
                  f"> {q.quote}\n\n*{q.translation}* ({q.source} {q.id})\n")
    for c in q.claims:
        _claim(page, c, folder, full)
    page.heading("The experiment", 4)
    page.text(q.experiment)
    for name, fig, caption in q.figures:
        page.figure(name, fig, caption)
    for reason in q.missing:
        page.text(f"Figure not shown: {reason}.", "note")
    if q.findings:
        page.heading("Findings", 4)
        page.bullets(q.findings)
    if q.notes:
        page.heading("Notes", 4)
        page.bullets(q.notes)
    if q.runs:
        page.text("Result tables: " + ", ".join(q.runs) + " (`bench report FOLDER` renders any of them in full).", "note")


def comparisons_view(rows: list[dict]) -> pd.DataFrame:
    """A claim's comparisons, one line each: the gain and its interval (the CI level in the header when every row
    shares it), the margin, the seeds, the gates that failed and the comparison's verdict."""
    levels = {round(r["ci_level"], 4) for r in rows if pd.notna(r.get("ci_level"))}
    ci = f"{shown(100 * levels.pop())}% CI" if len(levels) == 1 else "CI"
    return pd.DataFrame({
        "comparison": [r["comparison"] for r in rows],
        f"gain [{ci}]": [f"{shown(r['estimate'])} [{shown(r['ci_low'])}, {shown(r['ci_high'])}]" for r in rows],
        "margin": [shown(r.get("margin")) for r in rows],
        "seeds": [f"{shown(r.get('seeds_a'))} vs {shown(r.get('seeds_b'))}" for r in rows],
        "gates": [", ".join(k[5:] + " failed" for k, v in r.items() if k.startswith("gate_") and v == "fail") or "passed"
                  for r in rows],
        "verdict": [VERDICT_WORDS.get(r["comparison_verdict"], str(r["comparison_verdict"])) for r in rows]})


def _claim(page: Page, c: ClaimResult, folder: Path | None, full: dict[str, ClaimResult] | None) -> None:
    word = VERDICT_WORDS[c.verdict]
    other = full.get(c.id) if full else None
    extra = f" {_full_badge(other)}" if other else ""
    page.raw_html(f'<h3 id="c{c.id}" class="claim">{html.escape(c.id)} {badge(word)}{extra} {inline(c.text)}</h3>',
                  f'\n<a id="c{c.id}"></a>\n\n### {c.id} {word.upper()}: {c.text}\n')
    compared = [r for r in c.rows if pd.notna(r.get("ci_low"))]
    if compared:
        view = comparisons_view(compared)
        page.table(view, {"verdict": badge})
        if len({round(r["ci_level"], 4) for r in compared}) > 1:
            page.text("Each interval is at the Holm-compatible level its comparison's decision used (see the numbers).",
                      "note")
    with page.details("Decision rule, numbers, gates and raw tables"):
        page.text(f"Decision rule: {c.rule}.", "note")
        page.bullets(c.numbers + [f"{comp}: the same comparison is used by {', '.join(others)}"
                                  for comp, others in c.shared.items()])
        if c.table is not None and len(c.table):
            page.table(c.table)
        if other:
            page.raw_html(f"<p>At the full budget: {badge(VERDICT_WORDS[other.verdict])}</p>",
                          f"At the full budget: {VERDICT_WORDS[other.verdict].upper()}\n")
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
