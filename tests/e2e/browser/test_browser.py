"""The UI in a real browser: headless Chromium (Debian's) driven by Playwright, app on 127.0.0.1.

Screenshots of every tab go to artifacts/screenshots/ (and to docs/screenshots/ for the README
when UPDATE_SCREENSHOTS=1). Without playwright this skips, except under CI, where it fails.
Without Debian's chromium or fonts-noto-cjk it fails with the apt-get line that installs them
(``-m 'not browser'`` leaves these tests out).
"""

from __future__ import annotations


import numpy as np
import pytest

from browser_kit import (SOURCE, CANDS, shot,
                         open_tab, fill_text)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

def test_pairwise_score_and_gauge(page, live_server):
    page.locator("#sent-a textarea").fill("今天天气很好")
    page.locator("#sent-b textarea").fill("我们去公园散步")
    page.click("#btn-pair")
    expected = live_server.service.pair("今天天气很好", "我们去公园散步")
    page.wait_for_function(
        "s => document.querySelector('#gte-score h3') && document.querySelector('#gte-score h3').innerText.startsWith(s)",
        arg=f"{expected.score:.4f}")
    assert expected.verdict.zh in page.locator("#gte-score").inner_text()
    gauge = page.locator("#gauge .js-plotly-plot")
    gauge.wait_for()
    assert page.locator("#gauge svg").count() > 0  # the gauge is drawn
    assert f"{expected.percent:.1f}" in page.locator("#gauge").inner_text()
    shot(page, "1-pairwise")


def test_first_load_shows_score_and_gauge_together(page):
    page.wait_for_function("() => window.__firstScore !== null")
    assert page.evaluate("window.__firstScore.gauge"), "the score text appeared before its gauge"


def test_pairwise_cache_hit_is_not_named(page):
    page.locator("#sent-a textarea").fill("花呗怎么提前还款")
    page.locator("#sent-b textarea").fill("蚂蚁花呗可以提前还吗")
    page.click("#btn-pair")
    page.wait_for_function("() => document.querySelector('#gte-score').innerText.includes('耗时 Time')")
    page.click("#btn-pair")  # a cache hit now, which the page must not reveal (issue 26)
    page.wait_for_timeout(1500)  # the answer replaces the text in place: nothing new to wait for
    shown = page.locator("#gte-score").inner_text()
    assert "耗时 Time" in shown and "From cache" not in shown and "缓存" not in shown


def test_error_is_shown_not_crashing(page):
    page.locator("#sent-a textarea").fill("   ")
    page.click("#btn-pair")
    page.wait_for_function("() => document.querySelector('#gte-score').innerText.includes('sentence A is empty')")
    page.locator("#sent-a textarea").fill("好")
    page.click("#btn-pair")
    page.wait_for_function("() => /^\\d\\.\\d{4}/.test(document.querySelector('#gte-score h3')?.innerText || '')")


def test_ranking_order(page, live_server):
    open_tab(page, "排序 One-to-many")
    fill_text(page, "#rank-src textarea", SOURCE)
    fill_text(page, "#rank-cands textarea", "\n".join(CANDS))
    page.click("#btn-rank")
    page.wait_for_function("() => document.querySelector('#rank-summary').innerText.includes('3 个候选')")
    expected = [r.text for r in live_server.service.rank(SOURCE, CANDS).rows]
    table = page.locator("#rank-table").inner_text()
    positions = [table.index(t) for t in expected]
    assert positions == sorted(positions), f"table order differs from the engine's: {expected}"
    shot(page, "2-ranking")


def test_vector_export_npy(page, live_server, tmp_path):
    open_tab(page, "向量 Vector")
    texts = ["这款手机电池续航很强", "今天天气很好", "我想借钱"]
    fill_text(page, "#vec-in textarea", "\n".join(texts))
    page.click("#btn-vec")
    page.wait_for_function("() => (document.querySelector('#vec-summary')?.innerText || '').startsWith('3 条文本')")
    link = page.locator('#vec-files a[download="vectors.npy"]')
    link.wait_for()
    with page.expect_download() as dl:
        link.click()
    target = tmp_path / "vectors.npy"
    dl.value.save_as(target)
    got = np.load(target)
    expected = live_server.service.encoder.encode(texts).vectors
    assert got.shape == (3, live_server.service.dim) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert f"维度 dimension **{live_server.service.dim}**".replace("**", "") in page.locator("#vec-summary").inner_text()
    page.locator("#vec-json .cm-content").get_by_text('"vector": [').first.wait_for()
    widths = page.evaluate("[...document.querySelectorAll('#vec-json .cm-scroller')].map(e => e.scrollWidth - e.clientWidth)")
    assert widths and max(widths) <= 1, "the vector JSON scrolls sideways"
    shot(page, "3-vector")


LONG = "这是一句很长的话，用来检查矩阵的坐标轴标签被截短以后，悬停时仍然能看到完整的原文"


def test_matrix_and_about_tabs(page, live_server):
    open_tab(page, "矩阵 Matrix")
    fill_text(page, "#mat-in textarea", "\n".join([LONG, "这款手机电池续航很强", "手机电量很耐用", "今天天气很好"]))
    page.click("#btn-mat")
    page.locator("#mat-plot .js-plotly-plot .heatmaplayer, #mat-plot .js-plotly-plot .hm").first.wait_for()
    box = page.locator("#mat-plot .nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 8, box["y"] + box["height"] / 8)  # the top-left cell: LONG × LONG
    hover = page.locator("#mat-plot .hoverlayer .hovertext")
    hover.first.wait_for()
    assert "完整的原文" in hover.first.text_content()  # past the axis label's cut
    shot(page, "4-matrix")
    open_tab(page, "关于 About")
    page.get_by_text("最大长度 Max length").wait_for()
    body = page.locator("body").inner_text()
    assert live_server.service.info.path not in body and live_server.service.info.name in body
    page.wait_for_function("url => document.querySelector('#about').innerText.includes(url + '/api/predict')",
                           arg=live_server.url)
    shot(page, "5-about")


def app_tabs(service) -> list[str]:
    """The tabs the app shows (a new tab counts without editing the tests)."""
    import gradio as gr

    from gte_ui.frontends.ui.app import build_demo

    return [b.label for b in build_demo(service).blocks.values() if isinstance(b, gr.Tab) and b.visible is not False]


def test_phone_width(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    pg = context.new_page()
    pg.goto(live_server.url + "/")
    pg.wait_for_selector("#btn-pair")
    pg.click("#btn-pair")
    pg.locator("#gauge .js-plotly-plot").wait_for()
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"page scrolls sideways at phone width ({width}px)"
    # issue 30.8: every tab in the bar (it wraps), none folded behind "⋯"
    tabs = pg.get_by_role("tab")
    n = len(app_tabs(live_server.service))
    assert tabs.count() == n and all(tabs.nth(i).is_visible() for i in range(n))
    assert not pg.get_by_label("More tabs").is_visible()
    pg.get_by_role("tab", name="关于 About").click()
    pg.get_by_text("最大长度 Max length").wait_for()
    pg.get_by_role("tab", name="相似度 Pairwise").click()
    shot(pg, "6-phone")
    context.close()


def test_evaluate_tab_with_a_sample(page, live_server):
    open_tab(page, "评估 Evaluate")
    page.get_by_label("或选示例 Or a sample (assets/samples)").click()
    page.get_by_role("option", name="atec_300.tsv").click()
    page.click("#btn-eval")
    page.wait_for_function("() => document.querySelector('#eval-summary').innerText.includes('ROC-AUC')", timeout=60_000)
    text = page.locator("#eval-summary").inner_text()
    assert "300 pairs" in text
    # Issue 18.7: ATEC is 86 % zeros; the majority baseline stands beside accuracy.
    assert "Majority baseline" in text and "0.8633" in text and "Balanced accuracy" in text
    shot(page, "7-evaluate")


@pytest.fixture(scope="module")
def keyed_server(tiny_model_dir):
    """The whole app with --api-key set: the page must keep working through its own cookie."""
    from conftest import LiveServer

    from gte_ui.core.settings import Settings
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", api_key="browser-key")
    service = EmbeddingService.from_settings(settings)
    with LiveServer(create_app(service, settings)) as server:
        server.service = service
        yield server


def test_page_works_with_an_api_key_set(browser, keyed_server, tmp_path):
    """The key prompt, then queue events, an upload and a file download, all through /gradio_api/*
    on the cookie the key bought (the browser never sends the key itself)."""
    import requests

    assert requests.post(keyed_server.url + "/gradio_api/call/similarity", json={"data": ["a", "b"]},
                         timeout=10).status_code == 401
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(keyed_server.url + "/")
    pg.wait_for_selector("#key-form")  # the key prompt first: nothing computes without it
    pg.fill("#key", "browser-key")
    pg.click("#key-form button")
    pg.wait_for_selector("#btn-pair")
    pg.locator("#sent-a textarea").fill("今天天气很好")
    pg.locator("#sent-b textarea").fill("我们去公园散步")
    pg.click("#btn-pair")
    expected = keyed_server.service.pair("今天天气很好", "我们去公园散步")
    pg.wait_for_function(
        "s => (document.querySelector('#gte-score h3')?.innerText || '').startsWith(s)", arg=f"{expected.score:.4f}")
    open_tab(pg, "排序 One-to-many")
    upload = tmp_path / "cands.txt"
    upload.write_text("\n".join(CANDS), encoding="utf-8")
    fill_text(pg, "#rank-src textarea", SOURCE)
    pg.locator('input[type="file"]').first.set_input_files(str(upload))
    pg.click("#btn-rank")
    pg.wait_for_function("() => document.querySelector('#rank-summary').innerText.includes('3 个候选')")
    open_tab(pg, "向量 Vector")
    fill_text(pg, "#vec-in textarea", "好")
    pg.click("#btn-vec")
    pg.wait_for_function("() => (document.querySelector('#vec-summary')?.innerText || '').startsWith('1 条文本')")
    link = pg.locator('#vec-files a[download="vectors.npy"]')
    link.wait_for()
    with pg.expect_download() as dl:
        link.click()
    dl.value.save_as(tmp_path / "v.npy")
    assert np.load(tmp_path / "v.npy").shape == (1, keyed_server.service.dim)
    shot(pg, "keyed-vector")
    context.close()


@pytest.mark.parametrize("path, drawn", [("/docs", "#swagger-ui .opblock"), ("/redoc", "redoc .api-content h2")])
def test_api_docs_render_offline(browser, live_server, path, drawn):
    """Issue 30.2: with every request off the machine refused, /docs and /redoc still draw."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    remote: list[str] = []

    def offline(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    pg.route("**/*", offline)
    pg.goto(live_server.url + path)
    pg.wait_for_selector(drawn)
    assert "/v1/embeddings" in pg.locator("body").inner_text()
    assert "Something went wrong" not in pg.locator("body").inner_text()
    # ReDoc's bundle asks for its footer logo and nothing else; the page hides it
    from gte_ui.frontends.http.docs_assets import REDOC_LOGO

    assert not [u for u in remote if not u.startswith(REDOC_LOGO)], f"{path} asked the network for {remote}"
    assert pg.locator(f"img[src^='{REDOC_LOGO}']:visible").count() == 0
    shot(pg, f"api{path.replace('/', '-')}")
    context.close()


def _score_is(pg, expected) -> None:
    pg.wait_for_function("s => (document.querySelector('#gte-score h3')?.innerText || '').startsWith(s)",
                         arg=f"{expected.score:.4f}")


def test_pairwise_results_follow_the_inputs(page, live_server):
    """Issue 30.3: a new Compute, an error, an example and Swap each leave no stale score, gauge,
    heatmap or F1 on screen."""
    svc = live_server.service
    page.locator("#sent-a textarea").fill("今天天气很好")
    page.locator("#sent-b textarea").fill("我们去公园散步")
    page.click("#btn-pair")
    _score_is(page, svc.pair("今天天气很好", "我们去公园散步"))
    page.get_by_text("为什么相似？Why do they match?").click()
    page.click("#btn-align")
    first = svc.align("今天天气很好", "我们去公园散步").f1
    page.wait_for_function("s => document.querySelector('#align-summary').innerText.includes(s)", arg=f"F1 {first:.3f}")
    # a new pair: the open panel follows it
    page.locator("#sent-b textarea").fill("这款手机电池续航很强，用一天没问题")
    page.click("#btn-pair")
    _score_is(page, svc.pair("今天天气很好", "这款手机电池续航很强，用一天没问题"))
    second = svc.align("今天天气很好", "这款手机电池续航很强，用一天没问题").f1
    assert f"{first:.3f}" != f"{second:.3f}"
    page.wait_for_function("s => document.querySelector('#align-summary').innerText.includes(s)", arg=f"F1 {second:.3f}")
    # an error: the panel says why instead of keeping the last heatmap
    page.locator("#sent-a textarea").fill("   ")
    page.click("#btn-pair")
    page.wait_for_function("() => document.querySelector('#align-summary').innerText.includes('sentence A is empty')")
    assert page.locator("#align-plot .js-plotly-plot").count() == 0
    # an example: scored at once
    example = ["花呗怎么提前还款", "蚂蚁花呗可以提前还吗"]
    page.get_by_text(example[1], exact=True).first.click()  # the Examples table's row
    _score_is(page, svc.pair(*example))
    page.wait_for_function("s => document.querySelector('#align-summary').innerText.includes(s)",
                           arg=f"F1 {svc.align(*example).f1:.3f}")
    # Swap: A and B trade places, and the facts shown are the swapped pair's (tokens A · B)
    page.click("text=⇄ 交换 Swap A/B")
    swapped = svc.pair(example[1], example[0])
    page.wait_for_function("s => document.querySelector('#gte-score').innerText.includes(s)",
                           arg=f"A {swapped.tokens_a} · B {swapped.tokens_b}")
    assert page.locator("#sent-a textarea").input_value() == example[1]
    page.wait_for_function("s => document.querySelector('#align-summary').innerText.includes(s)",
                           arg=f"F1 {svc.align(example[1], example[0]).f1:.3f}")
    shot(page, "pairwise-follows-inputs")


def test_layout_follows_the_choices(page, live_server):
    """Issue 30.8: the folded Options title shows what is on; the Vector button names the width
    chosen; the plots carry no label badge over their axes."""
    options = page.locator("#options")
    assert "all off" in options.inner_text()
    options.get_by_text("⚙️ 选项 Options").click()
    page.get_by_label("繁体→简体 Traditional→Simplified (OpenCC)").check()
    page.wait_for_function("() => document.querySelector('#options').innerText.includes('繁→简 t2s')")
    options.get_by_text("⚙️ 选项 Options").first.click()  # fold it again: the title still says it
    page.click("#btn-pair")
    page.locator("#gauge .js-plotly-plot").wait_for()
    assert page.locator("#gauge [data-testid=block-label]:visible").count() == 0
    open_tab(page, "向量 Vector")
    dims = page.locator("#vec-dims input[type=number]")
    dims.fill("16")
    dims.press("Enter")
    page.wait_for_function("() => document.querySelector('#btn-vec').innerText.includes('16 维')")
    assert f"{live_server.service.dim} 维" not in page.locator("#btn-vec").inner_text()
    page.click("#btn-vec")
    page.wait_for_function("() => (document.querySelector('#vec-summary')?.innerText || '').includes('维度 dimension 16')")
    assert "未为截断训练" in page.locator("#vec-summary").inner_text()
    shot(page, "vector-16-dims")


def test_rerank_tab_without_a_reranker_has_no_empty_parts(page, live_server):
    """Issue 30.8: no reranker loaded: no empty rerank columns and no large empty chart."""
    open_tab(page, "重排 Rerank")
    page.click("#btn-rerank")
    page.wait_for_function("() => document.querySelector('#rr-summary').innerText.includes('no reranker loaded')")
    headers = page.locator("#rr-table thead").inner_text()
    assert "Embedding score" in headers and "Rerank score" not in headers and "Move" not in headers
    assert page.locator("#rr-plot").count() == 0 or not page.locator("#rr-plot").is_visible()
    shot(page, "rerank-no-reranker")
