"""The serverless handler, called with the event dictionaries FC and Lambda really send."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from gte_ui.frontends import serverless

SOURCE = "这款手机电池续航很强"
CANDS = ["手机电量很耐用", "这台设备待机时间久", "充电速度特别快"]


@pytest.fixture(autouse=True)
def fresh_instance(serverless_instance):
    """Each test is a new function instance (cold), configured the way an image would be."""


def call(event) -> tuple[int, dict, dict]:
    res = serverless.handler(event, None)
    assert set(res) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert res["headers"]["Content-Type"].startswith("application/json")
    return res["statusCode"], json.loads(res["body"]), res["headers"]


def rest_api_v1(path: str, body, method: str = "POST", b64: bool = False, headers: dict | None = None) -> dict:
    """API Gateway REST API (payload 1.0), as Lambda receives it."""
    raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return {"resource": path, "path": path, "httpMethod": method,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "multiValueHeaders": {}, "queryStringParameters": None, "pathParameters": None,
            "requestContext": {"resourcePath": path, "httpMethod": method, "stage": "prod",
                               "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"},
            "body": base64.b64encode(raw.encode()).decode() if b64 else raw, "isBase64Encoded": b64}


def http_api_v2(route: str, body, stage: str = "default", method: str = "POST") -> dict:
    """API Gateway HTTP API / Lambda function URL (payload 2.0)."""
    return {"version": "2.0", "routeKey": f"{method} /gte/{route}", "rawPath": f"/{stage}/gte/{route}",
            "rawQueryString": "", "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": method, "path": f"/{stage}/gte/{route}",
                                        "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
                               "stage": stage, "routeKey": f"{method} /gte/{route}"},
            "body": json.dumps(body, ensure_ascii=False), "isBase64Encoded": False}


def fc3_http_trigger(path: str, body, method: str = "POST") -> bytes:
    """Alibaba Cloud Function Compute 3.0 HTTP trigger: the event reaches Python as JSON bytes."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    return json.dumps({
        "version": "v1", "rawPath": path, "headers": {"Content-Type": "application/json"},
        "queryParameters": {}, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True,
        "requestContext": {"accountId": "1234567890", "domainName": "gte.cn-hangzhou.fcapp.run",
                           "domainPrefix": "gte", "requestId": "1-6571e4a8-0cf9c4a2-b1d2f7e0c3a4",
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "192.0.2.1", "userAgent": "curl/8.5.0"},
                           "time": "07/Dec/2023:15:25:28 +0000", "timeEpoch": "1701962728000"},
    }, ensure_ascii=False).encode()


def test_cold_then_warm_over_every_event_shape():
    status, body, headers = call(rest_api_v1("/similarity", {"sentence_a": SOURCE, "sentence_b": CANDS[0]}))
    assert status == 200 and body["status"] == "success" and headers["X-Cold-Start"] == "1"
    service = serverless.get_service()
    expected = service.pair(SOURCE, CANDS[0])
    assert body["similarity"] == pytest.approx(expected.score, abs=1e-6) and body["verdict"] == expected.verdict.zh

    # Warm: the same service object answers, over a stage-prefixed HTTP API route.
    status, body, headers = call(http_api_v2("rank", {"source": SOURCE, "candidates": "\n".join(CANDS), "top_k": 2}))
    assert status == 200 and headers["X-Cold-Start"] == "0" and serverless.get_service() is service
    ranked = service.rank(SOURCE, CANDS)
    assert body["scores"] == pytest.approx(ranked.scores, abs=1e-6)
    assert [r["text"] for r in body["ranking"]] == [r.text for r in ranked.rows[:2]]

    status, body, _ = call(fc3_http_trigger("/embed", {"texts": ["今天天气很好", "我想借钱"]}))
    assert status == 200 and body["dim"] == service.dim == len(body["vectors"][0])
    np.testing.assert_allclose(body["vectors"], service.embed(["今天天气很好", "我想借钱"]).vectors, atol=1e-6)
    status, body, _ = call(rest_api_v1("/embed", {"input": "今天天气很好"}, b64=True))
    assert status == 200 and len(body["vectors"]) == 1

    status, body, _ = call({"version": "2.0", "rawPath": "/health", "requestContext": {"http": {"method": "GET"}}})
    assert status == 200 and body["dim"] == service.dim and body["cold_start_s"] > 0
    assert service.stats()["forward_calls"] > 0


@pytest.mark.parametrize("event, status, fragment", [
    (rest_api_v1("/similarity", {"sentence_a": "", "sentence_b": "x"}), 422, "sentence A is empty"),
    (rest_api_v1("/similarity", {"sentence_a": 1, "sentence_b": "x"}), 422, "must be a string"),
    (rest_api_v1("/rank", {"source": "a", "candidates": []}), 422, "no candidates given"),
    (rest_api_v1("/rank", {"source": "a", "candidates": ["b"], "top_k": 0}), 422, "top_k must be a positive"),
    (rest_api_v1("/embed", {"texts": ["x"] * 300}), 413, "the limit is 256"),
    (rest_api_v1("/embed", {"texts": ["长" * 20_001]}), 413, "the limit is 20,000"),
    (rest_api_v1("/embed", "{nope"), 400, "malformed JSON"),
    ({**rest_api_v1("/embed", ""), "body": "!!not base64!!", "isBase64Encoded": True}, 400, "not valid base64"),
    (rest_api_v1("/embed", ["a"]), 422, "must be a JSON object"),
    (rest_api_v1("/embed", ""), 422, "must be a JSON object"),
    (rest_api_v1("/nowhere", {}), 404, "unknown route /nowhere"),
    (rest_api_v1("/embed", {}, method="GET"), 405, "use POST"),
    (rest_api_v1("/health", {}, method="DELETE"), 405, "use GET"),
    (b"\xff\xfe not json", 400, "the event is not UTF-8"),
    ([1, 2], 400, "the event must be a JSON object"),
])
def test_bad_requests_get_the_right_status_and_a_bilingual_message(event, status, fragment):
    code, body, _ = call(event)
    assert code == status and fragment in body["error"], body
    assert " / " in body["error"] and body["error_type"]


def test_api_key_oversize_body_and_failed_cold_start(monkeypatch, tmp_path, tiny_model_dir):
    monkeypatch.setenv("GTE_API_KEY", "s3cret")
    monkeypatch.setenv("GTE_MAX_BODY_BYTES", "200")
    event = rest_api_v1("/similarity", {"sentence_a": "a", "sentence_b": "b"})
    assert call(event)[0] == 401
    ok = rest_api_v1("/similarity", {"sentence_a": "a", "sentence_b": "b"}, headers={"Authorization": "Bearer s3cret"})
    assert call(ok)[0] == 200
    big = rest_api_v1("/embed", {"texts": ["今天天气很好" * 12]}, headers={"Authorization": "Bearer s3cret"})
    status, body, _ = call(big)
    assert status == 413 and "over 200 bytes" in body["error"]

    # A model that cannot be found: 503 with the loader's message, and the next call retries.
    monkeypatch.setattr(serverless, "_SERVICE", None)
    monkeypatch.setenv("GTE_MODEL", str(tmp_path / "missing"))
    status, body, _ = call(ok)
    assert status == 503 and "does not exist" in body["error"] and serverless._SERVICE is None
    monkeypatch.setenv("GTE_MODEL", str(tiny_model_dir))  # e.g. the volume is mounted now
    assert call(ok)[0] == 200 and serverless._SERVICE is not None


def test_the_handler_path_before_1_1_still_works_with_a_deprecation_warning(monkeypatch):
    """Issue 30.10: functions deployed with ``gte_ui.serverless.handler`` broke without a word when
    the module moved; the old path answers as the new one and says where to point the deployment."""
    import importlib
    import sys

    monkeypatch.delitem(sys.modules, "gte_ui.serverless", raising=False)
    with pytest.warns(DeprecationWarning, match="set the function's handler to gte_ui.frontends.serverless.handler"):
        old = importlib.import_module("gte_ui.serverless")
    assert old.handler is serverless.handler and old.ROUTES is serverless.ROUTES
    status, body, _ = call(rest_api_v1("/similarity", {"sentence_a": SOURCE, "sentence_b": CANDS[0]}))
    res = old.handler(rest_api_v1("/similarity", {"sentence_a": SOURCE, "sentence_b": CANDS[0]}), None)
    assert status == res["statusCode"] == 200 and json.loads(res["body"])["score"] == body["score"]


@pytest.mark.parametrize("route, body, name", [
    ("/similarity", {"sentence_a": "a", "sentence_b": "b", "t2S": True}, "t2S"),
    ("/rank", {"source": "a", "candidates": ["b"], "topk": 1}, "topk"),
    ("/embed", {"texts": ["a"], "dimension": 8}, "dimension"),
    ("/rerank", {"query": "a", "docs": ["b"], "top_k": 1}, "top_k"),
])
def test_a_key_the_route_does_not_take_is_a_422_naming_it(route, body, name):
    """Issue 27.1: unknown options are a 422 everywhere, never dropped (they were ignored here)."""
    status, answer, _ = call(rest_api_v1(route, body))
    assert status == 422 and name in answer["error"] and " / " in answer["error"], answer


def test_health_answers_the_http_health_fields_and_the_instances_own():
    """One health result: the serverless /health carries what GET /health of the server does
    (counters and models too), plus the cold start and the invocations."""
    call(rest_api_v1("/embed", {"texts": ["今天天气很好"]}))
    status, body, _ = call(rest_api_v1("/health", None, method="GET"))
    service = serverless.get_service()
    assert status == 200 and body["status"] == "ok" and body["model"] == service.name
    assert body["forward_calls"] >= 1 and body["cache"]["local"]["misses"] >= 1
    assert body["models"] == [{"name": service.name, "dim": service.dim, "max_length": service.max_length,
                               "device": "cpu", "precision": "fp32", "backend": service.info.backend,
                               "memory_estimate": service.memory_estimate, "default": True}]
    assert body["cold_start_s"] > 0 and body["invocations"] >= 2
