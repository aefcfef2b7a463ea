"""The serverless handler's own logic (gte_ui/frontends/serverless.py): reading an event
(``parse_event``), the last path segment as the route, the routing table (404 before a cold start,
405 with ``Allow``), and that the handler never raises. Whole events as FC and Lambda send them,
limits and the API key: tests/e2e/serverless/test_serverless.py."""

from __future__ import annotations

import base64
import json

import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends import serverless
from gte_ui.service.options import read_options

A, B = "這款手機電池", "这款手机电池"  # one text in traditional and in simplified characters


def answer(event) -> tuple[int, dict, dict]:
    res = serverless.handler(event, None)
    return res["statusCode"], json.loads(res["body"]), res["headers"]


def post(route: str, body, **extra) -> dict:
    """A direct invoke: method, path and the body, no headers."""
    return {"method": "POST", "path": route, "body": json.dumps(body, ensure_ascii=False), **extra}


# ------------------------------------------------------------------ parse_event (no model)
@pytest.mark.parametrize("event, method, path", [
    ({"httpMethod": "get", "path": "/prod/health"}, "GET", "/prod/health"),  # REST v1, any case
    ({"routeKey": "POST /gte/rank", "requestContext": {}}, "POST", "/gte/rank"),  # v2: the route key alone
    ({"routeKey": "ANY /{proxy+}", "requestContext": {"http": {"method": "PUT", "path": "/x/embed"}}}, "PUT", "/x/embed"),
    ({"routeKey": "GET /gte/{proxy+}"}, "GET", "/"),  # a route key's template is no path
    ({"routeKey": "$default", "rawPath": "/rank"}, "POST", "/rank"),  # no method anywhere: POST
    ({"body": "{}"}, "POST", "/similarity"),  # the articles' bare event
    ({"method": "GET"}, "GET", "/"),  # a method without a path is the root, not /similarity
    ({"httpMethod": "POST", "body": "{}"}, "POST", "/"),
])
def test_method_and_path_come_from_whichever_shape_the_event_has(event, method, path):
    assert serverless.parse_event(event)[:2] == (method, path)


def test_headers_are_lower_cased_and_the_size_is_the_body_as_sent():
    raw = json.dumps({"texts": ["今天天气很好"]}, ensure_ascii=False)
    wire = base64.b64encode(raw.encode()).decode()
    _, _, headers, body, size = serverless.parse_event(
        {"rawPath": "/embed", "headers": {"Content-Type": "application/json", "X-Req": 7},
         "body": wire, "isBase64Encoded": True})
    assert headers == {"content-type": "application/json", "x-req": "7"}
    assert body == {"texts": ["今天天气很好"]} and size == len(wire) > len(raw.encode())
    assert serverless.parse_event({"path": "/embed", "body": raw})[3:] == (json.loads(raw), len(raw.encode()))


def test_a_parsed_body_an_empty_one_and_a_string_event_are_read_as_they_come():
    assert serverless.parse_event({"path": "/rank", "body": {"source": "a"}})[3:] == ({"source": "a"}, 0)
    assert serverless.parse_event({"path": "/rank", "body": ""})[3:] == (None, 0)
    assert serverless.parse_event('{"rawPath": "/embed", "body": "[1]"}')[1::2] == ("/embed", [1])


@pytest.mark.parametrize("event, status, says", [
    ({"path": "/embed", "body": 42}, 400, "the body must be a string"),
    ({"path": "/embed", "body": "{}", "headers": {"Content-Type": "text/plain"}}, 415, "is not JSON"),
    ({"path": "/embed", "body": "{", "headers": {"content-type": "application/json; charset=utf-8"}}, 400,
     "malformed JSON in the request body"),
    ({"path": "/embed", "body": base64.b64encode(b"\xff\xfe").decode(), "isBase64Encoded": True}, 400,
     "not valid base64 of UTF-8 text"),
    ('"just a string"', 400, "the event must be a JSON object"),
])
def test_an_event_that_cannot_be_read_is_refused_with_its_status(event, status, says):
    with pytest.raises(GteError) as err:
        serverless.parse_event(event)
    assert err.value.status_code == status and says in err.value.message


@pytest.mark.parametrize("path, route", [
    ("/rank", "/rank"), ("/prod/gte/rank/", "/rank"), ("/", "/"), ("", "/"), ("/default/health", "/health"),
    ("/embed/extra", "/extra"),
])
def test_the_last_path_segment_is_the_route(path, route):
    assert serverless._route(path) == route


# ------------------------------------------------------------------ the handler's routing table
def test_an_unknown_route_is_a_404_before_any_cold_start(serverless_instance):
    status, body, headers = answer(post("/prod/gte/similarity2", {}))
    assert status == 404 and "unknown route /prod/gte/similarity2" in body["error"]
    assert all(route in body["error"] for route in serverless.ROUTES) and "未知路径" in body["error"]
    assert "X-Cold-Start" not in headers and serverless._SERVICE is None  # no model was loaded for it


@pytest.mark.parametrize("event, status, allow", [
    (post("/health", {}), 405, "GET"),
    (post("/", {}), 405, "GET"),
    ({"method": "GET", "path": "/prod/rank"}, 405, "POST"),
    ({"method": "PUT", "path": "/embed", "body": "{}"}, 405, "POST"),
])
def test_a_wrong_method_is_a_405_saying_which_to_use(serverless_instance, event, status, allow):
    code, body, headers = answer(event)
    assert code == status and headers["Allow"] == allow and f"use {allow} for" in body["error"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_root_and_health_answer_get_and_head(serverless_instance, method):
    for path in ("/", "/prod/health"):
        code, body, _ = answer({"method": method, "path": path})
        assert code == 200 and body["status"] == "ok" and body["dim"] == serverless.get_service().dim


def test_the_bare_event_is_similarity_and_text_options_ride_in_the_body(serverless_instance):
    code, body, headers = answer({"body": json.dumps({"sentence_a": A, "sentence_b": B, "t2s": True})})
    service = serverless.get_service()
    assert code == 200 and headers["X-Cold-Start"] == "1"
    assert body["similarity"] == pytest.approx(service.pair(A, B, options=read_options({"t2s": True})).score, abs=1e-6)
    assert body["similarity"] == pytest.approx(1.0, abs=1e-5)  # t2s made them one text
    plain = answer({"body": json.dumps({"sentence_a": A, "sentence_b": B})})[1]
    assert plain["similarity"] == pytest.approx(service.pair(A, B).score, abs=1e-6) and plain["similarity"] < 0.99


def test_rerank_takes_documents_one_per_line_and_says_its_method(serverless_instance):
    docs = ["手机电量很耐用", "今天天气很好", "这台设备待机时间久"]
    code, body, headers = answer(post("/v1/rerank", {"query": "电池续航", "documents": "\n".join(docs) + "\n\n"}))
    want = serverless.get_service().rerank("电池续航", docs, what="docs")
    assert code == 200 and headers["X-Cold-Start"] == "1" and body["method"] == "embedding"
    assert body["scores"] == pytest.approx(want.scores, abs=1e-6) and len(body["scores"]) == 3


def test_embed_reads_input_as_one_text_and_the_model_by_name(serverless_instance):
    code, body, _ = answer(post("/embed", {"input": "今天天气很好"}))
    service = serverless.get_service()
    assert code == 200 and len(body["vectors"]) == 1
    assert body["vectors"][0] == pytest.approx(service.embed(["今天天气很好"]).vectors[0].tolist(), abs=1e-6)
    assert answer(post("/embed", {"input": ["a", "b"], "model": service.name}))[0] == 200
    code, body, _ = answer(post("/embed", {"input": ["a"], "model": "other"}))
    assert code == 404 and "model 'other' is not loaded here" in body["error"]


def test_the_bare_event_checks_the_keys_of_similarity(serverless_instance):
    code, body, _ = answer({"body": json.dumps({"sentence_a": "a", "sentence_b": "b", "query": "c"})})
    assert code == 422 and "/similarity does not take query" in body["error"]
    code, body, _ = answer({"method": "POST", "path": "/similarity"})  # a direct invoke with no body at all
    assert code == 422 and "the body must be a JSON object" in body["error"]


def test_an_unexpected_failure_is_a_500_that_leaks_nothing_and_the_next_call_answers(serverless_instance,
                                                                                     monkeypatch, caplog):
    service = serverless.get_service()

    def broken(*args, **kwargs):
        raise RuntimeError("/srv/models/secret: CUDA exploded")

    before = serverless._INVOCATIONS
    with monkeypatch.context() as patched:
        patched.setattr(service, "pair", broken)
        code, body, _ = answer(post("/similarity", {"sentence_a": "a", "sentence_b": "b"}))
    assert code == 500 and body["error_type"] == "backend" and "secret" not in json.dumps(body)
    assert "serverless handler failed" in caplog.text and serverless._INVOCATIONS == before + 1
    assert answer(post("/similarity", {"sentence_a": "a", "sentence_b": "b"}))[0] == 200  # the instance lives on
