"""Search everywhere (issue 29.2): search equals exact numpy search over sentence-transformers
vectors (MiniLM, STS-B sentences); /v1/search, the Gradio ``/search`` endpoint and ``gte-ui
search`` give identical hits; two-stage moves hits as the cross-encoder says; errors are 404 /
409 / 422; an index built while serving appears without a restart; the Search tab's callbacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import requests

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings
from gte_ui.engine.vector_index import IndexCatalog
from gte_ui.frontends import cli
from gte_ui.service.corpus import build_index
from gte_ui.service.search import catalog_from_settings, search

DOCS = ["今天天气很好", "明天会下雨吗", "我喜欢吃苹果", "手机电池续航很强", "这款手机电量很耐用", "价格便宜，性价比高",
        "屏幕很大，拍照片也清楚", "充电速度特别快", "北京今天下雪了", "电池容量大但是充电慢", "我想借钱", "快递明天到"]
QUERY = "手机电池续航怎么样"


@pytest.fixture(scope="module")
def stsb_corpus(stsb_en, tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    """STS-B test: every distinct sentence 2 of the first 200 pairs is the corpus; the first 12
    sentence 1s are queries."""
    docs = list(dict.fromkeys(stsb_en.b[:200]))
    src = tmp_path_factory.mktemp("stsb") / "corpus.txt"
    src.write_text("\n".join(docs) + "\n", encoding="utf-8")
    return src, docs, list(stsb_en.a[:12])


@pytest.mark.slow
def test_search_equals_exact_numpy_over_sentence_transformers(minilm_dir, stsb_corpus, tmp_path):
    from sentence_transformers import SentenceTransformer

    from gte_ui.service.service import EmbeddingService

    src, docs, queries = stsb_corpus
    settings = Settings(model=str(minilm_dir), device="cpu", precision="fp32", index_dir=str(tmp_path))
    service = EmbeddingService.from_settings(settings, batching=False)
    catalog = catalog_from_settings(settings)
    build_index(service, catalog, src, "stsb", chunk_size=64, progress=False)
    st = SentenceTransformer(str(minilm_dir), device="cpu")
    d = st.encode(docs, normalize_embeddings=True, convert_to_numpy=True)
    q = st.encode(queries, normalize_embeddings=True, convert_to_numpy=True)
    sims = q @ d.T
    for i, query in enumerate(queries):
        res = search(service, catalog, "stsb", query, 10)
        want = np.argsort(-sims[i], kind="stable")[:10]
        assert [h.row for h in res.hits] == want.tolist(), query
        np.testing.assert_allclose([h.score for h in res.hits], sims[i][want], atol=1e-5)
        assert [h.text for h in res.hits] == [docs[j] for j in want]
        assert res.embed_ms > 0 and res.search_ms >= 0


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    """The whole app over the tiny model with its own --index-dir, one index built beforehand."""
    from conftest import LiveServer

    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    idx = tmp_path_factory.mktemp("served-indexes")
    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", index_dir=str(idx))
    service = EmbeddingService.from_settings(settings)
    src = idx.parent / "docs.txt"
    src.write_text("\n".join(DOCS), encoding="utf-8")
    build_index(service, catalog_from_settings(settings), src, "docs", progress=False)
    with LiveServer(create_app(service, settings)) as server:
        server.service, server.settings, server.src = service, settings, src
        yield server


def test_http_gradio_and_cli_give_identical_hits(served, capsys):
    from gradio_client import Client

    body = requests.post(served.url + "/v1/search", json={"index": "docs", "query": QUERY, "top_k": 5},
                         timeout=30).json()
    via_gradio = Client(served.url, verbose=False).predict("docs", QUERY, 5, api_name="/search")
    assert cli.main(["search", "docs", QUERY, "--top-k", "5", "--json", "--model", served.settings.model,
                     "--device", "cpu", "--precision", "fp32", "--index-dir", served.settings.index_dir]) == 0
    via_cli = json.loads(capsys.readouterr().out)
    assert len(body["hits"]) == 5 and body["index"] == "docs" and body["rows"] == len(DOCS)
    for other in (via_gradio, via_cli):
        assert other["hits"] == body["hits"]
    direct = search(served.service, catalog_from_settings(served.settings), "docs", QUERY, 5)
    assert [h["text"] for h in body["hits"]] == [h.text for h in direct.hits]
    # the hit's verdict is its score read against the served bands (default 0.75 / 0.50)
    assert served.service.bands.source == "default"
    assert [h["verdict_zh"] for h in body["hits"]] == [
        "高度相似" if h["score"] > 0.75 else "中等相似" if h["score"] > 0.5 else "差异较大" for h in body["hits"]]
    # highlights: tokens of the document, each with its best query token
    hl = requests.post(served.url + "/v1/search", json={"index": "docs", "query": QUERY, "top_k": 2,
                                                         "highlight": True}, timeout=30).json()
    top = hl["hits"][0]
    assert top["highlights"] and all(h["token"] in top["text"] for h in top["highlights"])


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ({"index": "nope", "query": "x"}, 404, "no index named 'nope'; indexes: docs"),
    ({"index": "docs", "query": "x", "top_k": 0}, 422, "top_k must be an integer from 1 to 100"),
    ({"index": "docs", "query": "x", "top_k": 101}, 422, "top_k must be an integer from 1 to 100"),
    ({"index": "docs", "query": "x", "top_k": "5"}, 422, "top_k"),
    ({"index": "docs", "query": ""}, 422, "query is empty"),
    ({"index": "docs", "query": "x", "rerank": True}, 422, "no reranker is loaded"),
    ({"index": "docs", "query": "x", "model": "nope"}, 404, "not loaded"),
    ({"index": "../etc", "query": "x"}, 422, "not valid"),
])
def test_search_errors(served, body, status, fragment):
    r = requests.post(served.url + "/v1/search", json=body, timeout=30)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]["message"]
    assert "Traceback" not in r.text and served.settings.index_dir not in r.text


def test_another_models_index_is_409_and_new_index_appears(served, tmp_path):
    from gte_ui.service.service import EmbeddingService
    from gte_ui.testing.toymodel import build_random_bert

    listed = requests.get(served.url + "/v1/indexes", timeout=10).json()["data"]
    assert [m["name"] for m in listed] == ["docs"]
    other_dir = build_random_bert(tmp_path / "other-model", "tiny", seed=7)
    other = EmbeddingService.from_settings(Settings(model=str(other_dir), device="cpu", precision="fp32"),
                                           batching=False)
    # built by another process while serving: the same folder, another model
    build_index(other, IndexCatalog(served.settings.index_dir), served.src, "theirs", progress=False)
    listed = requests.get(served.url + "/v1/indexes", timeout=10).json()["data"]
    assert sorted(m["name"] for m in listed) == ["docs", "theirs"]  # no restart
    r = requests.post(served.url + "/v1/search", json={"index": "theirs", "query": QUERY}, timeout=30)
    assert r.status_code == 409
    msg = r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "model_mismatch"
    assert "'other-model'" in msg and f"'{served.service.name}'" in msg


@pytest.mark.slow
def test_two_stage_moves_hits_as_the_reranker_says(minilm_dir, stsb_corpus, tmp_path):
    """MiniLM retrieves, MiniLM's encoder with a seeded random head reranks (tests/unit/engine/test_reranker.py's
    cross-encoder): the final order is CrossEncoder.predict's over the retrieved hits."""
    from sentence_transformers import CrossEncoder

    from gte_ui.engine.reranker import Reranker
    from gte_ui.service.service import EmbeddingService
    from gte_ui.testing.toymodel import build_minilm_cross_encoder

    ce_dir = build_minilm_cross_encoder(tmp_path / "ce", minilm_dir, seed=0, head_scale=100.0)
    src, _, queries = stsb_corpus
    settings = Settings(model=str(minilm_dir), reranker=str(ce_dir), device="cpu", precision="fp32",
                        index_dir=str(tmp_path / "i"))
    service = EmbeddingService.from_settings(settings, batching=False)
    assert isinstance(service.reranker, Reranker)
    catalog = catalog_from_settings(settings)
    build_index(service, catalog, src, "stsb", progress=False)
    ce = CrossEncoder(str(ce_dir), device="cpu")
    moved = 0
    for query in queries[:4]:
        plain = search(service, catalog, "stsb", query, 8)
        staged = search(service, catalog, "stsb", query, 8, rerank=True)
        scores = ce.predict([(query, h.text) for h in plain.hits])
        order = np.argsort(-scores, kind="stable")
        assert [h.row for h in staged.hits] == [plain.hits[i].row for i in order]
        np.testing.assert_allclose([h.rerank_score for h in staged.hits], scores[order], atol=1e-4)
        for h in staged.hits:  # each hit knows where the embedding put it
            assert plain.hits[h.retrieval_rank - 1].row == h.row
            assert h.moved == ("—" if h.rank == h.retrieval_rank else
                               (f"↑{h.retrieval_rank - h.rank}" if h.rank < h.retrieval_rank else
                                f"↓{h.rank - h.retrieval_rank}"))
        moved += sum(h.rank != h.retrieval_rank for h in staged.hits)
        assert staged.reranker and staged.to_dict()["hits"][0]["moved"] == staged.hits[0].moved
    assert moved > 0  # the reranker really reorders

def test_rerank_tab_calls_the_service_capability():
    """One home for two-stage: the Rerank tab's function is the service's."""
    from gte_ui.frontends.ui.tabs import rerank as tab
    from gte_ui.service import two_stage

    assert tab.two_stage is two_stage.two_stage and tab.TwoStage is two_stage.TwoStage


def test_bad_index_arguments_in_the_service(tiny_service, tmp_path):
    catalog = IndexCatalog(tmp_path)
    for bad in (None, 3, ""):
        with pytest.raises(GteError) as err:
            search(tiny_service, catalog, bad, "x", 3)
        assert err.value.error_type is ErrorType.VALIDATION
    for k in (True, 2.0, -1):
        with pytest.raises(GteError, match="top_k"):
            search(tiny_service, catalog, "x", "q", k)


def test_map_of_an_index_from_its_stored_vectors(served, tmp_path, capsys):
    """Issue 29.4: the embedding map of a built index (no re-embedding), over HTTP and the CLI,
    equal to the map drawn from the index's own vectors; queries embedded by the index's model."""
    from gte_ui.service import embedding_map
    from gte_ui.service.search import index_map

    catalog = catalog_from_settings(served.settings)
    index = catalog.open("docs")
    want = embedding_map.map_vectors(np.asarray(index.vectors, dtype=np.float32), [r.text for r in
                                     index.records(list(range(len(DOCS))))], clusters=2,
                                     query_vectors=served.service.embed([QUERY]).vectors, query_texts=[QUERY])
    got = index_map(served.service, catalog, "docs", queries=[QUERY], clusters=2)
    body = requests.post(served.url + "/v1/map", json={"index": "docs", "queries": [QUERY], "clusters": 2},
                         timeout=60).json()
    for m in (got.to_dict(), body):
        assert m["total"] == len(DOCS) and not m["sampled"]
        assert [p["text"] for p in m["points"]] == [p["text"] for p in want.to_dict()["points"]]
        np.testing.assert_allclose([[p["x"], p["y"]] for p in m["points"]],
                                   [[p["x"], p["y"]] for p in want.to_dict()["points"]], atol=1e-4)
    assert [p["kind"] for p in body["points"]].count("query") == 1
    out = tmp_path / "map.html"
    assert cli.main(["map", "--index", "docs", "--out", str(out), "--device", "cpu", "--precision", "fp32",
                     "--index-dir", served.settings.index_dir]) == 0
    assert out.read_text(encoding="utf-8").count(DOCS[0]) >= 1
    # one of texts / index; an unknown index is the search routes' 404
    for bad, status in (({"index": "docs", "texts": DOCS}, 422), ({"queries": [QUERY]}, 422),
                        ({"index": "nope"}, 404)):
        r = requests.post(served.url + "/v1/map", json=bad, timeout=30)
        assert r.status_code == status, r.text
        assert "Traceback" not in r.text and served.settings.index_dir not in r.text
