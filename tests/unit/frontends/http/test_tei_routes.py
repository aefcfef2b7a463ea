"""TEI's route table only dispatches to the TEI protocol's adapters (in-process, tiny model)."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gte_ui.frontends.http.routes import install_api
from gte_ui.frontends.http.tei_routes import install_tei


@pytest.fixture()
def client(tiny_service):
    app = FastAPI()
    install_api(app, tiny_service)  # the error handlers, as server.py composes them
    install_tei(app, tiny_service, tiny_service.settings)
    with TestClient(app) as c:
        yield c


def test_vertex_answers_each_instance_as_the_base_url_does(client, tiny_service):
    texts = ["今天天气很好", "我想借钱"]
    direct = client.post("/", json={"inputs": texts}).json()
    vertex = client.post("/vertex", json={"instances": [{"inputs": texts}, {"inputs": texts[0]}]}).json()
    assert vertex["predictions"][0] == direct == tiny_service.embed(texts).vectors.tolist()
    assert len(vertex["predictions"][1]) == 1


def test_rerank_per_model_url_sends_the_method_and_best_first(client, tiny_service):
    docs = ["续航久", "下雨了"]
    r = tiny_service.rerank("电池", docs)
    answer = client.post(f"/tei/{tiny_service.name}/rerank", json={"query": "电池", "texts": docs, "return_text": True})
    assert answer.headers["X-Rerank-Method"] == "embedding"
    assert answer.json() == [{"index": row.index, "score": pytest.approx(row.score), "text": row.text}
                             for row in r.rows]


def test_token_id_input_on_openai_embeddings_is_refused_here_too(client):
    r = client.post("/embeddings", json={"input": [[101, 102]]})
    assert r.status_code == 422 and "token-id input" in r.json()["error"]


def test_unknown_keys_are_ignored_by_teis_own_routes_and_refused_where_options_ride(client, tiny_service):
    assert client.post("/tokenize", json={"inputs": "a", "some_future_field": 1}).status_code == 200
    r = client.post(f"/tei/{tiny_service.name}/similarity",
                    json={"inputs": {"source_sentence": "a", "sentences": ["b"]}, "t2ss": True})
    assert r.status_code == 422 and "t2ss" in r.json()["error"]
    assert json.loads(client.get("/info").text)["model_id"] == tiny_service.name
