"""Every committed page and freshly generated ones, opened by a real browser (headless Chromium driven through
Selenium and the DevTools protocol) at a 1280 x 900 viewport: every image decodes and fits the viewport's width,
nothing scrolls sideways, every in-page link has its target. Screenshots stay in the test's temporary folder.

Outside CI the test skips when Chromium or its driver is not installed; .ci/run installs both from Debian's
packages and sets BENCH_REQUIRE_BROWSER=1, so there it fails instead.
"""
from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "reports" / "examples").rglob("index.html"))
WIDTH, HEIGHT = 1280, 900
BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")

# Waits for every image to decode, then measures the page (run in the browser; the last argument is the callback).
MEASURE = """
const done = arguments[arguments.length - 1];
const images = [...document.images];
Promise.allSettled(images.map(i => i.decode())).then(results => done({
  images: images.map((img, k) => {
    const box = img.getBoundingClientRect();
    return {alt: img.alt.slice(0, 80), decoded: results[k].status === "fulfilled", natural: img.naturalWidth,
            width: box.width, left: box.left, right: box.right};
  }),
  scrollWidth: document.documentElement.scrollWidth,
  viewport: document.documentElement.clientWidth,
  wide: [...document.body.querySelectorAll("*")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(e => e.tagName + ": " + (e.textContent || "").slice(0, 60)),
  brokenLinks: [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute("href").slice(1))
               .filter(id => !document.getElementById(id)),
}));
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


def check_page(driver, page: Path, shots: Path) -> None:
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
    assert not seen["brokenLinks"], f"{page}: links to missing anchors {seen['brokenLinks']}"


@pytest.mark.slow
@pytest.mark.parametrize("page", COMMITTED, ids=[str(p.relative_to(ROOT)) for p in COMMITTED])
def test_committed_page_renders_in_a_browser(browser, page, tmp_path):
    check_page(browser, page, tmp_path)
    assert list(tmp_path.glob("*.png"))  # the screenshot, for a person to look at when the test fails


@pytest.mark.slow
def test_fresh_report_and_study_page_render_in_a_browser(browser, fresh_pages, tmp_path):
    for page in fresh_pages:
        check_page(browser, page, tmp_path)
    assert len(list(tmp_path.glob("*.png"))) == len(fresh_pages)
