"""The REST routes only dispatch: each answer is its protocol adapter's, in-process over the tiny
model; a key a route's shape does not define is a 422 naming it."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gte_ui.frontends.http.routes import install_api
from gte_ui.service.health import health


@pytest.fixture()
def client(tiny_service):
    app = FastAPI()
    install_api(app, tiny_service)
    with TestClient(app) as c:
        yield c


def test_health_is_the_health_result(client, tiny_service):
    body = client.get("/health").json()
    expected = health(tiny_service).to_dict()
    body.pop("uptime_s"), expected.pop("uptime_s")
    assert body == expected and body["models"][0]["default"] is True


def test_models_list_comes_from_the_loaded_models(client, tiny_service):
    data = client.get("/v1/models").json()["data"]
    assert [(m["id"], m["dimensions"], m["default"]) for m in data] == [(tiny_service.name, tiny_service.dim, True)]


@pytest.mark.parametrize("path, body, name", [
    ("/similarity", {"sentence_a": "a", "sentence_b": "b", "t2S": True}, "t2S"),
    ("/similarity", {"inputs": {"source_sentence": "a", "sentences": ["b"]}, "nfck": True}, "nfck"),
    ("/embed", {"inputs": ["a"], "colapse_whitespace": True}, "colapse_whitespace"),
    ("/embed", {"texts": ["a"], "long_txt": "chunk"}, "long_txt"),
    ("/rerank", {"query": "q", "texts": ["a"], "return_txt": True}, "return_txt"),
    ("/rerank", {"query": "q", "docs": ["a"], "raw_score": True}, "raw_score"),
    ("/v1/embeddings", {"input": ["a"], "t2": True}, "t2"),
    ("/v1/rerank", {"query": "q", "documents": ["a"], "topn": 1}, "topn"),
    ("/v1/search", {"index": "x", "query": "q", "topk": 3}, "topk"),
])
def test_a_misspelt_key_is_a_422_naming_it(client, path, body, name):
    r = client.post(path, json=body)
    assert r.status_code == 422 and name in str(r.json()), r.text


def test_fields_real_clients_send_are_accepted(client):
    openai = client.post("/v1/embeddings", json={"input": "a", "model": "x", "user": "u", "encoding_format": "float"})
    assert openai.status_code == 200
    hub = client.post("/embed", json={"inputs": "a", "normalize": True, "truncate": True,
                                      "truncation_direction": "Right"})
    assert hub.status_code == 200
    cohere = client.post("/v2/rerank", json={"query": "q", "documents": [{"text": "a"}], "model": "m", "top_n": 1,
                                             "return_documents": True})
    assert cohere.status_code == 200 and cohere.json()["results"][0]["document"] == {"text": "a"}


def test_root_embed_honours_dimensions(client, tiny_service):
    vectors = np.asarray(client.post("/embed", json={"inputs": ["今天天气很好"], "dimensions": 8}).json())
    assert vectors.shape == (1, 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    full = tiny_service.embed(["今天天气很好"]).vectors[0]
    np.testing.assert_allclose(vectors[0], full[:8] / np.linalg.norm(full[:8]), atol=1e-5)


def test_the_three_rerank_answers_come_from_one_result(client, tiny_service):
    docs = ["续航久", "下雨了", "充电快"]
    r = tiny_service.rerank("电池", docs)
    article = client.post("/rerank", json={"query": "电池", "docs": docs})
    assert article.json()["scores"] == pytest.approx(r.scores) and article.headers["X-Rerank-Method"] == "embedding"
    teis = client.post("/rerank", json={"query": "电池", "texts": docs})
    assert [x["index"] for x in teis.json()] == [row.index for row in r.rows]
    cohere = client.post("/v1/rerank", json={"query": "电池", "documents": docs}).json()
    assert [x["relevance_score"] for x in cohere["results"]] == pytest.approx([row.score for row in r.rows])
    long_doc = "电池续航" * tiny_service.max_length
    refused = client.post("/rerank", json={"query": "电池", "texts": ["短", long_doc], "truncate": False})
    assert refused.status_code == 413 and "texts[1]" in refused.json()["error"]
