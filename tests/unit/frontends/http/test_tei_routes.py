"""TEI's route table only dispatches to the TEI protocol's adapters (in-process, tiny model): each
operation turns a parsed body into the service's answer in TEI's shape; the table at the root and
under /tei/{name} sends each path to its operation and model; the key guards all but health."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.http import tei_routes
from gte_ui.frontends.http.routes import install_api
from gte_ui.frontends.http.tei_routes import install_tei
from gte_ui.frontends.protocols import tei
from gte_ui.service import tokens


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


TEXTS = ["手机电量很耐用", "今天天气很好", "充电速度特别快"]


def run(op, target, body):
    return asyncio.run(op(target, body))


@pytest.fixture(scope="module")
def targets(rerank_service):
    return tei.resolve_target(rerank_service, None), tei.resolve_target(rerank_service, rerank_service.reranker.info.name)


def test_embed_operations_answer_the_services_vectors(rerank_service, targets):
    emb, _ = targets
    want = rerank_service.embed(TEXTS).vectors
    np.testing.assert_allclose(run(tei_routes.embed, emb, {"inputs": TEXTS}), want, atol=1e-6)
    np.testing.assert_allclose(run(tei_routes.embed, emb, {"inputs": TEXTS[0]}), want[:1], atol=1e-6)  # a str: one
    cut = run(tei_routes.embed, emb, {"inputs": TEXTS, "dimensions": 8})
    assert np.asarray(cut).shape == (3, 8)
    openai = run(tei_routes.openai_embeddings, emb, {"input": TEXTS})
    np.testing.assert_allclose([d.embedding for d in openai.data], want, atol=1e-6)
    per_token = run(tei_routes.embed_all, emb, {"inputs": ["今天"]})
    assert len(per_token) == 1 and len(per_token[0]) == len(tokens.tokenize(rerank_service, ["今天"])[0])
    scores = run(tei_routes.similarity, emb, {"inputs": {"source_sentence": "手机电池", "sentences": TEXTS}})
    assert scores == pytest.approx(rerank_service.rank("手机电池", TEXTS).scores)


def test_rerank_and_predict_by_the_targets_kind(rerank_service, targets):
    emb, ce = targets
    answer = run(tei_routes.rerank, ce, {"query": "手机电池", "texts": TEXTS, "return_text": True})
    want = rerank_service.rerank("手机电池", TEXTS)
    assert answer.headers["X-Rerank-Method"] == "cross-encoder"
    assert [(r["index"], r["text"]) for r in answer.body] == [(r.index, r.text) for r in want.rows]
    assert run(tei_routes.rerank, emb, {"query": "手机电池", "texts": TEXTS}).headers["X-Rerank-Method"] == "embedding"
    one = run(tei_routes.predict, ce, {"inputs": ["手机电池", TEXTS[0]]})
    batch = run(tei_routes.predict, ce, {"inputs": [["手机电池", TEXTS[0]], ["手机电池", TEXTS[1]]]})
    assert one[0]["score"] == pytest.approx(batch[0][0]["score"]) and len(batch) == 2  # a batch nests deeper
    with pytest.raises(GteError, match="not a classifier model"):
        run(tei_routes.predict, emb, {"inputs": ["q", "t"]})
    # POST / and /invocations answer as the model's kind does; Vertex wraps each instance's answer
    assert run(tei_routes.by_kind, emb, {"inputs": "好"}) == run(tei_routes.embed, emb, {"inputs": "好"})
    vertex = run(tei_routes.vertex, ce, {"instances": [{"query": "手机电池", "texts": TEXTS[:2]}]})
    assert [r["index"] for r in vertex["predictions"][0]] == [r.index for r in
                                                               rerank_service.rerank("手机电池", TEXTS[:2]).rows]


def test_tokenize_and_decode_round_trip(targets):
    emb, _ = targets
    found = run(tei_routes.tokenize, emb, {"inputs": "今天天气", "add_special_tokens": False})
    ids = [t["id"] for t in found[0]]
    assert not any(t["special"] for t in found[0])
    decoded = run(tei_routes.decode, emb, {"ids": ids})
    assert len(decoded) == 1 and decoded[0].replace(" ", "") == "今天天气"  # BERT decodes CJK spaced


@pytest.mark.parametrize("op, body, error_type, fragment", [
    (tei_routes.embed, {"inputs": "a", "normalize": False}, ErrorType.VALIDATION, "normalize: false"),
    (tei_routes.embed, {"input": "a"}, ErrorType.VALIDATION, "inputs"),
    (tei_routes.embed_sparse, {"inputs": "a"}, ErrorType.MODEL_TYPE, "SPLADE"),
    (tei_routes.embed_sparse, {"nope": 1}, ErrorType.VALIDATION, "inputs"),  # a malformed body first
    (tei_routes.embed_all, {"inputs": ""}, ErrorType.EMPTY, "inputs[0] is empty"),
])
def test_refusals_name_what_is_wrong(targets, op, body, error_type, fragment):
    with pytest.raises(GteError) as err:
        run(op, targets[0], body)
    assert err.value.error_type is error_type and fragment in err.value.message


@pytest.fixture(scope="module")
def keyed_client(rerank_service):
    """TEI's router alone, behind --api-key, over the tiny BERT and cross-encoder (no error handlers:
    a refusal comes out as the GteError itself)."""
    app = FastAPI()
    app.include_router(tei_routes.build_tei_router(rerank_service, rerank_service.settings.replace(api_key="k")))
    with TestClient(app) as c:
        c.service = rerank_service
        yield c


KEY = {"Authorization": "Bearer k"}


def test_the_table_sends_each_path_to_its_operation_and_model(keyed_client, rerank_service):
    client = keyed_client
    name, ce = rerank_service.name, rerank_service.reranker.info.name
    assert client.get("/info", headers=KEY).json()["model_id"] == name
    assert "reranker" in client.get(f"/tei/{ce}/info", headers=KEY).json()["model_type"]
    # the longest path first: /tei/NAME/v1/embeddings is NAME's OpenAI route, not model "NAME/v1"
    r = client.post(f"/tei/{name}/v1/embeddings", json={"input": ["好"]}, headers=KEY)
    assert r.status_code == 200 and r.json()["object"] == "list"
    r = client.post(f"/tei/{ce}", json={"query": "手机电池", "texts": TEXTS}, headers=KEY)  # the base URL
    assert r.headers["X-Rerank-Method"] == "cross-encoder" and len(r.json()) == 3
    assert client.get(f"/tei/{name}/health").status_code == 200 and client.get("/ping").status_code == 200
    with pytest.raises(GteError) as err:
        client.get("/tei/nope/health")  # an unknown model is not healthy
    assert err.value.error_type is ErrorType.UNKNOWN_MODEL


def test_the_key_guards_every_route_but_health_and_json_is_required(keyed_client):
    client = keyed_client
    with pytest.raises(GteError) as err:
        client.post("/embed_all", json={"inputs": "好"})
    assert err.value.error_type is ErrorType.UNAUTHORIZED
    with pytest.raises(GteError) as err:
        client.post("/tokenize", content=b'{"inputs": "x"}', headers={**KEY, "Content-Type": "text/plain"})
    assert err.value.error_type is ErrorType.MEDIA_TYPE
    paths = {r.path for r in tei_routes.build_tei_router(client.service, client.service.settings).routes}
    assert {"/info", "/embed_all", "/tei/{name:path}/embed"} <= paths
    assert not {"/embed", "/rerank", "/similarity", "/v1/embeddings"} & paths  # routes.py answers those at the root
