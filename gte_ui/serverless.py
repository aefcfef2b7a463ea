"""A serverless handler ``handler(event, context)`` over the same service as the server.

For Alibaba Cloud Function Compute (HTTP trigger) and AWS Lambda container images (API Gateway
v1/v2 or function URLs). The model is loaded on the first (cold) invocation and kept in a
module-level cache for every warm one. Settings come from the usual environment variables
(``GTE_MODEL`` = a folder baked into the image, ``GTE_PRECISION=int8``, …).

Routes (POST, JSON): ``/similarity`` {sentence_a, sentence_b}; ``/rank`` {source, candidates
(list or newline-separated), top_k?}; ``/embed`` {texts | input: str | [str]}; GET ``/health``.
Answers ``{"statusCode", "headers", "body"}``; errors are ``{"error": ...}`` with a 4xx/5xx.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from typing import Any

from .errors import ErrorType, GteError

log = logging.getLogger(__name__)
_SERVICE = None
_LOCK = threading.Lock()
_COLD_START_S: float | None = None


def get_service():
    """The process-wide service, loaded once (cold start) and reused by warm invocations."""
    global _SERVICE, _COLD_START_S
    if _SERVICE is None:
        with _LOCK:
            if _SERVICE is None:
                from .config import parse_settings
                from .service import EmbeddingService

                t0 = time.perf_counter()
                _SERVICE = EmbeddingService.from_settings(parse_settings([]), batching=False)
                _COLD_START_S = time.perf_counter() - t0
    return _SERVICE


def _response(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json; charset=utf-8"},
            "body": json.dumps(body, ensure_ascii=False), "isBase64Encoded": False}


def _request(event: dict[str, Any]) -> tuple[str, str, Any]:
    """(method, path, parsed JSON body) from API Gateway v1/v2, function-URL or FC events."""
    if not isinstance(event, dict):
        if isinstance(event, (bytes, str)):  # FC passes the raw event bytes to some runtimes
            try:
                event = json.loads(event)
            except ValueError as exc:
                raise GteError(ErrorType.VALIDATION, "the event is not JSON", "事件不是 JSON") from exc
        if not isinstance(event, dict):
            raise GteError(ErrorType.VALIDATION, "the event must be a JSON object", "事件必须是 JSON 对象")
    http = (event.get("requestContext") or {}).get("http") or {}
    method = (event.get("httpMethod") or http.get("method") or event.get("method") or "POST").upper()
    path = event.get("rawPath") or event.get("path") or http.get("path") or "/"
    raw = event.get("body")
    if raw is None or raw == "":
        return method, path, None
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise GteError(ErrorType.VALIDATION, "the body is not valid base64 UTF-8", "请求体不是有效的 base64 UTF-8") from exc
    if isinstance(raw, (dict, list)):
        return method, path, raw
    try:
        return method, path, json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise GteError(ErrorType.VALIDATION, f"malformed JSON body: {exc}", "JSON 格式错误") from exc


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Entry point: route the HTTP event to the service; never raises."""
    try:
        method, path, body = _request(event)
        route = "/" + path.rstrip("/").rsplit("/", 1)[-1] if path.strip("/") else "/"
        service = get_service()
        if route in ("/health", "/") and method == "GET":
            return _response(200, {"status": "ok", **service.info.as_dict(), "cold_start_s": _COLD_START_S})
        if method != "POST":
            return _response(405, {"error": f"use POST for {path}", "error_type": "validation"})
        if not isinstance(body, dict):
            raise GteError(ErrorType.VALIDATION, "the body must be a JSON object", "请求体必须是 JSON 对象")
        if route == "/similarity":
            r = service.pair(body.get("sentence_a"), body.get("sentence_b"))
            return _response(200, {"similarity": r.score, "percent": r.percent, "verdict": r.verdict.zh,
                                   "tokens": [r.tokens_a, r.tokens_b], "status": "success"})
        if route == "/rank":
            cands = body.get("candidates")
            if isinstance(cands, str):
                from .service import split_lines

                cands = split_lines(cands)
            top_k = body.get("top_k")
            r = service.rank(body.get("source"), cands if cands is not None else [], top_k=top_k)
            return _response(200, {"scores": r.scores, "ranking": [
                {"rank": x.rank, "index": x.index, "text": x.text, "score": x.score, "verdict": x.verdict.zh}
                for x in r.rows]})
        if route == "/embed":
            texts = body.get("texts", body.get("input"))
            if isinstance(texts, str):
                texts = [texts]
            r = service.embed(texts if texts is not None else [])
            return _response(200, {"dim": service.dim, "vectors": r.vectors.tolist(), "tokens": r.token_counts})
        return _response(404, {"error": f"unknown route {path}; use /similarity, /rank, /embed or /health",
                               "error_type": "validation"})
    except GteError as exc:
        return _response(exc.status_code, exc.to_dict())
    except Exception:  # noqa: BLE001 - a handler must always answer
        log.exception("serverless handler failed")
        return _response(500, {"error": "internal error / 服务器内部错误", "error_type": "backend"})
