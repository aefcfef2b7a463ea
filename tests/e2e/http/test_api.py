"""The REST API on a real uvicorn server (tiny model): every route, every error, batching."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

SOURCE = "这款手机电池续航很强"
CANDS = ["手机电量很耐用", "这台设备待机时间久", "电池容量大，用一天没问题", "充电速度特别快"]


def post(server, path, **kw):
    return requests.post(server.url + path, timeout=30, **kw)


def engine_vectors(server, texts):
    return server.service.encoder.encode(texts).vectors


# ------------------------------------------------------------------ /api/predict
def test_predict_ranking_shape(live_server):
    r = post(live_server, "/api/predict", json={"data": [SOURCE, "\n".join(CANDS[:2]) + "\n\n" + "\n".join(CANDS[2:])]})
    assert r.status_code == 200
    scores = r.json()["data"]
    v = engine_vectors(live_server, [SOURCE] + CANDS)
    np.testing.assert_allclose(scores, v[1:] @ v[0], atol=1e-5)  # candidate order, blank line ignored


@pytest.mark.parametrize("data", [["今天天气很好", ""], ["今天天气很好", "", False, False, False, False],
                                  ["今天天气很好", "  ", True, False, True, False]])
def test_predict_vector_shape(live_server, data):
    r = post(live_server, "/api/predict", json={"data": data})
    assert r.status_code == 200
    vec = r.json()["data"]
    assert len(vec) == 32
    np.testing.assert_allclose(vec, engine_vectors(live_server, ["今天天气很好"])[0], atol=1e-5)


@pytest.mark.parametrize("kwargs, status, fragment", [
    ({"data": b"{not json", "headers": {"content-type": "application/json"}}, 400, "malformed JSON"),
    ({"data": b"", "headers": {"content-type": "application/json"}}, 422, "request body is empty"),
    ({"data": b"\xff\xfe\x00garbage", "headers": {"content-type": "application/json"}}, 400, "not UTF-8"),
    ({"data": ("[" * 100_000 + "]" * 100_000).encode(), "headers": {"content-type": "application/json"}}, 400,
     "nested too deeply"),
    ({"json": ["a", "b"]}, 422, "must be a JSON object"),
    ({"json": {"text": "a"}}, 422, 'missing "data"'),
    ({"json": {"data": "a"}}, 422, '"data" must be a list, got str'),
    ({"json": {"data": ["a"]}}, 422, "got 1"),
    ({"json": {"data": ["a", "b", "c"]}}, 422, "got 3"),
    ({"json": {"data": [1, "b"]}}, 422, '"data"[0] must be a string, got int'),
    ({"json": {"data": ["a", None]}}, 422, '"data"[1] must be a string, got NoneType'),
    ({"json": {"data": ["a", "", "yes", False, False, False]}}, 422, '"data"[2] must be true or false'),
    ({"json": {"data": ["a", "b", False, False, False, False]}}, 422, "the 6-item form is for vectors"),
    ({"json": {"data": ["", "b"]}}, 422, "source is empty"),
    ({"json": {"data": ["   ", ""]}}, 422, "data[0] is empty"),
    ({"json": {"data": ["长" * 20_001, ""]}}, 413, "limit is 20,000"),
    ({"json": {"data": ["a", "\n".join(["x"] * 1001)]}}, 413, "1,001 candidates"),
    ({"json": {"data": ["a", "b"] + [False] * 100_000}}, 422, "got 100002"),
])
def test_predict_errors(live_server, kwargs, status, fragment):
    r = post(live_server, "/api/predict", **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert fragment in body["error"] and body["error_type"]
    assert "Traceback" not in r.text
    assert post(live_server, "/api/predict", json={"data": ["还活着", ""]}).status_code == 200


# ------------------------------------------------------------------ OpenAI
def test_openai_client_float_and_base64(live_server):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key="unused")
    texts = ["今天天气很好", "我想借钱"]
    out = client.embeddings.create(model="gte", input=texts)
    expected = engine_vectors(live_server, texts)
    assert [d.index for d in out.data] == [0, 1]
    np.testing.assert_allclose([d.embedding for d in out.data], expected, atol=1e-5)
    assert out.usage.prompt_tokens == out.usage.total_tokens == (6 + 2) + (4 + 2)
    b64 = client.embeddings.create(model="gte", input="今天天气很好", encoding_format="base64")
    got = b64.data[0].embedding
    if isinstance(got, str):  # the client hands base64 through as it came
        got = np.frombuffer(base64.b64decode(got), dtype="<f4")
    np.testing.assert_allclose(got, expected[0], atol=1e-6)
    raw = post(live_server, "/v1/embeddings", json={"input": "今天天气很好", "encoding_format": "base64"}).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(decoded, expected[0], atol=1e-6)
    assert raw["object"] == "list" and raw["data"][0]["object"] == "embedding"


def test_openai_dimensions(live_server):
    r = post(live_server, "/v1/embeddings", json={"input": ["今天天气很好"], "dimensions": 8}).json()
    vec = np.array(r["data"][0]["embedding"])
    assert vec.shape == (8,) and abs(np.linalg.norm(vec) - 1) < 1e-5
    full = engine_vectors(live_server, ["今天天气很好"])[0][:8]
    np.testing.assert_allclose(vec, full / np.linalg.norm(full), atol=1e-5)
    bad = post(live_server, "/v1/embeddings", json={"input": "a", "dimensions": 4096})
    assert bad.status_code == 422 and "more than the model's 32" in bad.json()["error"]["message"]


@pytest.mark.parametrize("body, status, fragment", [
    ({"input": [[1, 2, 3]]}, 422, "token-id input is not supported"),
    ({"input": [1, 2, 3]}, 422, "token-id input is not supported"),
    ({"input": 5}, 422, "input"),
    ({"model": "gte"}, 422, "input: Field required"),
    ({"input": "a", "encoding_format": "hex"}, 422, "encoding_format"),
    ({"input": []}, 422, "no input given"),
    ({"input": ["ok", ""]}, 422, "input[1] is empty"),
])
def test_openai_errors_use_openai_envelope(live_server, body, status, fragment):
    r = post(live_server, "/v1/embeddings", json=body)
    assert r.status_code == status
    err = r.json()["error"]
    assert fragment in err["message"] and err["type"] == "invalid_request_error" and err["code"]


def test_models_list(live_server):
    data = requests.get(live_server.url + "/v1/models", timeout=10).json()["data"]
    assert data[0]["id"] == live_server.service.info.name and data[0]["dimensions"] == 32


# ------------------------------------------------------------------ /similarity, /embed, /health
def test_flask_shape_similarity(live_server):
    r = post(live_server, "/similarity", json={"sentence_a": SOURCE, "sentence_b": CANDS[0]})
    body = r.json()
    v = engine_vectors(live_server, [SOURCE, CANDS[0]])
    assert r.status_code == 200 and body["status"] == "success"
    assert body["similarity"] == pytest.approx(float(v[0] @ v[1]), abs=1e-5)
    # the tiny model scores this pair about 0.85: above the default high band (0.75)
    assert body["sentence_a"] == SOURCE and body["similarity"] > 0.75 and body["verdict"] == "高度相似"


def test_tei_shape_similarity_and_embed(live_server):
    r = post(live_server, "/similarity", json={"inputs": {"source_sentence": SOURCE, "sentences": CANDS}})
    v = engine_vectors(live_server, [SOURCE] + CANDS)
    np.testing.assert_allclose(r.json(), v[1:] @ v[0], atol=1e-5)
    e = post(live_server, "/embed", json={"inputs": ["今天天气很好", "我想借钱"]}).json()
    np.testing.assert_allclose(e, engine_vectors(live_server, ["今天天气很好", "我想借钱"]), atol=1e-5)


@pytest.mark.parametrize("path, body, fragment", [
    ("/similarity", {"sentence_a": "a"}, "sentence_b: Field required"),
    ("/similarity", {"sentence_a": "a", "sentence_b": 3}, "sentence_b"),
    ("/similarity", {"inputs": {"source_sentence": "a", "sentences": "b"}}, "inputs.sentences"),
    ("/similarity", {"inputs": {"source_sentence": "a", "sentences": []}}, "no candidates given"),
    ("/embed", {"inputs": None}, "inputs"),
])
def test_rest_validation_errors(live_server, path, body, fragment):
    r = post(live_server, path, json=body)
    assert r.status_code == 422 and fragment in r.json()["error"]


def test_health_and_openapi(live_server):
    h = requests.get(live_server.url + "/health", timeout=10).json()
    assert h["status"] == "ok" and h["ready"] and h["dim"] == 32 and h["device"] == "cpu"
    assert "hit_rate" in h["cache"]["local"]
    assert h["cache"]["shared"] == {"enabled": False, "up": False, "hits": 0, "misses": 0, "errors": 0}
    paths = requests.get(live_server.url + "/openapi.json", timeout=10).json()["paths"]
    for p in ("/api/predict", "/v1/embeddings", "/v1/models", "/similarity", "/embed", "/health"):
        assert p in paths
    assert requests.get(live_server.url + "/docs", timeout=10).status_code == 200


# ------------------------------------------------------------------ gradio_client
def test_named_gradio_endpoints(live_server):
    from gradio_client import Client

    client = Client(live_server.url, verbose=False)
    svc = live_server.service
    sim = client.predict(SOURCE, CANDS[0], api_name="/similarity")
    assert sim["score"] == pytest.approx(svc.pair(SOURCE, CANDS[0]).score, abs=1e-6)
    rows = client.predict(SOURCE, "\n".join(CANDS), 2, api_name="/rank")
    expected = svc.rank(SOURCE, CANDS, top_k=2)
    assert [r["text"] for r in rows] == [r.text for r in expected.rows]
    emb = client.predict("今天天气很好\n\n我想借钱", api_name="/embed")
    assert emb["dim"] == 32 and len(emb["vectors"]) == 2
    np.testing.assert_allclose(emb["vectors"], engine_vectors(live_server, ["今天天气很好", "我想借钱"]), atol=1e-5)
    api_info = client.view_api(return_format="dict", print_info=False)
    assert {"/similarity", "/rank", "/embed"} <= set(api_info["named_endpoints"])


def test_gradio_endpoint_error_is_readable(live_server):
    from gradio_client import Client

    client = Client(live_server.url, verbose=False)
    with pytest.raises(Exception, match="sentence A is empty"):
        client.predict("", "b", api_name="/similarity")


# ------------------------------------------------------------------ concurrency
def test_sixteen_concurrent_clients_are_batched(live_server):
    svc = live_server.service
    calls_before = svc.encoder.forward_calls
    batches_before = svc.runner.batches
    texts = [f"并发请求第{i}号很好" for i in range(16)]
    barrier = threading.Barrier(16)

    def call(text):
        barrier.wait()
        return post(live_server, "/v1/embeddings", json={"input": text}).json()["data"][0]["embedding"]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, texts))
    np.testing.assert_allclose(results, engine_vectors(live_server, texts), atol=1e-5)
    model_calls = svc.runner.batches - batches_before
    assert model_calls < 16, f"{model_calls} model calls for 16 requests: no batching happened"
    assert svc.encoder.forward_calls - calls_before < 16 + 1  # +1: engine_vectors' own call


def test_api_key_protects_rest_routes(tiny_service):
    from conftest import LiveServer

    from gte_ui.server import create_app

    settings = tiny_service.settings.replace(api_key="s3cret")
    with LiveServer(create_app(tiny_service, settings)) as server:
        r = post(server, "/v1/embeddings", json={"input": "a"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        assert post(server, "/api/predict", json={"data": ["a", ""]}).status_code == 401
        ok = post(server, "/api/predict", json={"data": ["a", ""]}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert requests.get(server.url + "/health", timeout=10).status_code == 200  # probes stay open


def test_text_options_on_rest_routes(live_server):
    trad, simp = "蘋果手機很好用", "苹果手机很好用"
    off = post(live_server, "/similarity", json={"sentence_a": trad, "sentence_b": simp}).json()["similarity"]
    on = post(live_server, "/similarity", json={"sentence_a": trad, "sentence_b": simp, "t2s": True}).json()
    assert on["similarity"] == pytest.approx(1.0, abs=1e-6) and off < 1 - 1e-4
    emb = post(live_server, "/v1/embeddings", json={"input": [trad, simp], "t2s": True}).json()["data"]
    assert emb[0]["embedding"] == emb[1]["embedding"]
    long_text = "今天天气很好我们去公园散步吧" * 40  # far over the tiny model's 128 tokens
    chunked = post(live_server, "/embed", json={"inputs": [long_text, long_text + "再见"], "long_text": "chunk"}).json()
    assert not np.allclose(chunked[0], chunked[1], atol=1e-6)  # chunk mode reads the end
    cut = post(live_server, "/embed", json={"inputs": [long_text, long_text + "再见"]}).json()
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)  # truncate mode does not
    bad = post(live_server, "/embed", json={"inputs": "a", "long_text": "split"})
    assert bad.status_code == 422 and "long_text" in bad.json()["error"]


def test_gradio_endpoint_options(live_server):
    from gradio_client import Client

    client = Client(live_server.url, verbose=False)
    on = client.predict("蘋果手機很好用", "苹果手机很好用", True, "truncate", api_name="/similarity")
    assert on["score"] == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(Exception, match="long_text must be one of"):
        client.predict("a", "b", False, "split", api_name="/similarity")


def test_legacy_trailing_slash_and_ambiguous_similarity_body(live_server):
    r = post(live_server, "/api/predict/", json={"data": ["今天天气很好", ""], "fn_index": 0})
    assert r.status_code == 200 and len(r.json()["data"]) == 32
    both = post(live_server, "/similarity", json={"sentence_a": "a", "sentence_b": "b",
                                                  "inputs": {"source_sentence": "a", "sentences": ["b"]}})
    assert both.status_code == 422 and "not both" in both.json()["error"]
