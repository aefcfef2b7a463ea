"""Edge protections: request-body cap, CORS allow-list, API key, UI login, start-up warnings.

Off by default for local use; everything is a setting. Nothing here touches the model.
docs/security.md says what each setting protects.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any

from gte_ui.core.auth import check_api_key
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


#: the cookie the page gets with its HTML; Gradio's own API takes it instead of the key
PAGE_COOKIE = "gte_page"
#: Gradio's API routes (``gr.mount_gradio_app`` puts them all under this prefix)
GRADIO_API = "/gradio_api/"
#: Gradio routes that call an endpoint by name, or serve tools to MCP clients: the page never
#: uses them, so only the key opens them
NAMED_API = re.compile(r"^/gradio_api/(call|run|api|mcp)(/|$)")
QUEUE_JOIN = "/gradio_api/queue/join"


class GradioApiGuard:
    """With ``--api-key``: Gradio's API (``/gradio_api/*``) answers only callers with the key or
    the page's own requests.

    Gradio serves the page's events and its named endpoints through the same routes
    (``queue/join``, ``call/<name>``, ``upload``, ``file=…``), and ``gradio_client`` speaks the same
    protocol as the page. What tells them apart is not guessable from outside: the HTML of ``/``
    comes with a signed cookie (HMAC of an issue time and a nonce, under a secret derived from the
    key), which the browser sends back on every same-origin request and a bare API client does
    not have. So:

    * ``Authorization: Bearer <key>`` opens everything (``gradio_client``:
      ``Client(url, headers={"Authorization": "Bearer <key>"})``);
    * the page cookie opens the page's own events (``api_visibility`` private/undocumented, by
      ``fn_index`` in ``queue/join``), uploads, file downloads and the queue's streams, never the
      named endpoints (``/similarity``, ``/rank``, ``/embed``: ``call``, ``run``, ``api``, ``mcp``,
      or ``queue/join`` with their ``fn_index``);
    * anything else under ``/gradio_api/`` is a 401 before Gradio sees it.

    Anyone who can open the page can still compute through it, as a browser does: that is what an
    open UI means, and ``--auth`` (Gradio's login, checked by Gradio on the same routes) closes it.
    """

    def __init__(self, app: Callable, settings: Settings, page_event: Callable[[int], bool],
                 max_age_s: int = 12 * 3600) -> None:
        self.app = app
        self.settings = settings
        self.page_event = page_event
        self.max_age_s = max_age_s
        # Derived from the key, so replicas sharing a key accept each other's pages and a restart
        # does not break open tabs; never the key itself, which the cookie must not reveal.
        self._secret = hmac.new(settings.api_key.encode(), b"gte-ui page cookie v1", hashlib.sha256).digest()

    def page_token(self, issued: int | None = None) -> str:
        issued = int(time.time()) if issued is None else issued
        payload = f"{issued}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._sign(payload)}"

    def valid_page_token(self, token: str) -> bool:
        payload, _, signature = token.rpartition(".")
        issued, _, _nonce = payload.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(signature.encode("utf-8", "replace"),
                                                           self._sign(payload).encode()):
            return False
        return 0 <= time.time() - int(issued) <= self.max_age_s

    def _sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and path == "/":
            await self.app(scope, receive, self._with_cookie(scope, send))
            return
        if not path.startswith(GRADIO_API):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            check_api_key(self.settings, headers.get("authorization"))
            refusal = None
        except GteError as no_key:
            refusal = no_key
        if refusal is None:
            await self.app(scope, receive, send)
            return
        if not NAMED_API.match(path) and self._has_page_cookie(headers):
            if path.rstrip("/") != QUEUE_JOIN or scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            body = await _read_body(receive)
            if self._joins_page_event(body):
                await self.app(scope, _replay(body, receive), send)
                return
        await _refuse(scope, send, GteError(
            ErrorType.UNAUTHORIZED,
            f"{refusal.en}. Gradio's API needs it too: gradio_client.Client(url, headers="
            '{"Authorization": "Bearer <key>"})',
            f"{refusal.zh}。Gradio 接口同样需要该密钥"))

    def _has_page_cookie(self, headers: dict[str, str]) -> bool:
        try:
            cookie = SimpleCookie(headers.get("cookie", ""))
        except CookieError:
            return False
        morsel = cookie.get(PAGE_COOKIE)
        return morsel is not None and self.valid_page_token(morsel.value)

    def _joins_page_event(self, body: bytes) -> bool:
        try:
            fn_index = json.loads(body).get("fn_index")
        except (ValueError, AttributeError, RecursionError):
            return False
        return isinstance(fn_index, int) and not isinstance(fn_index, bool) and self.page_event(fn_index)

    def _with_cookie(self, scope: Scope, send: Send) -> Send:
        headers = _headers(scope)
        https = scope.get("scheme") == "https" or headers.get("x-forwarded-proto", "").startswith("https")
        # over https (Spaces shows the app in a cross-site iframe) the cookie must be SameSite=None
        same_site = "None; Secure" if https else "Lax"
        cookie = (f"{PAGE_COOKIE}={self.page_token()}; Path=/; Max-Age={self.max_age_s}; HttpOnly; "
                  f"SameSite={same_site}").encode("latin-1")

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 200:
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        return send_with_cookie


def _route_path(scope: Scope) -> str:
    path, root = scope.get("path", ""), scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root):] or "/"
    return path


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(scope: Scope, send: Send, error: GteError) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(error.to_dict(), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": error.status_code,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"www-authenticate", b"Bearer")]})
    await send({"type": "http.response.body", "body": body})


def gradio_auth(settings: Settings) -> tuple[str, str] | None:
    """``--auth user:pass`` as the (user, password) pair Gradio's login page takes."""
    if not settings.auth:
        return None
    user, _, password = settings.auth.partition(":")
    return (user, password)


def install(app: Any, settings: Settings, page_event: Callable[[int], bool] | None = None) -> None:
    """Add the body cap, (only when origins are configured) CORS and (only with an API key)
    :class:`GradioApiGuard` to a FastAPI app.

    ``page_event(fn_index)``: whether the mounted Gradio page's event ``fn_index`` is one of the
    page's own (not a named API endpoint); without it the page cookie opens no event.
    """
    if settings.api_key:  # innermost: its 401s get CORS headers, its body reads are capped
        app.add_middleware(GradioApiGuard, settings=settings, page_event=page_event or (lambda _: False))
    if settings.cors_origins:
        # only when CORS origins are configured
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
    if settings.api_key and not settings.auth:
        warnings.append(
            "--api-key guards the REST routes and Gradio's API (gradio_client, /gradio_api/call/...), "
            "but the web UI is open: anyone who can load the page can compute through it. Add "
            "--auth user:pass (GTE_AUTH) to put a login in front of the page too.")
    if "*" in settings.cors_origins:
        warnings.append("--cors-origins '*' lets any web page call this API from a browser.")
    return warnings
