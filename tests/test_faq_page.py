"""The FAQ page as rendered from the committed quick run's tables (reports/examples/faq/runs, no training): every
claim and every comparison it prints has its verdicts.csv row, every link on the page resolves from where the page
is, the raw tables behind each claim are linked, and the full budget's verdicts sit beside the quick ones (pending
until a full run is supplied)."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.faq.main import RULES, judge_existing
from bench.faq.questions import QUESTIONS
from bench.report import faq as rf
from bench.report import stats as st
from bench.report.render import TONES
from bench.search.experiment import BUDGETS

COMMITTED = Path(__file__).resolve().parents[1] / "reports" / "examples"
RUNS, STUDIES = COMMITTED / "faq" / "runs", COMMITTED / "studies"
INTERVAL = re.compile(r"\d% CI")  # a sentence that reports an interval reports a comparison
META = {"command": "bench faq --quick", "machine": "test", "budget": "quick: test", "budget_name": "quick",
        "created": "now", "wall_time": "0 minutes", "rules": RULES, "reduced": ""}

pytestmark = pytest.mark.skipif(not (RUNS / "optimizers" / "trials.parquet").exists(),
                                reason="the committed FAQ run tables are not in this checkout")


@pytest.fixture(scope="module")
def quick():
    return judge_existing(list(QUESTIONS), BUDGETS["quick"], RUNS, STUDIES)


@pytest.fixture(scope="module")
def page(quick, tmp_path_factory):
    """The page written to a folder away from the run tables (links must be relative to the page, not the cwd)."""
    out = tmp_path_factory.mktemp("site") / "faq"
    rf.write_faq(quick, META, out)
    return out


def test_every_question_is_judged_from_the_committed_tables(quick):
    assert [q.id for q in quick] == [q.id for q in QUESTIONS]


def test_every_claim_and_every_comparison_on_the_page_has_its_verdicts_csv_row(quick, page):
    table = pd.read_csv(page / rf.VERDICTS_CSV, dtype={"claim": str})
    shown = re.findall(r'<h3 id="c([\d.]+[a-z])" class="claim">', (page / "index.html").read_text())
    assert shown and set(shown) == set(table["claim"])
    for claim in (c for q in quick for c in q.claims):
        printed = [n for n in claim.numbers if INTERVAL.search(n) and "context, not part of the verdict" not in n]
        rows = table[(table["claim"] == claim.id) & table["ci_low"].notna()]
        assert len(rows) == len(printed), (claim.id, printed, rows["comparison"].tolist())
        assert all(rows["comparison"].str.len() > 0) and rows["half_width"].notna().all(), claim.id
        if printed:  # each comparison prints its precision: the half-width, and seeds needed when it is too wide
            assert all("half-width" in n for n in printed), claim.id
    contrast = table[table["claim"] == "8.7a"]
    assert len(contrast) == 2 and (contrast["rule"] == "superiority (contrast)").sum() == 1
    regression = table.loc[table["claim"] == "8.2b", "comparison"].tolist()  # against the best other regression loss
    assert len(regression) == 1 and regression[0] in ("adding: mse vs mae", "adding: mse vs huber")


def links(page: Path) -> list[str]:
    html = (page / "index.html").read_text()
    md = (page / "faq.md").read_text()
    return re.findall(r'href="([^"#][^"]*)"', html) + re.findall(r"\]\(([^)#][^)]*)\)", md)


def test_every_link_on_the_page_resolves_from_the_page(page):
    found = links(page)
    assert any(link.endswith("runs/optimizers/trials.parquet") for link in found)
    assert any(link.endswith("studies/vanishing/claims.csv") for link in found)
    for link in found:
        assert not link.startswith(("/", "http")), link
        assert (page / unquote(link)).is_file(), link


def test_each_claim_links_the_raw_tables_it_was_judged_on(quick, page):
    html = (page / "index.html").read_text()
    for claim in (c for q in quick for c in q.claims):
        assert claim.sources, claim.id
        section = html.split(f'<h3 id="c{claim.id}" class="claim">', 1)[1].split("<h3 ", 1)[0]
        for source in claim.sources:
            kind = "claims.csv" if "studies" in source else "trials.parquet"
            assert f'{Path(source).name}/{kind}"' in section, (claim.id, source)
    assert [Path(s).name for s in next(c for q in quick for c in q.claims if c.id == "8.10f").sources] == ["overfitting"]


def test_the_full_budget_is_pending_in_the_table_and_absent_from_the_page_until_a_full_run_is_supplied(page):
    table = pd.read_csv(page / rf.VERDICTS_CSV)
    assert (table["verdict_full"] == rf.PENDING).all()
    for name in ("faq.md", "index.html"):
        text = (page / name).read_text()
        assert "verdict (full budget)" not in text and "At the full budget" not in text and "pending" not in text
        assert "Full budget: the full budget (" in text  # said once, under About this run


def test_the_page_answers_first_every_claim_a_badge_linking_to_its_section(quick, page):
    html = (page / "index.html").read_text()
    answers = html[html.index('id="answers"'):html.index('id="q8.1"')]
    claims = [c for q in quick for c in q.claims]
    for c in claims:
        word = st.VERDICT_WORDS[c.verdict]
        assert f'<a class="badge {TONES.get(word.split()[0], "none")} verdict-{word.replace(" ", "-")}" href="#c{c.id}">' \
            in answers, c.id
    assert answers.count('<li class="claim">') == len(claims)
    toc = html[html.index('<nav class="toc"'):html.index("</nav>")]
    assert all(f'href="#q{q.id}"' in toc for q in quick)
    assert "`" not in re.sub(r"<[^>]+>", "", html.split("<body>", 1)[1])  # code spans are <code>, not backticks
    assert "<code>bench faq</code>" in html


def test_the_full_budgets_verdicts_sit_beside_the_quick_ones(quick, tmp_path):
    full = judge_existing([q for q in QUESTIONS if q.id == "8.2"], BUDGETS["full"], RUNS, None)
    assert [c.id for q in full for c in q.claims] == ["8.2a", "8.2b"]
    full[0].claims[0] = replace(full[0].claims[0], verdict=st.REFUTED)  # planted: differs from the quick verdict
    rf.write_faq(quick, META, tmp_path, full)
    table = pd.read_csv(tmp_path / rf.VERDICTS_CSV).drop_duplicates("claim").set_index("claim")["verdict_full"]
    assert table["8.2a"] == "refuted" and table["8.2b"] == st.VERDICT_WORDS[full[0].claims[1].verdict]
    assert table.drop(["8.2a", "8.2b"]).eq(rf.PENDING).all()
    section = (tmp_path / "faq.md").read_text().split("### 8.2a ", 1)[1].split("### ", 1)[0]
    assert "At the full budget: REFUTED" in section
    answers = (tmp_path / "index.html").read_text().split('id="answers"', 1)[1].split('id="q8.1"', 1)[0]
    assert "FULL: REFUTED" in answers and answers.count("FULL: ") == 2  # beside the quick badge, where it exists


def test_the_full_budget_line_says_where_its_verdicts_come_from_and_how_long_they_trained(quick, tmp_path):
    """With a full run beside it, About this run names its folders and the training time their run.json files record
    (the committed quick folders stand in for a full run here: the sum is what is checked)."""
    import json

    from bench.faq.main import full_run_summary
    from bench.report.units import duration

    infos = [json.loads(p.read_text()) for p in [*RUNS.glob("*/run.json"), *STUDIES.glob("*/run.json")]]
    seconds = sum(i.get("wall_time", 0) for i in infos)
    line = full_run_summary(RUNS, STUDIES)
    assert f"{len(infos)} experiments and studies that trained for {duration(seconds)} in all" in line, line
    assert str(RUNS) in line and str(STUDIES) in line and "2 CPU cores, no GPU" in line
    full = judge_existing([q for q in QUESTIONS if q.id == "8.2"], BUDGETS["full"], RUNS, None)
    rf.write_faq(quick, {**META, "full": line}, tmp_path, full)
    assert f"Full budget: {line}." in (tmp_path / "faq.md").read_text()
    assert "Full budget: the full budget (" not in (tmp_path / "faq.md").read_text()  # not also "pending"


FULL_RUNS, FULL_STUDIES = COMMITTED / "faq-full" / "runs", COMMITTED / "studies-full"


@pytest.mark.skipif(not (FULL_RUNS / "optimizers" / "trials.parquet").exists(), reason="no committed full-budget run")
def test_the_committed_pages_are_their_tables_verdicts_at_both_budgets(quick):
    """The committed quick page's two verdict columns and the committed full-budget page are what their committed
    tables give today: every claim judged again from reports/examples/faq*/runs and the studies' claims."""
    full = judge_existing(list(QUESTIONS), BUDGETS["full"], FULL_RUNS, FULL_STUDIES)
    words = lambda results: {c.id: st.VERDICT_WORDS[c.verdict] for q in results for c in q.claims}
    page = pd.read_csv(COMMITTED / "faq" / rf.VERDICTS_CSV, dtype=str).drop_duplicates("claim").set_index("claim")
    assert page["verdict"].to_dict() == words(quick) and page["verdict_full"].to_dict() == words(full)
    alone = pd.read_csv(COMMITTED / "faq-full" / rf.VERDICTS_CSV, dtype=str).drop_duplicates("claim").set_index("claim")
    assert alone["verdict"].to_dict() == words(full) and alone["verdict_full"].isna().all()  # no second column there


def test_a_full_budget_page_has_no_second_column(quick, tmp_path):
    rf.write_faq(quick, {**META, "budget_name": "full"}, tmp_path)
    md = (tmp_path / "faq.md").read_text()
    assert "verdict (full budget)" not in md and "At the full budget" not in md


def test_a_missing_full_runs_folder_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["faq", "--budget", "tiny", "--questions", "8.2", "--out", str(tmp_path / "o"),
                                      "--runs", str(tmp_path / "r"), "--full-runs", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "nowhere is not a folder" in result.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "r").exists()


def test_raw_table_links_are_url_quoted(tmp_path):
    """A --runs folder with a space ("my runs") must still give working links: quoted, as the study pages' are."""
    from bench.report.faq import raw_links

    source = tmp_path / "my runs" / "optimizers"
    source.mkdir(parents=True)
    (source / "trials.parquet").write_bytes(b"")
    page = tmp_path / "page"
    page.mkdir()
    [(name, [(file, link)])] = raw_links([str(source)], page)
    assert (name, file, link) == ("optimizers", "trials.parquet", "../my%20runs/optimizers/trials.parquet")
    assert (page / unquote(link)).is_file()
