"""Request bytes → JSON, for every front end that reads a body itself (REST, serverless).

Each failure names what is wrong (``ErrorType.MALFORMED``, 400): not UTF-8, malformed JSON with
its line and column, nesting too deep. An empty body is a 422: the JSON is missing, not broken.
A body that does not say it is JSON (``text/plain``, a form, no Content-Type) is a 415: a browser
sends those cross-origin without asking the server first (a CORS "simple request").
"""

from __future__ import annotations

import json
from typing import Any

from gte_ui.core.errors import ErrorType, GteError


def check_json_media_type(content_type: str | None, *, required: bool = True) -> None:
    """Refuse (415) a body whose Content-Type is not JSON (``application/json`` or ``…+json``, any
    parameters); with ``required=False`` a missing Content-Type passes (a direct function invoke)."""
    if content_type is None or not content_type.strip():
        if required:
            raise GteError(ErrorType.MEDIA_TYPE, "the request has no Content-Type: send the JSON body with "
                           "Content-Type: application/json", "请求缺少 Content-Type：请用 application/json 发送 JSON")
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise GteError(ErrorType.MEDIA_TYPE, f"Content-Type {media[:60]!r} is not JSON: send the body with "
                       "Content-Type: application/json", f"Content-Type {media[:60]!r} 不是 JSON：请用 application/json")


def parse_json(raw: bytes | bytearray | str, what: str = "the request body") -> Any:
    """Decode ``raw`` (UTF-8 bytes or text) as JSON, or raise a :class:`GteError` that says why not."""
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GteError(ErrorType.MALFORMED, f"{what} is not UTF-8 text", f"{_zh(what)}不是 UTF-8 文本") from exc
    if not raw.strip():
        raise GteError(ErrorType.VALIDATION, f"{what} is empty; send JSON", f"{_zh(what)}为空，请发送 JSON")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise GteError(ErrorType.MALFORMED, f"malformed JSON in {what}: {exc.msg} at line {exc.lineno} "
                       f"column {exc.colno}", f"{_zh(what)}的 JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）") from exc
    except RecursionError as exc:
        raise GteError(ErrorType.MALFORMED, f"JSON nested too deeply in {what}", "JSON 嵌套层数过深") from exc


_ZH = {"the request body": "请求体", "the event": "事件"}


def _zh(what: str) -> str:
    return _ZH.get(what, what)
