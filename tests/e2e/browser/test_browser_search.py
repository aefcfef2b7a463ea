"""The 检索 Search tab in a real browser (Debian's chromium): two models, one index each, side by
side with the rerank stage; and an uploaded corpus built into an index from the page."""

from __future__ import annotations

import pytest

from conftest import LiveServer
from browser_kit import open_app, fill_text, open_tab, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUERY = "手机电池续航怎么样"
DOCS = ["这款手机电池续航很强", "手机电量很耐用", "充电速度特别快", "今天北京天气很好", "价格便宜，性价比高",
        "这台设备待机时间久", "电池容量大但是充电慢", "屏幕很大，拍照片也清楚"]


@pytest.fixture(scope="module")
def search_app(tiny_model_dir, tmp_path_factory):
    from gte_ui.core.settings import Settings
    from gte_ui.server import create_app
    from gte_ui.service.corpus import build_index
    from gte_ui.service.search import catalog_from_settings
    from gte_ui.service.service import EmbeddingService
    from gte_ui.testing.toymodel import build_random_bert, build_random_cross_encoder

    ce = build_random_cross_encoder(tmp_path_factory.mktemp("ce"), "tiny-bert", seed=1)
    other = build_random_bert(tmp_path_factory.mktemp("second"), "tiny", seed=7)
    idx = tmp_path_factory.mktemp("indexes")
    settings = Settings(model=str(tiny_model_dir), models=(f"second={other}",), reranker=str(ce), device="cpu",
                        precision="fp32", index_dir=str(idx),
                        allow_index_build=True)
    service = EmbeddingService.from_settings(settings)
    src = idx.parent / "phones.txt"
    src.write_text("\n".join(DOCS), encoding="utf-8")
    catalog = catalog_from_settings(settings)
    build_index(service, catalog, src, "phones-a", progress=False)
    build_index(service.for_model("second"), catalog, src, "phones-b", progress=False)
    with LiveServer(create_app(service, settings)) as server:
        server.service, server.tmp = service, idx.parent
        yield server
    service.close()


def test_search_tab_side_by_side_with_rerank_and_upload(browser, search_app):  # noqa: F811
    context, page = open_app(browser, search_app.url, width=1400, height=1000)
    open_tab(page, "检索 Search")
    page.wait_for_selector("#btn-search")
    # the picker starts with the first index; add the second model's
    page.locator("#search-index input").click()
    page.get_by_role("option", name="phones-b").click()
    page.keyboard.press("Escape")
    fill_text(page, "#search-query textarea", QUERY)
    page.locator("#search-rerank input").check()
    page.click("#btn-search")
    page.wait_for_function("() => document.querySelectorAll('#search-results .search-col').length == 2",
                           timeout=60_000)
    cols = page.locator("#search-results .search-col")
    assert "phones-a" in cols.nth(0).inner_text() and "phones-b" in cols.nth(1).inner_text()
    assert page.locator("#search-results li.hit").count() == 2 * len(DOCS)
    assert page.locator("#search-results mark").count() > 0  # highlighted tokens
    text = page.locator("#search-results").inner_text()
    assert "重排分 rerank" in text and any(a in text for a in ("↑", "↓"))
    # the first column is the service's two-stage answer, in its order
    from gte_ui.service.search import catalog_from_settings, search

    expected = search(search_app.service, catalog_from_settings(search_app.service.settings), "phones-a", QUERY, 10,
                      rerank=True)
    first = cols.nth(0).inner_text()
    positions = [first.index(h.text) for h in expected.hits]
    assert positions == sorted(positions), "the column is not in the reranker's order"
    shot(page, "9-search")

    # upload a corpus and build it from the page
    upload = search_app.tmp / "upload.csv"
    upload.write_text("id,text\n" + "\n".join(f"u{i},{t}" for i, t in enumerate(DOCS * 5)), encoding="utf-8")
    page.get_by_text("上传语料建立索引 Upload a corpus and build an index").click()  # the accordion
    page.locator("#search-upload input[type=file]").set_input_files(str(upload))
    fill_text(page, "#search-name textarea, #search-name input", "uploaded")
    page.click("#btn-build-index")
    page.wait_for_function("() => document.querySelector('#search-build-status').innerText.includes('已建立 built')",
                           timeout=90_000)
    assert "40" in page.locator("#search-build-status").inner_text()
    assert "uploaded" in page.locator("#search-index").inner_text()
    shot(page, "9-search-build")
    context.close()
