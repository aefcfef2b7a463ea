"""Edge protections: request-body cap, CORS allow-list, API key, UI login, start-up warnings.

Off by default for local use; everything is a setting. Nothing here touches the model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gte_ui.core.settings import Settings
from gte_ui.core.errors import ErrorType, GteError

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


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
                await _send_error(send, GteError(ErrorType.VALIDATION, "invalid Content-Length header",
                                                 "Content-Length 请求头无效"), 400)
                return
            if too_big:
                await _send_error(send, self._error(int(declared)), 413)
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
                await _send_error(send, self._error(exc.size), 413)

    def _error(self, size: int) -> GteError:
        return GteError(ErrorType.TOO_LARGE,
                        f"request body of {size:,} bytes is over the limit of {self.max_bytes:,} bytes",
                        f"请求体 {size:,} 字节，超过上限 {self.max_bytes:,} 字节")


class _BodyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def _send_error(send: Send, error: GteError, status: int) -> None:
    body = json.dumps(error.to_dict(), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def gradio_auth(settings: Settings) -> tuple[str, str] | None:
    """``--auth user:pass`` as the (user, password) pair Gradio's login page takes."""
    if not settings.auth:
        return None
    user, _, password = settings.auth.partition(":")
    return (user, password)


def install(app: Any, settings: Settings) -> None:
    """Add the body cap and (only when origins are configured) CORS to a FastAPI app."""
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type"], allow_credentials=False)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)


def startup_warnings(settings: Settings) -> list[str]:
    """Warnings worth printing at start: an open server on every interface, say."""
    warnings = []
    if settings.host in ("0.0.0.0", "::") and not settings.auth and not settings.api_key:
        warnings.append(
            f"listening on {settings.host} with neither --auth nor --api-key: anyone who can reach "
            "this machine can use the UI and the API. Set GTE_AUTH=user:pass and/or GTE_API_KEY.")
    if "*" in settings.cors_origins:
        warnings.append("--cors-origins '*' lets any web page call this API from a browser.")
    return warnings
