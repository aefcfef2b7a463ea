"""The browser tests' kit: Debian chromium launch rules, the tabs,
text boxes and screenshots (recorded in docs/screenshots/manifest.json). Test files import it;
the `browser` and `page` fixtures live in tests/e2e/browser/conftest.py."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

SOURCE = "这款手机电池续航很强"
CANDS = ["手机电量很耐用", "充电速度特别快", "电池容量大，用一天没问题"]


# Records, on the first frame where the pairwise score text is visible, whether its gauge is drawn.
FIRST_SCORE_PROBE = """
window.__firstScore = null;
(function poll() {
  const h = document.querySelector('#gte-score h3');
  if (h && h.checkVisibility({visibilityProperty: true})) {
    window.__firstScore = {gauge: !!document.querySelector('#gauge .js-plotly-plot .main-svg')};
    return;
  }
  requestAnimationFrame(poll);
})();
"""


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


def shot(pg, name: str) -> None:
    """Screenshot the page into artifacts/screenshots/; with UPDATE_SCREENSHOTS=1 also into
    docs/screenshots/, recording in its manifest.json what each image is (tests/project/test_docs.py
    checks README's images against it)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") and name[0].isdigit():  # "1-pairwise": the docs' images
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)
        record_screenshot(pg, path)


MANIFEST = DOCS / "manifest.json"
#: what a test server's temporary folders look like on a page (a model folder, an upload)
TEMP_PATH = re.compile(r"/tmp/|pytest-of-|/var/folders/|gte-export-")


def record_screenshot(pg, path: Path) -> None:
    """One manifest entry per docs image: its hash, the test that took it, the app's tabs as the
    page showed them, and whether the page showed a temporary path."""
    import hashlib
    import json

    tabs = pg.evaluate("[...document.querySelectorAll('[role=tab]')].map(t => t.innerText.trim())")
    entries = json.loads(MANIFEST.read_text(encoding="utf-8")) if MANIFEST.exists() else {}
    entries[path.name] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                          "test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
                          "tabs": tabs, "temp_path": bool(TEMP_PATH.search(pg.locator("body").inner_text()))}
    MANIFEST.write_text(json.dumps(dict(sorted(entries.items())), ensure_ascii=False, indent=1) + "\n",
                        encoding="utf-8")


def open_tab(pg, label: str) -> None:
    tab = pg.get_by_role("tab", name=label)
    if tab.count() and tab.is_visible():
        tab.click()
    else:  # narrow windows fold the last tabs into Gradio's "More tabs" menu
        pg.get_by_label("More tabs").click()
        pg.locator(".overflow-dropdown button", has_text=label).click()


def fill_text(pg, selector: str, text: str) -> None:
    """Fill a Gradio textbox once its tab has mounted.

    A tab opened for the first time renders its components and then sets their initial values;
    a fill that lands in between is overwritten by the example text, and the click sends the
    example (seen once in CI). Wait for the box, fill, and fill again until the value sticks."""
    box = pg.locator(selector)
    box.wait_for()
    for _ in range(5):
        box.fill(text)
        pg.wait_for_timeout(150)
        if box.input_value() == text:
            return
    raise AssertionError(f"{selector} did not keep the text we typed")


def open_app(browser, url: str, width: int = 1280, height: int = 900):
    """A zh-CN page on the app with its first tab mounted; the caller closes the context."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url + "/")
    page.wait_for_selector("#btn-pair")
    return context, page
