"""Every committed page and freshly generated ones, opened by a real browser (headless Chromium driven through
Selenium and the DevTools protocol) at a 1280 x 900 viewport, with every folded section opened: every image decodes
and fits the viewport's width, its smallest text is at least MIN_TEXT_PX on screen, nothing scrolls sideways, the
table of contents and every other in-page link has its target, every claim carries a verdict badge, the visible
text holds no Markdown backtick and no Python dict, and Chinese text is drawn with real glyphs (not the empty boxes
of a missing font; committed pages with the font they embed). Screenshots stay in the test's temporary folder;
BENCH_SCREENSHOTS=DIR also writes the top of each committed page there (docs/screenshots holds them).

Outside CI the test skips when Chromium or its driver is not installed; .ci/run installs both from Debian's
packages and sets BENCH_REQUIRE_BROWSER=1, so there it fails instead.
"""
from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "reports" / "examples").rglob("index.html"))
WIDTH, HEIGHT = 1280, 900
BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")

# How each committed page is written again: the FAQ page from its committed tables; the studies and the sweep train.
REGENERATE = {"faq": "bench faq --quick --from-runs reports/examples/faq/runs --studies reports/examples/studies "
                     "--out reports/examples/faq --full-runs reports/examples/faq-full/runs --full-studies "
                     "reports/examples/studies-full",
              "faq-full": "bench faq --from-runs reports/examples/faq-full/runs --studies reports/examples/studies-full "
                          "--out reports/examples/faq-full",
              "studies-full": "bench study vanishing --out reports/examples/studies-full (and exploding): the full size",
              "studies": "bench study vanishing --quick --out reports/examples/studies (and exploding)",
              "optimizers-quick": "bench sweep optimizers --quick; bench report runs/optimizers-* --name optimizers-quick "
                                  "--out reports/examples"}
MIN_TEXT_PX = 9  # the smallest figure text a reader can read at 1280 px
DICT = r"\{\s*['\"][^'\"]*['\"]\s*:"  # {'key': ... or {"key": ...: a Python dict printed into the page

# Opens every <details>, waits for the fonts and every image to decode, then measures the page (run in the browser;
# the last argument is the callback). A CJK character is drawn on a canvas in the font of the text that holds it:
# a missing font draws every character as the same empty box, real glyphs differ.
MEASURE = """
const done = arguments[arguments.length - 1];
document.querySelectorAll("details").forEach(d => d.open = true);
const images = [...document.images];
const glyph = (ch, font) => {
  const c = document.createElement("canvas"); c.width = c.height = 48;
  const x = c.getContext("2d"); x.font = font; x.fillText(ch, 4, 40);
  return x.getImageData(0, 0, 48, 48).data.join(",");
};
const cjkText = () => {
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const chars = [...new Set(n.textContent.match(/[\\u4e00-\\u9fff]/g) || [])];
    if (chars.length >= 2) return [n.parentElement, chars];
  }
  return [null, []];
};
document.fonts.ready.then(() => Promise.allSettled(images.map(i => i.decode()))).then(results => {
  const [holder, chars] = cjkText();
  const style = holder && getComputedStyle(holder);
  const font = style && `${style.fontSize} ${style.fontFamily}`;
  done({
    images: images.map((img, k) => {
      const box = img.getBoundingClientRect();
      return {alt: img.alt.slice(0, 80), decoded: results[k].status === "fulfilled", natural: img.naturalWidth,
              width: box.width, left: box.left, right: box.right, fontPx: parseFloat(img.dataset.fontPx || "NaN")};
    }),
    scrollWidth: document.documentElement.scrollWidth,
    viewport: document.documentElement.clientWidth,
    wide: [...document.body.querySelectorAll("*")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
          .slice(0, 5).map(e => e.tagName + ": " + (e.textContent || "").slice(0, 60)),
    brokenLinks: [...document.querySelectorAll('a[href^="#"]')].map(a => decodeURIComponent(a.getAttribute("href").slice(1)))
                 .filter(id => !document.getElementById(id)),
    toc: [...document.querySelectorAll("nav.toc a")].map(a => a.getAttribute("href")),
    claims: document.querySelectorAll(".claim").length,
    unbadged: [...document.querySelectorAll(".claim")].filter(c => !c.querySelector(".badge"))
              .map(c => (c.id || c.textContent).slice(0, 60)),
    text: document.body.innerText,
    cjk: chars.length ? {distinct: glyph(chars[0], font) !== glyph(chars[1], font),
                         embedded: [...document.fonts].some(f => f.family.replace(/"/g, "") === "bench-cjk"
                                                            && f.status === "loaded")} : null,
  });
});
"""


@pytest.fixture(scope="module")
def browser():
    if not (BROWSER and DRIVER):
        if os.environ.get("BENCH_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium or chromedriver is missing but BENCH_REQUIRE_BROWSER=1 (CI installs them)")
        pytest.skip("no Chromium + chromedriver on PATH (Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def fresh_pages(tmp_path_factory) -> list[Path]:
    """A sweep report from the hand-made run and a study page, generated now by the code under test."""
    import math

    import pandas as pd
    import seaborn as sns

    from bench.report import figures as fg
    from bench.report.render import write_report, write_study_page
    from tests.report_fixture import make_run

    root = tmp_path_factory.mktemp("fresh")
    report = write_report([make_run(root / "runs" / "opt")], root / "reports", "opt")
    fig, (ax,) = fg.panels(1, "Gradient norm during training")
    rows = [{"config": c, "seed": s, "step": i, "norm": v} for c, seeds in
            {"lecun": [[1, 2, 3], [2, 3, 4]], "kaiming": [[1, 2, 3], [2, 3, 4]], "residual": [[math.nan] * 3]}.items()
            for s, ys in enumerate(seeds) for i, v in enumerate(ys)]
    sns.lineplot(pd.DataFrame(rows), x="step", y="norm", hue="config", units="seed", estimator=None, ax=ax)
    claims = pd.DataFrame([{"key": "k", "claim": "a claim " * 30, "source": "He et al. 2015", "criterion": "x < 1",
                            "measured": "(0.5," + "0.25," * 60 + "0.1)", "outcome": "pass"}])  # one long word
    study = write_study_page(root / "study", "Gradient study: test", ["Size tiny."], claims, {"grad_norm": fig})
    return [report, study]


def check_page(driver, page: Path, shots: Path, committed: bool = False) -> dict:
    """Every check on one page."""
    driver.get(page.resolve().as_uri())
    seen = driver.execute_async_script(MEASURE)
    name = "-".join(page.relative_to(page.parents[2]).with_suffix("").parts)
    full = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    (shots / f"{name}.png").write_bytes(base64.b64decode(full["data"]))
    assert seen["viewport"] == WIDTH
    assert seen["scrollWidth"] <= seen["viewport"], f"{page} scrolls sideways; too wide: {seen['wide']}"
    for img in seen["images"]:
        assert img["decoded"] and img["natural"] > 0, f"{page}: image {img['alt']!r} does not decode"
        assert img["left"] >= 0 and img["right"] <= WIDTH and img["width"] >= 300, f"{page}: {img}"
        assert img["fontPx"] is not None, f"{page}: image {img['alt']!r} states no text size (drawn before data-font-px)"
        on_screen = img["fontPx"] * img["width"] / img["natural"]
        assert on_screen >= MIN_TEXT_PX, f"{page}: text of {img['alt']!r} is {on_screen:.1f} px on screen"
    assert seen["toc"] and not seen["brokenLinks"], f"{page}: no contents, or links to missing anchors {seen['brokenLinks']}"
    assert seen["claims"] and not seen["unbadged"], f"{page}: claims without a verdict badge: {seen['unbadged']}"
    assert "`" not in seen["text"], f"{page}: a Markdown backtick in the visible text"
    assert not re.search(DICT, seen["text"]), f"{page}: a Python dict in the visible text: {re.search(DICT, seen['text'])}"
    if seen["cjk"]:
        assert seen["cjk"]["distinct"], f"{page}: Chinese text is drawn as empty boxes (no CJK font)"
        assert seen["cjk"]["embedded"] or not committed, f"{page}: the committed page does not use its embedded font"
    return seen


def screenshot_top(driver, page: Path, folder: Path) -> None:
    """The first screen of a page (folded sections closed again, as a reader first sees it)."""
    driver.get(page.resolve().as_uri())
    driver.execute_async_script("document.fonts.ready.then(arguments[arguments.length - 1])")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    folder.mkdir(parents=True, exist_ok=True)
    name = "-".join(page.relative_to(ROOT / "reports" / "examples").parent.parts)
    (folder / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.slow
@pytest.mark.parametrize("page", COMMITTED, ids=[str(p.relative_to(ROOT)) for p in COMMITTED])
def test_committed_page_renders_in_a_browser(browser, page, tmp_path):
    """Every committed page passes every check: contents, badges, links, text, and each figure's text size on
    screen (a page written before these existed fails with the command that writes it again)."""
    kind = next(k for k in REGENERATE if k in page.parts)
    try:
        check_page(browser, page, tmp_path, committed=True)
    except AssertionError as e:
        raise AssertionError(f"{e}\nwrite the page again: {REGENERATE[kind]}") from None
    assert list(tmp_path.glob("*.png"))  # the screenshot, for a person to look at when the test fails
    if os.environ.get("BENCH_SCREENSHOTS"):
        screenshot_top(browser, page, Path(os.environ["BENCH_SCREENSHOTS"]))


@pytest.mark.slow
def test_fresh_report_and_study_page_render_in_a_browser(browser, fresh_pages, tmp_path):
    for page in fresh_pages:
        check_page(browser, page, tmp_path)
    assert len(list(tmp_path.glob("*.png"))) == len(fresh_pages)


@pytest.mark.slow
@pytest.mark.parametrize("flaw,expected", [
    ('<p class="claim">a claim without its verdict</p>', "without a verdict badge"),
    ("<p>run `bench faq` first</p>", "backtick"),
    ("<p>best of {'momentum': (0.01, 0.1)}</p>", "Python dict"),
    ('<a href="#nowhere">a dead link</a>', "missing anchors"),
    ("SHRUNK", "px on screen"),
])
def test_the_checks_see_each_planted_flaw(browser, tmp_path, flaw, expected):
    """A sound page passes; the same page with one flaw planted fails with the flaw named."""
    from bench.report import figures as fg
    from bench.report.render import Page, badge

    fig, axes = fg.panels(2, "A figure")  # 1104 px wide: shown at 300 px its text would be about 5 px
    for ax in axes:
        ax.plot([1, 2, 3], [1, 3, 2])
    page = Page("Planted")
    page.toc([("claims", "Claims")])
    page.heading("Claims", anchor="claims")
    page.raw_html(f'<p class="claim">{badge("supported")} a claim</p>', "")
    page.figure("f", fig, "A line.")
    sound = page.to_html()
    (tmp_path / "sound").mkdir()
    (tmp_path / "sound" / "index.html").write_text(sound)
    check_page(browser, tmp_path / "sound" / "index.html", tmp_path)
    flawed = (sound.replace('data-font-px="', 'style="width:300px" data-font-px="') if flaw == "SHRUNK"
              else sound.replace("</body>", flaw + "</body>"))
    (tmp_path / "flawed").mkdir()
    (tmp_path / "flawed" / "index.html").write_text(flawed)
    with pytest.raises(AssertionError, match=expected):
        check_page(browser, tmp_path / "flawed" / "index.html", tmp_path)
