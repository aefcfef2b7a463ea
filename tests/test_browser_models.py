"""Several models in the browser: the selector, compare-all, the unknown-token warning, alignment."""

from __future__ import annotations

import pytest

from test_browser import ARGS, _missing, shot  # the browser tests' launch rules and screenshot helper

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture()
def page(two_model_server):
    import shutil

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    exe = shutil.which("chromium") or _missing("chromium is not installed (apt-get install -y chromium fonts-noto-cjk)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
        pg.set_default_timeout(30_000)
        pg.goto(two_model_server.url + "/")
        pg.wait_for_selector("#btn-pair")
        yield pg
        browser.close()


def select_model(pg, name: str) -> None:
    pg.locator("#model-select input").click()
    pg.get_by_role("option", name=name).click()


def test_unknown_characters_are_named_in_a_warning(page):
    page.locator("#sent-a textarea").fill("你好齉齉")  # a rare character the tiny vocabulary lacks
    page.locator("#sent-b textarea").fill("你好")
    page.click("#btn-pair")
    page.wait_for_function("() => document.querySelector('#gte-score').innerText.includes('词表')")
    text = page.locator("#gte-score").inner_text()
    assert "齉" in text and "50%" in text  # CJK characters are tokens of their own: 2 [UNK] of 4
    shot(page, "9-unknown-warning")


def test_compare_all_models_and_the_alignment_view(page, two_model_server):
    select_model(page, "⚖️ 全部比较 Compare all")
    page.locator("#sent-a textarea").fill("A man is playing a guitar.")
    page.locator("#sent-b textarea").fill("Someone plays an instrument.")
    page.click("#btn-pair")
    page.wait_for_function("() => document.querySelector('#gte-score').innerText.includes('minilm')")
    expected = two_model_server.service.for_model("minilm").pair("A man is playing a guitar.", "Someone plays an instrument.")
    assert f"{expected.score:.4f}" in page.locator("#gte-score").inner_text()
    page.locator("#gauge .js-plotly-plot").wait_for()
    shot(page, "10-compare-models")
    select_model(page, "minilm")
    page.get_by_text("为什么相似？Why do they match?").click()
    page.click("#btn-align")
    page.wait_for_function("() => document.querySelector('#align-summary').innerText.includes('F1')")
    page.locator("#align-plot .js-plotly-plot").wait_for()
    assert "guitar" in page.locator("#align-plot").inner_text()
    shot(page, "11-alignment")
