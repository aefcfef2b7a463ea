"""Issue 28: TEI's whole HTTP route table, at the root and under /tei/{model}, with the real TEI
clients (LangChain, huggingface_hub, llama-index) and Dify's TEI provider requests replayed as
Dify sends them, against a live server with --api-key: the tiny BERT (default), the real MiniLM
(a second model) and a tiny cross-encoder (the reranker)."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from clients import client_package

pytestmark = pytest.mark.timeout(180)

KEY = "tei-s3cret"
AUTH = {"Authorization": f"Bearer {KEY}"}
TEXTS = ["今天天气很好", "我想借钱", "这款手机电池续航很强，用一天没问题"]
QUERY = "手机电量很耐用"


@pytest.fixture(scope="module")
def tei_server(tiny_model_dir, minilm_dir, tiny_reranker_dir):
    from conftest import LiveServer

    from gte_ui.core.settings import Settings
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_model_dir), models=(f"minilm={minilm_dir}",), reranker=str(tiny_reranker_dir),
                        device="cpu", precision="fp32", api_key=KEY, max_body_bytes=100_000, max_texts=16)
    service = EmbeddingService.from_settings(settings)
    with LiveServer(create_app(service, settings)) as server:
        server.service = service
        server.tiny = service.name
        server.reranker = service.reranker.info.name
        yield server
    service.close()


def call(server, method: str, path: str, *, key: bool = True, **kw) -> requests.Response:
    return requests.request(method, server.url + path, headers=AUTH if key else {}, timeout=60, **kw)


def vectors(server, texts, model=None) -> np.ndarray:
    return server.service.for_model(model).embed(texts).vectors


@pytest.fixture()
def hub_online(monkeypatch):
    """HF_HUB_OFFLINE=1 (the whole test session) blocks even a loopback URL; a client process
    would not have it set."""
    hub = client_package("huggingface_hub")
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", False)
    return hub


# ------------------------------------------------------------------ the real clients
@pytest.mark.parametrize("where", ["base", "per-model"])
def test_huggingface_hub_feature_extraction_on_the_base_url(tei_server, hub_online, where):
    """InferenceClient(model=URL) posts to the URL itself: TEI answers POST / by model type."""
    url, model = (tei_server.url, None) if where == "base" else (tei_server.url + "/tei/minilm", "minilm")
    client = hub_online.InferenceClient(model=url, api_key=KEY, timeout=60)
    got = client.feature_extraction(TEXTS[0])
    expected = vectors(tei_server, TEXTS[:1], model)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("where", ["base", "per-model"])
def test_langchain_huggingface_endpoint_embeddings(tei_server, hub_online, where):
    lc = client_package("langchain_huggingface")
    url, model = (tei_server.url, None) if where == "base" else (f"{tei_server.url}/tei/minilm", "minilm")
    try:
        embeddings = lc.HuggingFaceEndpointEmbeddings(model=url, huggingfacehub_api_token=KEY)
    except ValueError as exc:  # langchain-huggingface >= 1.2.2 takes hub ids only
        pytest.skip(f"this langchain-huggingface refuses a URL model ({exc}); see requirements-test.txt")
    np.testing.assert_allclose(embeddings.embed_documents(TEXTS), vectors(tei_server, TEXTS, model), atol=1e-6)
    np.testing.assert_allclose(embeddings.embed_query(QUERY), vectors(tei_server, [QUERY], model)[0], atol=1e-6)


@pytest.mark.parametrize("where", ["base", "per-model"])
def test_llamaindex_text_embeddings_inference(tei_server, where):
    tei_pkg = client_package("llama_index.embeddings.text_embeddings_inference")
    url, model = (tei_server.url, None) if where == "base" else (f"{tei_server.url}/tei/minilm", "minilm")
    embed = tei_pkg.TextEmbeddingsInference(model_name="gte", base_url=url, auth_token=KEY, timeout=60)
    np.testing.assert_allclose(embed.get_text_embedding_batch(TEXTS), vectors(tei_server, TEXTS, model), atol=1e-6)
    np.testing.assert_allclose(embed.get_query_embedding(QUERY), vectors(tei_server, [QUERY], model)[0], atol=1e-6)


def test_dify_tei_embedding_and_rerank_providers(tei_server):
    """Dify's huggingface_tei provider (tei_helper.py), request for request: GET {url}/info
    decides the model type, POST {url}/tokenize counts tokens, /v1/embeddings embeds, /rerank
    with return_text reranks. Both providers point at one server, each at its model's URL."""
    embed_url = f"/tei/{tei_server.tiny}"
    rerank_url = f"/tei/{tei_server.reranker}"
    info = call(tei_server, "GET", embed_url + "/info").json()
    assert list(info["model_type"]) == ["embedding"] and info["model_type"]["embedding"]["pooling"] == "cls"
    assert info["max_input_length"] == tei_server.service.max_length and info["max_client_batch_size"] == 16
    rinfo = call(tei_server, "GET", rerank_url + "/info").json()
    assert list(rinfo["model_type"]) == ["reranker"] and rinfo["model_type"]["reranker"]["id2label"] == {"0": "LABEL_0"}

    tokens = call(tei_server, "POST", embed_url + "/tokenize", json={"inputs": TEXTS}).json()
    ids = tei_server.service.encoder.tokenizer(TEXTS)["input_ids"]
    assert [[t["id"] for t in row] for row in tokens] == ids
    first = tokens[0]
    assert first[0]["special"] and first[0]["start"] is None
    assert [t["text"] for t in first[1:-1]] == [TEXTS[0][t["start"]:t["stop"]] for t in first[1:-1]]

    body = call(tei_server, "POST", embed_url + "/v1/embeddings", json={"input": TEXTS}).json()
    np.testing.assert_allclose([d["embedding"] for d in body["data"]], vectors(tei_server, TEXTS), atol=1e-6)
    assert body["usage"]["total_tokens"] == sum(len(x) for x in ids)

    ranks = call(tei_server, "POST", rerank_url + "/rerank",
                 json={"query": QUERY, "texts": TEXTS, "return_text": True})
    assert ranks.headers["x-rerank-method"] == "cross-encoder"
    expected = tei_server.service.rerank(QUERY, TEXTS, method="cross-encoder")
    assert [(r["index"], r["text"]) for r in ranks.json()] == [(r.index, r.text) for r in expected.rows]
    np.testing.assert_allclose([r["score"] for r in ranks.json()], [r.score for r in expected.rows], atol=1e-6)


# ------------------------------------------------------------------ every route, its answer and status
def test_info_at_the_root_is_the_default_model_and_get_root_stays_the_ui(tei_server):
    info = call(tei_server, "GET", "/info").json()
    assert info["model_id"] == tei_server.tiny and "embedding" in info["model_type"]
    assert info["model_dtype"] == "float32" and info["auto_truncate"] is True and info["version"]
    assert call(tei_server, "GET", "/tei/minilm/info").json()["max_input_length"] == 256
    page = call(tei_server, "GET", "/")  # the UI (with --api-key the page takes the key too)
    assert page.status_code == 200 and "<html" in page.text.lower()
    np.testing.assert_allclose(call(tei_server, "POST", "/", json={"inputs": TEXTS[1]}).json(),
                               vectors(tei_server, TEXTS[1:2]), atol=1e-6)


def test_invocations_and_vertex_dispatch_by_model_type(tei_server):
    np.testing.assert_allclose(call(tei_server, "POST", "/invocations", json={"inputs": TEXTS}).json(),
                               vectors(tei_server, TEXTS), atol=1e-6)
    ranked = call(tei_server, "POST", f"/tei/{tei_server.reranker}/invocations",
                  json={"query": QUERY, "texts": TEXTS}).json()
    assert sorted(r["index"] for r in ranked) == [0, 1, 2] and "text" not in ranked[0]
    vertex = call(tei_server, "POST", "/tei/minilm/vertex", json={"instances": [{"inputs": "a"}, {"inputs": ["b"]}]})
    preds = vertex.json()["predictions"]
    np.testing.assert_allclose(preds[0] + preds[1], vectors(tei_server, ["a", "b"], "minilm"), atol=1e-6)


def test_predict_is_the_cross_encoder_on_pairs(tei_server):
    url = f"/tei/{tei_server.reranker}/predict"
    one = call(tei_server, "POST", url, json={"inputs": [QUERY, TEXTS[2]]}).json()
    batch = call(tei_server, "POST", url, json={"inputs": [[QUERY, t] for t in TEXTS], "raw_scores": True}).json()
    sig = tei_server.service.rerank(QUERY, TEXTS, method="cross-encoder").scores
    raw = tei_server.service.rerank(QUERY, TEXTS, method="cross-encoder", raw_scores=True).scores
    assert one == [{"score": pytest.approx(sig[2], abs=1e-6), "label": "LABEL_0"}]
    assert [row[0]["score"] for row in batch] == pytest.approx(raw, abs=1e-6)


def test_embed_all_decode_similarity_and_embeddings_alias(tei_server):
    states = call(tei_server, "POST", "/embed_all", json={"inputs": [TEXTS[0]]}).json()
    ids = tei_server.service.encoder.tokenizer(TEXTS[0])["input_ids"]
    assert len(states) == 1 and len(states[0]) == len(ids) and len(states[0][0]) == tei_server.service.dim
    # the CLS token's last-layer state, normalised, is the tiny model's (CLS-pooled) vector
    cls = np.array(states[0][0])
    np.testing.assert_allclose(cls / np.linalg.norm(cls), vectors(tei_server, TEXTS[:1])[0], atol=1e-5)
    decoded = call(tei_server, "POST", "/decode", json={"ids": ids}).json()
    assert decoded == [tei_server.service.encoder.tokenizer.decode(ids, skip_special_tokens=True)]
    assert len(call(tei_server, "POST", "/decode", json={"ids": [ids, ids[:3]], "skip_special_tokens": False}).json()) == 2
    scores = call(tei_server, "POST", "/tei/minilm/similarity",
                  json={"inputs": {"source_sentence": QUERY, "sentences": TEXTS}}).json()
    assert scores == pytest.approx(tei_server.service.for_model("minilm").rank(QUERY, TEXTS).scores, abs=1e-6)
    alias = call(tei_server, "POST", "/embeddings", json={"input": TEXTS[:1]}).json()
    np.testing.assert_allclose(alias["data"][0]["embedding"], vectors(tei_server, TEXTS[:1])[0], atol=1e-6)


@pytest.mark.parametrize("method,path,body,status,fragment", [
    ("POST", "/embed_sparse", {"inputs": "a"}, 424, "Model is not an embedding model with SPLADE pooling"),
    ("POST", "/tei/minilm/embed_sparse", {"inputs": ["a"]}, 424, "SPLADE"),
    ("POST", "/predict", {"inputs": ["a", "b"]}, 424, "Model is not a classifier model"),
    ("POST", "/tei/RERANKER/embed", {"inputs": "a"}, 424, "Model is not an embedding model"),
    ("POST", "/tei/RERANKER/predict", {"inputs": "one text"}, 422, "scores pairs"),
    ("POST", "/tei/nope/embed", {"inputs": "a"}, 404, "'nope' is not loaded"),
    ("POST", "/tei/minilm/embed", {"inputs": "a", "normalize": False}, 422, "normalize: false"),
    ("POST", "/embed", {"inputs": "a", "normalize": False}, 422, "normalize: false"),
    ("POST", "/embed_all", {"inputs": "a", "truncation_direction": "Left"}, 422, "truncation_direction"),
    ("POST", "/tokenize", {"inputs": 7}, 422, "inputs"),
    ("POST", "/tokenize", {"inputs": [""]}, 422, "empty"),
    ("POST", "/tokenize", {"inputs": ["a"] * 17}, 413, "limit is 16"),
    ("POST", "/tokenize", {"inputs": "a", "prompt_name": "query"}, 422, "prompt"),
    ("POST", "/decode", {"ids": [10**9]}, 422, "not a token id"),
    ("POST", "/vertex", {"instances": []}, 422, "instances"),
    ("POST", "/tei/minilm/rerank", {"query": "q", "texts": ["a"], "truncate": "maybe"}, 422, "truncate"),
    ("POST", "/tokenize", "x" * 200_000, 413, "over the limit"),
])
def test_routes_answer_teis_error_shape(tei_server, method, path, body, status, fragment):
    path = path.replace("RERANKER", tei_server.reranker)
    r = call(tei_server, method, path, **({"data": body} if isinstance(body, str) else {"json": body}))
    assert r.status_code == status, r.text
    err = r.json()
    assert set(err) == {"error", "error_type"} and fragment in err["error"], err
    assert "Traceback" not in r.text and "/tmp" not in r.text


def test_malformed_json_is_400_and_unknown_keys_are_ignored_as_tei_does(tei_server):
    r = requests.post(tei_server.url + "/tokenize", data="{not json",
                      headers={**AUTH, "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400 and r.json()["error_type"] == "malformed"
    # TEI's axum Json extractor answers 415 to a body not sent as JSON; so does every route here (issue 26)
    plain = requests.post(tei_server.url + "/tokenize", data='{"inputs": "a"}',
                          headers={**AUTH, "Content-Type": "text/plain"}, timeout=30)
    assert plain.status_code == 415 and plain.json()["error_type"] == "media_type"
    ok = call(tei_server, "POST", "/tokenize", json={"inputs": "a", "some_future_field": 1})
    assert ok.status_code == 200 and ok.json()[0][1]["text"] == "a"


def test_key_guards_every_tei_route_but_health(tei_server):
    for method, path in [("GET", "/info"), ("POST", "/tokenize"), ("POST", "/"), ("GET", "/tei/minilm/info"),
                         ("POST", f"/tei/{tei_server.reranker}/rerank"), ("POST", "/tei/minilm"),
                         ("POST", "/invocations"), ("POST", "/embed_sparse")]:
        r = call(tei_server, method, path, key=False, json={"inputs": "a"})
        assert r.status_code == 401, (path, r.status_code)
    for path in ("/ping", "/tei/minilm/health", f"/tei/{tei_server.reranker}/ping", "/tei/minilm"):
        r = call(tei_server, "GET", path, key=False)
        assert r.status_code == 200 and r.text == "", path
    assert call(tei_server, "GET", "/tei/nope/health", key=False).status_code == 404
