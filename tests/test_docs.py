"""The README and the pages under docs/: every relative link resolves (the file, and its #anchor where it names
one), and the README stays short enough for a newcomer to read."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_WORDS = 1500


def links(text: str) -> list[str]:
    """Every link and image target of a Markdown text (code spans and blocks are not links)."""
    out = []
    for block in MarkdownIt("commonmark").enable("table").parse(text):
        for tok in block.children or ():
            if tok.type in ("link_open", "image"):
                out.append(tok.attrs.get("href") or tok.attrs.get("src"))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        tokens = MarkdownIt("commonmark").parse(text)
        return {slug(tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"}
    return set(re.findall(r'\bid="([^"]+)"', text))


def broken(page: Path) -> list[str]:
    bad = []
    for href in links(page.read_text(encoding="utf-8")):
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue  # web links are not checked offline
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not target.exists():
            bad.append(f"{href}: no such file")
        elif parts.fragment and (target.is_dir() or parts.fragment not in anchors(target)):
            bad.append(f"{href}: no heading or id {parts.fragment!r}")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken(page) == []


def test_link_checker_sees_a_broken_file_and_anchor(tmp_path):
    (tmp_path / "a.md").write_text("# Top\n\n## Two words\n\nsee [x](a.md#two-words), [y](b.md), [z](#nowhere)\n"
                                   "and `[code](not-a-link.md)`\n")
    assert broken(tmp_path / "a.md") == ["b.md: no such file", "#nowhere: no heading or id 'nowhere'"]


def test_readme_is_short():
    words = len((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert words <= README_MAX_WORDS, f"README.md has {words} words; move detail to docs/"


def test_readme_keeps_the_install_commands_ci_and_users_rely_on():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.14.1 torchvision==0.29.1 && "
    assert setup + "pip install -e . && bench sweep optimizers --quick" in readme
    assert setup + "pip install -e '.[test]' && python -m pytest" in readme
