"""The raw ASGI helpers the protections share."""

from __future__ import annotations

import asyncio
import json

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.http.security.asgi import client_of, headers_of, read_body, refuse, replay, route_path


def test_scope_readers():
    scope = {"path": "/app/gradio_api/upload", "root_path": "/app", "client": ("10.0.0.1", 5000),
             "headers": [(b"Content-Length", b"3"), (b"HOST", b"box")]}
    assert route_path(scope) == "/gradio_api/upload" and route_path({"path": "/x"}) == "/x"
    assert headers_of(scope) == {"content-length": "3", "host": "box"}
    assert client_of(scope) == "10.0.0.1" and client_of({}) == "?"


def test_a_body_read_at_the_door_is_replayed_once_to_the_app():
    messages = [{"type": "http.request", "body": b'{"a":', "more_body": True},
                {"type": "http.request", "body": b" 1}", "more_body": False},
                {"type": "http.disconnect"}]

    async def receive():
        return messages.pop(0)

    async def run():
        body = await read_body(receive)
        again = replay(body, receive)
        return body, await again(), await again()

    body, first, then = asyncio.run(run())
    assert body == b'{"a": 1}' and first == {"type": "http.request", "body": body, "more_body": False}
    assert then == {"type": "http.disconnect"}


def test_refuse_answers_the_errors_status_and_json():
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(refuse({"type": "http"}, send, GteError(ErrorType.UNAUTHORIZED, "key", "密钥")))
    assert sent[0]["status"] == 401 and json.loads(sent[1]["body"])["error_type"] == "unauthorized"
    sent.clear()
    asyncio.run(refuse({"type": "websocket"}, send, GteError(ErrorType.UNAUTHORIZED, "key", "密钥")))
    assert sent == [{"type": "websocket.close", "code": 1008}]
