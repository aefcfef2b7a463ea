"""Several models in the browser: the selector, compare-all, the unknown-token warning, alignment."""

from __future__ import annotations

import pytest

from browser_kit import ARGS, _missing, shot

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
    # issue 30.8: numbers and names in the compare table stay on one line each
    lines = page.evaluate("[...document.querySelectorAll('#gte-score table td')].filter(td => !/\\s/.test(td.innerText))"
                          ".map(td => { const r = document.createRange(); r.selectNodeContents(td);"
                          " return [td.innerText, new Set([...r.getClientRects()].map(x => Math.round(x.top))).size]; })")
    assert len(lines) >= 6 and all(n == 1 for _, n in lines), lines  # each word-free cell on one line
    assert "Gauge" not in page.locator("#gauge").inner_text()
    shot(page, "10-compare-models")
    select_model(page, "minilm")
    page.get_by_text("为什么相似？Why do they match?").click()
    page.click("#btn-align")
    page.wait_for_function("() => document.querySelector('#align-summary').innerText.includes('F1')")
    page.locator("#align-plot .js-plotly-plot").wait_for()
    assert "guitar" in page.locator("#align-plot").inner_text()
    shot(page, "11-alignment")


def test_compare_all_on_the_ranking_and_evaluate_tabs(page, two_model_server):
    """Compare-all beyond the pairwise tab: a score column per model and Kendall's τ on the ranking
    tab; one row per model (ROC-AUC for ATEC's 0/1 labels) on the Evaluate tab."""
    from gte_ui.evaluation.compare import rank_agreement
    from browser_kit import fill_text, open_tab

    select_model(page, "⚖️ 全部比较 Compare all")
    open_tab(page, "排序 One-to-many")
    source = "A man is playing a guitar."
    cands = ["A woman plays a violin.", "Stock markets fell sharply today.", "Someone plays an instrument."]
    fill_text(page, "#rank-src textarea", source)
    fill_text(page, "#rank-cands textarea", "\n".join(cands))
    page.click("#btn-rank")
    page.wait_for_function("() => document.querySelector('#rank-summary').innerText.includes('τ')")
    services = two_model_server.service.models()
    tau = rank_agreement({s.name: s.rank(source, cands).scores for s in services})[(services[0].name, "minilm")]
    assert f"τ = {tau:.3f}" in page.locator("#rank-summary").inner_text()
    table = page.locator("#rank-table").inner_text()
    assert all(f"{s.name} 得分 score" in table for s in services)
    shot(page, "12-compare-ranking")

    open_tab(page, "评估 Evaluate")
    page.get_by_label("或选示例 Or a sample (assets/samples)").click()
    page.get_by_role("option", name="atec_300.tsv").click()
    page.click("#btn-eval")
    page.wait_for_function("() => document.querySelector('#eval-summary').innerText.includes('ROC-AUC')",
                           timeout=120_000)
    summary = page.locator("#eval-summary").inner_text()
    assert "minilm" in summary and services[0].name in summary and "300 pairs" in summary
    # the overlaid score distributions: a visible plot whose legend names the models
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot .legendtext')]"
                           ".some(t => t.checkVisibility() && t.textContent.includes('minilm'))")
    # one colour per model, as the legend shows it: no translucent overlay mixing them
    fills = page.evaluate("[...document.querySelectorAll('#eval-plot .trace.bars')].map(t => "
                          "[getComputedStyle(t).opacity, getComputedStyle(t.querySelector('.point path')).opacity])")
    assert len(fills) == 2 and all(float(o) == 1.0 for pair in fills for o in pair), fills
    assert "Scores per label" not in page.locator("#eval-plot").inner_text()
    shot(page, "13-compare-evaluate")


def test_ranking_names_unreadable_candidates_once_and_marks_their_rows(page, two_model_server):
    """Issue 30.4: MiniLM reads no Chinese. The Ranking tab says so in one line, naming the
    candidates by the rank the table shows, and marks those rows (it was five warnings that
    numbered texts differently from the table)."""
    from browser_kit import fill_text, open_tab

    select_model(page, "minilm")
    open_tab(page, "排序 One-to-many")
    fill_text(page, "#rank-src textarea", "今天天气怎么样")
    fill_text(page, "#rank-cands textarea", "今天天气很好\nA sunny day today.\n明天会下雨吗\n天气预报说晴天")
    page.click("#btn-rank")
    page.wait_for_function("() => document.querySelector('#rank-summary').innerText.includes('4 个候选')")
    summary = page.locator("#rank-summary").inner_text()
    assert summary.count("⚠") == 1 and "cannot read them" in summary
    cells = page.evaluate("[...document.querySelectorAll('#rank-table .virtual-row')].map(row => "
                          "[...row.querySelectorAll('.body-cell')].map(c => c.innerText.trim()))")
    rows = [r for r in cells if r and r[0].isdigit()]
    assert len(rows) == 4, page.locator("#rank-table").inner_text()[:600]
    for row in rows:
        rank, notes = row[0], row[-1]
        assert ("未知词元" in notes) == (f"rank {rank} " in summary), (row, summary)
    assert sum("未知词元" in row[-1] for row in rows) == 3  # the English candidate reads fine
    shot(page, "ranking-unknown-tokens")
