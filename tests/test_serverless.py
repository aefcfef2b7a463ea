"""The serverless handler, called with real event dictionaries (API Gateway v1/v2, FC)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from gte_ui import serverless


@pytest.fixture(autouse=True)
def tiny_env(monkeypatch, tiny_model_dir):
    monkeypatch.setenv("GTE_MODEL", str(tiny_model_dir))
    monkeypatch.setattr(serverless, "_SERVICE", None)


def call(event):
    res = serverless.handler(event, None)
    assert set(res) >= {"statusCode", "headers", "body"}
    return res["statusCode"], json.loads(res["body"])


def api_gw_v1(path, body, method="POST", b64=False):
    raw = json.dumps(body, ensure_ascii=False)
    return {"httpMethod": method, "path": path, "headers": {"content-type": "application/json"},
            "body": base64.b64encode(raw.encode()).decode() if b64 else raw, "isBase64Encoded": b64}


def test_cold_then_warm_and_all_routes():
    status, body = call(api_gw_v1("/similarity", {"sentence_a": "这款手机电池续航很强", "sentence_b": "手机电量很耐用"}))
    assert status == 200 and body["status"] == "success"
    service = serverless.get_service()
    assert body["similarity"] == pytest.approx(service.pair("这款手机电池续航很强", "手机电量很耐用").score, abs=1e-6)
    # warm: the same service object answers the next invocation (API Gateway v2 event shape)
    v2 = {"version": "2.0", "rawPath": "/default/gte/rank", "requestContext": {"http": {"method": "POST"}},
          "body": json.dumps({"source": "这款手机电池续航很强", "candidates": "手机电量很耐用\n充电速度特别快", "top_k": 1})}
    status, body = call(v2)
    assert status == 200 and len(body["ranking"]) == 1 and len(body["scores"]) == 2
    assert serverless.get_service() is service
    status, body = call(api_gw_v1("/embed", {"texts": ["今天天气很好"]}, b64=True))
    np.testing.assert_allclose(body["vectors"][0], service.embed(["今天天气很好"]).vectors[0], atol=1e-6)
    status, body = call({"httpMethod": "GET", "path": "/health"})
    assert status == 200 and body["dim"] == 32 and body["cold_start_s"] > 0


@pytest.mark.parametrize("event, status, fragment", [
    (api_gw_v1("/similarity", {"sentence_a": ""}), 422, "sentence A is empty"),
    (api_gw_v1("/rank", {"source": "a", "candidates": []}), 422, "no candidates given"),
    (api_gw_v1("/embed", {"texts": ["x"] * 300}), 413, "the limit is 256"),
    ({"httpMethod": "POST", "path": "/embed", "body": "{nope"}, 422, "malformed JSON"),
    ({"httpMethod": "POST", "path": "/embed", "body": "!!", "isBase64Encoded": True}, 422, "base64"),
    (api_gw_v1("/nowhere", {}), 404, "unknown route"),
    (api_gw_v1("/embed", {}, method="GET"), 405, "use POST"),
    ("not json at all", 422, "the event is not JSON"),
    (api_gw_v1("/embed", ["a"]), 422, "must be a JSON object"),
])
def test_errors_answer_with_status_and_message(event, status, fragment):
    code, body = call(event)
    assert code == status and fragment in body["error"]
