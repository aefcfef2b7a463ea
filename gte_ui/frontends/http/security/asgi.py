"""The raw ASGI pieces the edge protections share: reading a scope's path, headers and client,
reading and replaying a body, and answering an error before the app sees the request."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from gte_ui.core.errors import GteError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def send_error(send: Send, error: GteError, status: int,
                     extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(error.to_dict(), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close"),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


async def send_html(send: Send, body: bytes, status: int, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), (b"www-authenticate", b"Bearer"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


#: the cookie that opens the page's own Gradio calls; with a key and no --auth it is handed out

def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "?"


def route_path(scope: Scope) -> str:
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


def headers_of(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def refuse(scope: Scope, send: Send, error: GteError, status: int | None = None) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(error.to_dict(), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status or error.status_code,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"www-authenticate", b"Bearer")]})
    await send({"type": "http.response.body", "body": body})

