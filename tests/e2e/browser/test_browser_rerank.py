"""The 重排 Rerank tab in a real browser (Debian's chromium), on an app with a tiny BERT reranker."""

from __future__ import annotations

import pytest

from conftest import serve_app
from browser_kit import open_app, fill_text, open_tab, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUERY = "手机电池续航怎么样"
DOCS = ["这款手机电池续航很强", "手机电量很耐用", "充电速度特别快", "今天北京天气很好", "价格便宜，性价比高",
        "这台设备待机时间久"]


@pytest.fixture(scope="module")
def rerank_app(tiny_model_dir, tmp_path_factory):
    from gte_ui.core.settings import Settings
    from gte_ui.testing.toymodel import build_random_cross_encoder

    ce = build_random_cross_encoder(tmp_path_factory.mktemp("ce"), "tiny-bert", seed=1)
    settings = Settings(model=str(tiny_model_dir), reranker=str(ce), device="cpu", precision="fp32")
    with serve_app(settings) as server:
        yield server


def test_rerank_tab_two_stages(browser, rerank_app):  # noqa: F811
    context, page = open_app(browser, rerank_app.url)
    open_tab(page, "重排 Rerank")
    fill_text(page, "#rr-query textarea", QUERY)
    fill_text(page, "#rr-docs textarea", "\n".join(DOCS))
    page.click("#btn-rerank")
    page.wait_for_function("() => document.querySelector('#rr-summary').innerText.includes('Stage 2, cross-encoder')",
                           timeout=60_000)
    retrieved = rerank_app.service.rank(QUERY, DOCS, top_k=5)  # the tab's default top-k
    expected = rerank_app.service.rerank(QUERY, [r.text for r in retrieved.rows])
    table = page.locator("#rr-table").inner_text()
    positions = [table.index(r.text) for r in expected.rows]
    assert positions == sorted(positions), "the table is not in the reranker's order"
    page.locator("#rr-plot .js-plotly-plot").wait_for()  # the slope chart is drawn
    assert page.locator("#rr-plot svg").count() > 0
    shot(page, "8-rerank")
    context.close()
