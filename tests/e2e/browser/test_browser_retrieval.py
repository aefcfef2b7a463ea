"""Retrieval evaluation in the 评估 Evaluate tab and the 向量地图 Map, in a real browser (Debian's
chromium), on an app with a tiny BERT, a second model and a tiny reranker. Screenshots:
artifacts/screenshots/9-retrieval-eval.png and 10-embedding-map.png."""

from __future__ import annotations

import json
import zipfile

import pytest

from conftest import serve_app
from browser_kit import open_app, open_tab, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS = ["办理护照需要带身份证去出入境管理局", "护照丢了要先挂失", "同时按下电源键和音量加键即可截图", "苹果是一种水果",
        "北京大学和清华大学都在北京", "上海的大学很多", "今天天气很好", "明天会下雨吗", "火锅味道正宗价格实惠",
        "这款手机电池续航很强", "手机充一次电能用两天", "周末阳光明媚适合出游"]
QUERIES = {"q1": ("怎么办理护照", "d0"), "q2": ("苹果手机怎么截图", "d2"), "q3": ("北京有哪些大学", "d4"),
           "q4": ("天气怎么样", "d6"), "q5": ("手机续航好吗", "d9")}


@pytest.fixture(scope="module")
def retrieval_app(tiny_model_dir, tmp_path_factory):
    from gte_ui.core.settings import Settings
    from gte_ui.testing.toymodel import build_random_bert, build_random_cross_encoder

    ce = build_random_cross_encoder(tmp_path_factory.mktemp("ce"), "tiny-bert", seed=1)
    other = build_random_bert(tmp_path_factory.mktemp("other"), "tiny", seed=5)
    settings = Settings(model=str(tiny_model_dir), models=(f"second={other}",), reranker=str(ce), device="cpu",
                        precision="fp32")
    with serve_app(settings) as server:
        yield server


def beir_zip(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mini/corpus.jsonl", "\n".join(json.dumps({"_id": f"d{i}", "title": "", "text": t},
                                                              ensure_ascii=False) for i, t in enumerate(DOCS)))
        zf.writestr("mini/queries.jsonl", "\n".join(json.dumps({"_id": q, "text": t}, ensure_ascii=False)
                                                    for q, (t, _) in QUERIES.items()))
        zf.writestr("mini/qrels/test.tsv", "query-id\tcorpus-id\tscore\n"
                    + "".join(f"{q}\t{d}\t1\n" for q, (_, d) in QUERIES.items()))
    return path


def test_retrieval_evaluation_in_the_evaluate_tab(browser, retrieval_app, tmp_path):  # noqa: F811
    from gte_ui.evaluation import jobs

    archive = beir_zip(tmp_path / "mini-beir.zip")
    service = retrieval_app.service
    expected = jobs.retrieval_job(service, archive, services=service.models()).report
    context, page = open_app(browser, retrieval_app.url, height=1000)
    page.locator("#model-select input").click()
    page.get_by_role("option", name="全部比较").click()  # every model side by side
    open_tab(page, "评估 Evaluate")
    page.locator("#eval-file input[type=file]").set_input_files(str(archive))
    page.locator("#eval-task").get_by_text("检索 retrieval").click()
    page.wait_for_timeout(1500)  # the upload lands before the click
    page.click("#btn-eval")
    page.wait_for_function("() => document.querySelector('#eval-summary').innerText.includes('nDCG@10')",
                           timeout=90_000)
    summary = page.locator("#eval-summary").inner_text()
    assert "5 queries, 12 documents" in summary
    # the table holds each model's embedding and reranked rows, with the numbers the job computes
    for stage in expected.stages:
        assert f"{stage.metrics['ndcg_at_10'] * 100:.2f}" in summary
    assert "second" in summary and "重排 Rerank" in summary
    page.locator("#eval-plot .js-plotly-plot").wait_for()
    assert page.locator("#eval-plot .barlayer .trace").count() == len(expected.stages)  # the metric bars
    assert page.locator("#eval-plot .scatterlayer .trace").count() == len(expected.stages)  # recall@k curves
    assert "retrieval_per_query.csv" in page.content()  # the per-query table to download
    page.locator("#eval-summary").scroll_into_view_if_needed()
    shot(page, "9-retrieval-eval")
    context.close()


def test_embedding_map_in_the_vector_tab(browser, retrieval_app):  # noqa: F811
    context, page = open_app(browser, retrieval_app.url, height=1100)
    open_tab(page, "向量 Vector")
    page.get_by_text("向量地图 Map").first.click()
    page.locator("#btn-map").click()
    page.wait_for_function("() => document.querySelector('#map-note').innerText.includes('PCA')", timeout=60_000)
    assert "12 条 texts" in page.locator("#map-note").inner_text()
    page.locator("#map-plot .js-plotly-plot").wait_for()
    assert page.locator("#map-plot .scatterlayer .trace, #map-plot .gl-container").count() > 0
    legend = page.locator("#map-plot .legend").text_content()
    assert "Cluster" in legend and "查询 Queries" in legend
    page.locator("#map-plot").scroll_into_view_if_needed()
    shot(page, "10-embedding-map")
    context.close()
