"""Protections in front of every route: the request-body cap, the ``Host`` allow-list, and a
full disk's 507."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse

from gte_ui.core.errors import ErrorType, GteError, disk_full
from gte_ui.frontends.http.security.asgi import (
    Receive,
    Scope,
    Send,
    headers_of,
    refuse,
    send_error,
)

log = logging.getLogger(__name__)


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 before they are read into memory.

    Checks ``Content-Length`` first, then counts streamed (chunked) bodies as they arrive, so a
    client that lies about or omits the length is cut off too.
    """

    def __init__(self, app: Callable, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await send_error(send, GteError(ErrorType.VALIDATION, "invalid Content-Length header",
                                                "Content-Length 请求头无效"), 400)
                return
            if too_big:
                await send_error(send, self._error(int(declared)), 413)
                return

        received = 0
        response_started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(received)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge as exc:
            if not response_started:
                await send_error(send, self._error(exc.size), 413)

    def _error(self, size: int) -> GteError:
        return GteError(ErrorType.TOO_LARGE,
                        f"request body of {size:,} bytes is over the limit of {self.max_bytes:,} bytes",
                        f"请求体 {size:,} 字节，超过上限 {self.max_bytes:,} 字节")


class _BodyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


class HostGuard:
    """``--allowed-hosts``: a ``Host`` (or ``X-Forwarded-Host``) outside the list gets 400, so a
    DNS-rebinding page cannot reach the server under its own name, and nothing that echoes the
    host (Gradio's /config ``root``, the About tab's snippet) shows a name the operator did not list.
    ``*.example.org`` allows the subdomains of example.org."""

    def __init__(self, app: Callable, allowed_hosts: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = tuple(h.lower() for h in allowed_hosts)

    def allows(self, host: str) -> bool:
        name = _host_name(host)
        return any(name == h or h == "*" or (h.startswith("*.") and name.endswith(h[1:])) for h in self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = headers_of(scope)
            hosts = [headers.get("host", "")] + [h for h in headers.get("x-forwarded-host", "").split(",") if h.strip()]
            if not all(self.allows(h) for h in hosts):
                await refuse(scope, send, GteError(
                    ErrorType.MALFORMED, "this server does not answer to that host name (--allowed-hosts)",
                    "此服务器不响应该主机名（--allowed-hosts）"), status=400)
                return
        await self.app(scope, receive, send)


async def disk_full_response(request: Any, exc: Exception) -> JSONResponse:
    """Exception handler: a full disk answers 507 with the one message; anything else goes on
    to the 500 it would have been."""
    error = disk_full(exc)
    if error is None:
        raise exc
    log.error("disk full answering %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(error.to_dict(), status_code=error.status_code)


def _host_name(host: str) -> str:
    """``Host`` without its port: ``a.example:8080`` → ``a.example``, ``[::1]:80`` → ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.partition(":")[0] if host.count(":") == 1 else host

