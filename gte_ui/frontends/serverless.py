"""A serverless handler ``handler(event, context)`` over the same service as the web server.

For Alibaba Cloud Function Compute (HTTP trigger, event handler) and AWS Lambda container images
(API Gateway REST/HTTP APIs, function URLs). The model is loaded on the first (cold) invocation
and kept in a module-level cache for every warm one; settings come from the usual environment
variables (``GTE_MODEL`` = a folder baked into the image, ``GTE_OFFLINE=1``, ``GTE_PRECISION``,
``GTE_API_KEY``, the ``GTE_MAX_*`` limits…).

Routes (the last path segment counts, so stage prefixes such as ``/prod/gte/rank`` work):

* ``POST /similarity`` ``{"sentence_a", "sentence_b"}`` → the canonical pair fields, plus
  ``similarity`` and ``interpretation`` (the verdict), the articles' handler's names;
* ``POST /rank`` ``{"source", "candidates": [..] | "one\\nper\\nline", "top_k"?}`` → ranking;
* ``POST /embed`` ``{"texts": [..] | "input": str | [..]}`` → vectors;
* ``POST /rerank`` ``{"query", "docs" | "documents": [..] | "one\nper\nline", "top_n"?, "raw_scores"?}``
  → scores in document order, the ranking, and ``method`` (cross-encoder, or embedding without
  ``GTE_RERANKER``);
* ``GET /health`` → the HTTP ``/health`` fields (model facts, counters, models), the cold-start
  time and the invocations.

A key a route does not take is a 422 naming it. Answers are shaped by
:mod:`gte_ui.frontends.protocols.serverless`.

A bare event ``{"body": "<json>"}`` with no method and no path (the articles' handler, invoked
directly) means ``POST /similarity``. Every text option (``t2s``, ``nfkc``,
``collapse_whitespace``, ``long_text``) may ride in the body, as on the HTTP API.

Answers ``{"statusCode", "headers", "body"}``. Errors are ``{"error": "中文 / English",
"error_type"}`` with the HTTP API's codes: 400 malformed JSON / base64, 401 API key, 404 route,
405 method, 413 over a limit, 422 invalid input, 503 model unavailable. The handler never raises.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from typing import Any

from gte_ui.core.auth import check_api_key
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.jsonbody import check_json_media_type, parse_json
from gte_ui.core.settings import parse_settings
from gte_ui.frontends.protocols import serverless as shapes
from gte_ui.service.health import health

log = logging.getLogger(__name__)

_SERVICE = None  # the EmbeddingService, shared by every warm invocation of this instance
_LOCK = threading.Lock()  # FC can run several requests in one instance at once
_COLD_START_S: float | None = None
_INVOCATIONS = 0

ROUTES = ("/similarity", "/rank", "/embed", "/rerank", "/health")
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def get_service():
    """The instance-wide service: loaded once on the cold start, reused while the instance is warm.

    No dynamic batcher: one instance handles one request at a time on Lambda (FC's instance
    concurrency shares the encoder, whose lock serialises forward passes). A failed load is not
    cached, so the next invocation tries again.
    """
    global _SERVICE, _COLD_START_S
    if _SERVICE is None:
        with _LOCK:
            if _SERVICE is None:
                t0 = time.perf_counter()  # torch/transformers imports are part of the cold start
                from gte_ui.service.service import EmbeddingService  # torch: part of the timed cold start

                service = EmbeddingService.from_settings(parse_settings([]), batching=False)
                _COLD_START_S = round(time.perf_counter() - t0, 3)
                log.info("cold start: model loaded in %.2f s", _COLD_START_S)
                _SERVICE = service
    return _SERVICE


def _response(status: int, body: Any, extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": {**JSON_HEADERS, **(extra_headers or {})},
            "body": json.dumps(body, ensure_ascii=False), "isBase64Encoded": False}


def parse_event(event: Any) -> tuple[str, str, dict[str, str], Any, int]:
    """``(method, path, headers with lower-case names, parsed JSON body or None, body bytes)``.

    Understands API Gateway REST (v1: ``httpMethod``, ``path``), HTTP API / function URLs (v2:
    ``requestContext.http``, ``rawPath``, ``routeKey``) and Function Compute 3 HTTP triggers (the
    v2-like shape, handed to Python as JSON bytes). The body may be a string, base64
    (``isBase64Encoded``) or an already-parsed object.
    """
    if isinstance(event, (bytes, bytearray, str)):  # FC hands the raw event bytes to event handlers
        event = parse_json(event, "the event")
    if not isinstance(event, dict):
        raise GteError(ErrorType.MALFORMED, "the event must be a JSON object", "事件必须是 JSON 对象")
    http = (event.get("requestContext") or {}).get("http") or {}
    route_key = event.get("routeKey") if isinstance(event.get("routeKey"), str) else ""
    rk_method, _, rk_path = route_key.partition(" ") if " " in route_key else ("", "", "")
    method = str(event.get("httpMethod") or http.get("method") or rk_method or event.get("method") or "POST").upper()
    path = str(event.get("rawPath") or event.get("path") or http.get("path") or
               (rk_path if "{" not in rk_path else "") or "")
    if not path:  # a bare {"body": ...} (the articles' handler): no method, no path
        path = "/similarity" if "body" in event and not any(
            k in event for k in ("httpMethod", "method", "requestContext", "routeKey")) else "/"
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body")
    if raw is None or raw == "":
        return method, path, headers, None, 0
    if isinstance(raw, (dict, list)):  # a test console or a direct invoke may pass the object itself
        return method, path, headers, raw, 0
    if not isinstance(raw, str):
        raise GteError(ErrorType.MALFORMED, "the body must be a string", "请求体必须是字符串")
    size = len(raw.encode("utf-8", "surrogatepass"))  # as it crossed the wire (base64 included)
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise GteError(ErrorType.MALFORMED, "the body is marked base64 but is not valid base64 of UTF-8 text",
                           "请求体标记为 base64，但不是有效的 base64 UTF-8 文本") from exc
    check_json_media_type(headers.get("content-type"), required=False)  # a direct invoke has no headers
    return method, path, headers, parse_json(raw), size


def _route(path: str) -> str:
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return "/" + last if last else "/"


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Entry point for FC / Lambda: route the HTTP event to the service. Never raises."""
    global _INVOCATIONS
    _INVOCATIONS += 1
    cold = _SERVICE is None
    try:
        method, path, headers, body, size = parse_event(event)
        route = _route(path)
        if route not in ROUTES and route != "/":
            return _response(404, {"error": f"unknown route {path}; use {', '.join(ROUTES)} / "
                                            f"未知路径 {path}", "error_type": "validation"})
        service = get_service()
        extra = {"X-Cold-Start": "1" if cold else "0"}
        if route in ("/health", "/"):
            if method not in ("GET", "HEAD"):
                return _response(405, {"error": f"use GET for {path} / 请用 GET", "error_type": "validation"},
                                 {"Allow": "GET"})
            return _response(200, shapes.health_answer(health(service), _COLD_START_S, _INVOCATIONS), extra)
        if method != "POST":
            return _response(405, {"error": f"use POST for {path} / 请用 POST", "error_type": "validation"},
                             {"Allow": "POST"})
        check_api_key(service.settings, headers.get("authorization"))
        if size > service.settings.max_body_bytes:
            raise GteError(ErrorType.TOO_LARGE, f"the request body is over {service.settings.max_body_bytes:,} bytes",
                           f"请求体超过 {service.settings.max_body_bytes:,} 字节")
        if not isinstance(body, dict):
            raise GteError(ErrorType.VALIDATION, "the body must be a JSON object, e.g. "
                           '{"sentence_a": "…", "sentence_b": "…"}', "请求体必须是 JSON 对象")
        return _response(200, _dispatch(service, route, body), extra)
    except GteError as exc:
        return _response(exc.status_code, exc.to_dict())
    except Exception:  # noqa: BLE001 - a handler must always answer
        log.exception("serverless handler failed")
        return _response(500, {"error": "服务器内部错误，详情已记录在日志中 / internal error; the function "
                                        "logged the details", "error_type": "backend"})


def _dispatch(service, route: str, body: dict[str, Any]) -> dict[str, Any]:
    """Parse the body (:mod:`gte_ui.frontends.protocols.serverless`), call the service, adapt."""
    shapes.check_fields(route, body)
    service = service.for_model(body.get("model"))
    options = shapes.text_options(body)
    if route == "/similarity":
        return shapes.similarity_answer(service.pair(body.get("sentence_a"), body.get("sentence_b"), options=options))
    if route == "/rank":
        return service.rank(body.get("source"), shapes.lines(body, "candidates"), top_k=body.get("top_k"),
                            options=options).to_dict()
    if route == "/rerank":
        return service.rerank(body.get("query"), shapes.lines(body, "docs", "documents"), top_n=body.get("top_n"),
                              raw_scores=shapes.raw_scores(body), what="docs", options=options).to_dict()
    texts, field = shapes.embed_texts(body)
    return service.embed(texts, what=field, options=options).to_dict()
