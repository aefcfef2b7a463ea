"""Edge protections: request-body cap, Host and CORS allow-lists, API key (and the page's key
prompt), upload quotas, malformed Gradio calls, full disks, UI login, start-up warnings.

Off by default for local use; everything is a setting. Nothing here touches the model.
docs/security.md says what each setting protects.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import html
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import anyio
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse

from gte_ui.core.auth import check_api_key
from gte_ui.core.errors import ErrorType, GteError, disk_full
from gte_ui.core.settings import Settings
from gte_ui.core.textfiles import uploaded_file

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


async def _send_error(send: Send, error: GteError, status: int,
                      extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(error.to_dict(), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close"),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


async def _send_html(send: Send, body: bytes, status: int, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), (b"www-authenticate", b"Bearer"), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


#: the cookie that opens the page's own Gradio calls; with a key and no --auth it is handed out
#: only for the key (:data:`UNLOCK`), with --auth together with the page (Gradio's login gates it)
PAGE_COOKIE = "gte_page"
#: where the key prompt posts the key (a form field ``key``) to get the page cookie
UNLOCK = "/unlock"
#: the page itself: its HTML and Gradio's /config (layout, versions), closed without the key
PAGE_PATHS = frozenset({"/", "/config", "/config/"})
#: Gradio's API routes (``gr.mount_gradio_app`` puts them all under this prefix)
GRADIO_API = "/gradio_api/"
#: Gradio routes that call an endpoint by name, or serve tools to MCP clients: the page never
#: uses them, so only the key opens them
NAMED_API = re.compile(r"^/gradio_api/(call|run|api|mcp)(/|$)")
QUEUE_JOIN = "/gradio_api/queue/join"
#: the page's events that skip the queue (``queue=False``) post their ``fn_index`` here; Gradio
#: runs that event whatever the name in the path
DIRECT_CALL = re.compile(r"^/gradio_api/(run|api)/[^/]+/?$")
UPLOAD = "/gradio_api/upload"
#: wrong keys one client may try per minute at the prompt before it gets 429
UNLOCK_TRIES_PER_MINUTE = 10


class GradioApiGuard:
    """With ``--api-key``: nothing computes for a caller who has not shown the key.

    Gradio serves the page's events and its named endpoints through the same routes
    (``queue/join``, ``call/<name>``, ``upload``, ``file=…``), and ``gradio_client`` speaks the same
    protocol as the page. So:

    * ``Authorization: Bearer <key>`` opens everything (``gradio_client``:
      ``Client(url, headers={"Authorization": "Bearer <key>"})``);
    * without ``--auth``, the page (``/``, ``/config``) answers a key prompt (401): the browser
      posts the key to :data:`UNLOCK` and gets a signed cookie (HMAC of an issue time and a nonce,
      under a secret derived from the key), which it sends back on every same-origin request;
      with ``--auth``, Gradio's login gates the page and the cookie comes with its HTML;
    * the cookie opens the page's own events (``api_visibility`` private/undocumented, by
      ``fn_index`` in ``queue/join``, or in ``run/…`` for events that skip the queue), uploads,
      file downloads and the queue's streams, never the named endpoints (``/similarity``, ``/rank``, ``/embed``: ``call``, ``run``, ``api``, ``mcp``,
      or ``queue/join`` with their ``fn_index``);
    * anything else under ``/gradio_api/`` is a 401 before Gradio sees it.
    """

    def __init__(self, app: Callable, settings: Settings, page_event: Callable[[int], bool],
                 max_age_s: int = 12 * 3600) -> None:
        self.app = app
        self.settings = settings
        self.page_event = page_event
        self.max_age_s = max_age_s
        # with --auth, Gradio's login is the page's credential; else the key is
        self.key_prompt = not settings.auth
        self.wrong_keys = RateWindow(UNLOCK_TRIES_PER_MINUTE, 60.0)
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
        page = path in PAGE_PATHS
        if not page and not path.startswith(GRADIO_API) and path != UNLOCK:
            await self.app(scope, receive, send)  # REST routes check the key themselves
            return
        headers = _headers(scope)
        try:
            check_api_key(self.settings, headers.get("authorization"))
            refusal = None
        except GteError as no_key:
            refusal = no_key
        if path == UNLOCK and self.key_prompt and scope["type"] == "http":
            await self._unlock(scope, receive, send)
            return
        if refusal is None:
            await self.app(scope, receive, send)
            return
        cookie = self._has_page_cookie(headers)
        if page:
            if not self.key_prompt:  # Gradio's login gates the page; the cookie comes with it
                await self.app(scope, receive, self._with_cookie(scope, send) if path == "/" else send)
            elif cookie:
                await self.app(scope, receive, send)
            elif path == "/" and scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
                await _send_html(send, key_prompt_html(), 401)
            else:
                await _refuse(scope, send, self._needs_key(refusal))
            return
        if path.startswith(GRADIO_API) and cookie:
            by_index = path.rstrip("/") == QUEUE_JOIN or DIRECT_CALL.match(path)
            if not by_index and not NAMED_API.match(path):
                await self.app(scope, receive, send)
                return
            if by_index and scope["type"] == "http":
                body = await _read_body(receive)
                if self._joins_page_event(body):
                    await self.app(scope, _replay(body, receive), send)
                    return
        await _refuse(scope, send, self._needs_key(refusal))

    @staticmethod
    def _needs_key(refusal: GteError) -> GteError:
        return GteError(
            ErrorType.UNAUTHORIZED,
            f"{refusal.en}. Gradio's API needs it too: gradio_client.Client(url, headers="
            '{"Authorization": "Bearer <key>"}); a browser enters it on the page',
            f"{refusal.zh}。Gradio 接口同样需要该密钥；浏览器请在页面上输入")

    async def _unlock(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The key prompt's form: the right key gets the page cookie and goes back to the page."""
        if scope["method"] != "POST":
            await _send_html(send, key_prompt_html(), 401)
            return
        client = _client(scope)
        wait = self.wrong_keys.retry_after(client)
        if wait:
            await _send_html(send, key_prompt_html(
                f"错误次数过多，请 {wait:.0f} 秒后再试 / Too many wrong keys: try again in {wait:.0f} s"), 429,
                [(b"retry-after", str(int(wait) + 1).encode())])
            return
        body = await _read_body(receive)
        key = parse_qs(body.decode("utf-8", "replace")).get("key", [""])[0]
        try:
            check_api_key(self.settings, f"Bearer {key}")
        except GteError:
            self.wrong_keys.take(client)
            log.warning("wrong API key at the page's prompt from %s", client)
            await _send_html(send, key_prompt_html("密钥错误 / Wrong key"), 401)
            return
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", b"./"), (b"set-cookie", self._cookie(scope)),
                                (b"content-length", b"0"), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})

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

    def _cookie(self, scope: Scope) -> bytes:
        headers = _headers(scope)
        https = scope.get("scheme") == "https" or headers.get("x-forwarded-proto", "").startswith("https")
        # over https (Spaces shows the app in a cross-site iframe) the cookie must be SameSite=None
        same_site = "None; Secure" if https else "Lax"
        return (f"{PAGE_COOKIE}={self.page_token()}; Path=/; Max-Age={self.max_age_s}; HttpOnly; "
                f"SameSite={same_site}").encode("latin-1")

    def _with_cookie(self, scope: Scope, send: Send) -> Send:
        cookie = self._cookie(scope)

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 200:
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        return send_with_cookie


def key_prompt_html(error: str = "") -> bytes:
    """The page a browser gets instead of the UI on a server with a key and no login."""
    notice = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>GTE 相似度工作台 · API key</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;max-width:28rem;margin:12vh auto;padding:0 1rem}}
input,button{{font-size:1rem;padding:.45rem;margin-top:.4rem}}input{{width:100%;box-sizing:border-box}}
.error{{color:#b00020}}</style></head>
<body><main><h1>GTE 相似度工作台</h1>
<p>此服务器需要 API 密钥才能使用。<br>This server needs its API key before it computes anything.</p>
{notice}<form method="post" action="unlock" id="key-form">
<label for="key">API 密钥 key</label>
<input type="password" id="key" name="key" autocomplete="current-password" required autofocus>
<button type="submit">进入 Enter</button></form></main></body></html>""".encode()


class RateWindow:
    """At most ``limit`` units per client in any ``window_s`` seconds (a sliding log per client)."""

    def __init__(self, limit: float, window_s: float, max_clients: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._log: dict[str, collections.deque[tuple[float, float]]] = {}

    def retry_after(self, client: str, amount: float = 1.0, now: float | None = None) -> float:
        """Seconds until ``amount`` more fits for ``client`` (0: it fits now)."""
        now = time.monotonic() if now is None else now
        entries = self._entries(client, now)
        used = sum(a for _, a in entries)
        if used + amount <= self.limit:
            return 0.0
        if amount > self.limit:
            return self.window_s
        for t, a in entries:  # the oldest entries leave the window first
            used -= a
            if used + amount <= self.limit:
                return max(t + self.window_s - now, 0.001)
        return self.window_s

    def take(self, client: str, amount: float = 1.0, now: float | None = None) -> float:
        """Count ``amount`` for ``client`` when it fits: 0, else the seconds to wait (nothing counted)."""
        now = time.monotonic() if now is None else now
        wait = self.retry_after(client, amount, now)
        if not wait:
            if client not in self._log and len(self._log) >= self.max_clients:
                self._prune(now)
            self._log.setdefault(client, collections.deque()).append((now, amount))
        return wait

    def _entries(self, client: str, now: float) -> collections.deque[tuple[float, float]]:
        entries = self._log.get(client, collections.deque())
        while entries and entries[0][0] <= now - self.window_s:
            entries.popleft()
        if not entries:
            self._log.pop(client, None)
        return entries

    def _prune(self, now: float) -> None:
        for client in list(self._log):
            self._entries(client, now)
        while len(self._log) >= self.max_clients:  # still full: forget the quietest first
            self._log.pop(next(iter(self._log)))


class UploadQuota:
    """Caps on Gradio's ``/gradio_api/upload`` beyond the per-file size: uploads per client per
    minute, bytes per client per hour, and the size of Gradio's upload folder (uploads and
    downloads, swept hourly) for everyone. A client is its address (behind a proxy, have it pass
    the real one: uvicorn ``--forwarded-allow-ips``)."""

    def __init__(self, app: Callable, settings: Settings, folder: Callable[[], str]) -> None:
        self.app = app
        self.settings = settings
        self.folder = folder
        self.rate = RateWindow(settings.max_uploads_per_minute, 60.0)
        self.volume = RateWindow(settings.max_upload_client_bytes, 3600.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and _route_path(scope).rstrip("/") == UPLOAD:
            refusal = await self._refusal(scope)
            if refusal is not None:
                error, status, wait = refusal
                extra = [(b"retry-after", str(int(wait) + 1).encode())] if wait else []
                await _send_error(send, error, status, extra)
                return
        await self.app(scope, receive, send)

    async def _refusal(self, scope: Scope) -> tuple[GteError, int, float] | None:
        s = self.settings
        try:
            length = int(_headers(scope)["content-length"])
        except (KeyError, ValueError):
            return GteError(ErrorType.MALFORMED, "an upload must say its size (Content-Length)",
                            "上传请求必须带 Content-Length"), 411, 0.0
        used = await anyio.to_thread.run_sync(folder_bytes, self.folder())
        if used + length > s.max_upload_total_bytes:
            log.warning("upload refused: the upload folder holds %d bytes (cap %d)", used, s.max_upload_total_bytes)
            return GteError(ErrorType.DISK_FULL, "the server's upload space is full; try again later",
                            "服务器的上传空间已满，请稍后再试"), 507, 0.0
        client = _client(scope)
        wait = self.rate.take(client)
        if wait:
            return GteError(ErrorType.RATE_LIMITED,
                            f"more than {s.max_uploads_per_minute} uploads in a minute; retry in {wait:.0f} s",
                            f"一分钟内上传超过 {s.max_uploads_per_minute} 次，请 {wait:.0f} 秒后再试"), 429, wait
        wait = self.volume.take(client, length)
        if wait:
            return GteError(ErrorType.RATE_LIMITED,
                            f"this upload would take you over {s.max_upload_client_bytes:,} bytes in an hour; "
                            f"retry in {wait:.0f} s",
                            f"一小时内上传将超过 {s.max_upload_client_bytes:,} 字节，请 {wait:.0f} 秒后再试"), 429, wait
        return None


def folder_bytes(folder: str) -> int:
    """Bytes of the files under ``folder`` (0 when it does not exist yet)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # swept meanwhile
                continue
    return total


class GradioCallCheck:
    """Calls to Gradio's event routes are checked at the door and answer 4xx, not 500 from
    inside Gradio: a ``fn_index`` or endpoint name the page does not have, ``data`` of the wrong
    length, or a file (FileData) that is not an upload of this server (a server path or a URL the
    server would fetch): the page only ever sends files it uploaded first."""

    def __init__(self, app: Callable, blocks: Any, upload_folder: Callable[[], str]) -> None:
        self.app = app
        self.blocks = blocks
        self.upload_folder = upload_folder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope).rstrip("/")
        if scope["type"] == "http" and FILE_URL.match(path):
            # Gradio's file route would fetch any public URL for anyone; the page never asks it to
            await _send_error(send, GteError(ErrorType.VALIDATION, "only this server's own files are served here",
                                             "这里只提供本服务器自己的文件"), 404)
            return
        named = NAMED_CALL.match(path)
        if scope["type"] != "http" or scope["method"] != "POST" or (path != QUEUE_JOIN and not named):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        error = self._check(body, named)
        if error is not None:
            await _send_error(send, error, error.status_code)
            return
        await self.app(scope, _replay(body, receive), send)

    def _check(self, body: bytes, named: re.Match | None) -> GteError | None:
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):
            return None  # Gradio answers a body that is not JSON with its own 422
        if not isinstance(request, dict):
            return None
        fns = self.blocks.fns
        fn_index = request.get("fn_index")
        by_index = isinstance(fn_index, int) and not isinstance(fn_index, bool)
        if fn_index is not None and not by_index and not (named and named["v2"]):
            # Gradio would read "4" or 4.0 as event 4: refused here, so no check is skipped
            return GteError(ErrorType.VALIDATION, "fn_index must be a whole number", "fn_index 必须是整数")
        if by_index and not (named and named["v2"]):  # as Gradio: a given fn_index wins over the name
            fn = fns.get(fn_index)
            if fn is None:
                return GteError(ErrorType.VALIDATION, f"fn_index {fn_index} is not an event of this page",
                                f"fn_index {fn_index} 不是本页面的事件")
        elif named and fn_index is None:
            fn = next((f for f in fns.values() if f.api_name == named["name"]), None)
            if fn is None:
                return GteError(ErrorType.VALIDATION, f"no endpoint named /{named['name']}",
                                f"没有名为 /{named['name']} 的接口")
        else:
            return None  # no fn_index and no name: Gradio's own validation answers 422
        data = request if named and named["v2"] else request.get("data")  # v2: parameters by name
        if isinstance(data, list) and len(data) != len(fn.inputs):
            return GteError(ErrorType.VALIDATION, f"{fn.api_name or fn.name} takes {len(fn.inputs)} values, "
                            f"got {len(data)}", f"{fn.api_name or fn.name} 需要 {len(fn.inputs)} 个值，收到 {len(data)} 个")
        folders = [self.upload_folder()]
        for path in _file_paths(data):
            try:
                uploaded_file(path, folders)
            except GteError as refusal:
                return refusal
        return None


def _file_paths(data: Any) -> list[Any]:
    """The ``path`` of every FileData (``meta._type == "gradio.FileData"``) inside a call's data."""
    paths, stack = [], [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            meta = item.get("meta")
            if isinstance(meta, dict) and meta.get("_type") == "gradio.FileData":
                paths.append(item.get("path"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return paths


#: Gradio's file route given a URL (``file=https://…``) instead of a server file
FILE_URL = re.compile(r"^/gradio_api/file=[A-Za-z][A-Za-z0-9+.-]*:")
#: Gradio's routes that call an endpoint by name (``call/v2`` takes parameters by name)
NAMED_CALL = re.compile(r"^/gradio_api/(?:call|run|api)/(?P<v2>v2/)?(?P<name>[^/]+)$")


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
            headers = _headers(scope)
            hosts = [headers.get("host", "")] + [h for h in headers.get("x-forwarded-host", "").split(",") if h.strip()]
            if not all(self.allows(h) for h in hosts):
                await _refuse(scope, send, GteError(
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


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "?"


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


async def _refuse(scope: Scope, send: Send, error: GteError, status: int | None = None) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps(error.to_dict(), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status or error.status_code,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"www-authenticate", b"Bearer")]})
    await send({"type": "http.response.body", "body": body})


def gradio_auth(settings: Settings) -> tuple[str, str] | None:
    """``--auth user:pass`` as the (user, password) pair Gradio's login page takes."""
    if not settings.auth:
        return None
    user, _, password = settings.auth.partition(":")
    return (user, password)


def install(app: Any, settings: Settings, page_event: Callable[[int], bool] | None = None,
            blocks: Any = None, upload_folder: Callable[[], str] | None = None) -> None:
    """Add the edge protections to a FastAPI app, outermost first: Host allow-list (only with
    ``--allowed-hosts``), body cap, CORS (always: an empty list grants no origin, and Gradio's own
    CORS, which would grant any localhost origin, stands aside when the parent app has one),
    :class:`GradioApiGuard` (only with a key), the upload quotas and :class:`GradioCallCheck`;
    and a full disk's 507.

    ``page_event(fn_index)``: whether the mounted Gradio page's event ``fn_index`` is one of the
    page's own (not a named API endpoint); without it the page cookie opens no event. ``blocks``
    (the page) with ``upload_folder`` (Gradio's) enables the call check; ``upload_folder`` alone the
    upload quotas.
    """
    if blocks is not None and upload_folder is not None:  # innermost: after the key check
        app.add_middleware(GradioCallCheck, blocks=blocks, upload_folder=upload_folder)
    if upload_folder is not None:
        app.add_middleware(UploadQuota, settings=settings, folder=upload_folder)
    if settings.api_key:  # its 401s get CORS headers, its body reads are capped
        app.add_middleware(GradioApiGuard, settings=settings, page_event=page_event or (lambda _: False))
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                       allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type"], allow_credentials=False)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.allowed_hosts:
        app.add_middleware(HostGuard, allowed_hosts=settings.allowed_hosts)
    app.add_exception_handler(OSError, disk_full_response)


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
