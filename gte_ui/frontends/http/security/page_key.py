"""With ``--api-key``: the key (or the page's signed cookie) before Gradio computes anything,
and the page's key prompt."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from gte_ui.core.auth import check_api_key
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings
from gte_ui.frontends.http.security.asgi import (
    Receive,
    Scope,
    Send,
    client_of,
    headers_of,
    read_body,
    refuse,
    replay,
    route_path,
    send_html,
)
from gte_ui.frontends.http.security.rate import RateWindow

log = logging.getLogger(__name__)

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
        path = route_path(scope)
        page = path in PAGE_PATHS
        if not page and not path.startswith(GRADIO_API) and path != UNLOCK:
            await self.app(scope, receive, send)  # REST routes check the key themselves
            return
        headers = headers_of(scope)
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
                await send_html(send, key_prompt_html(), 401)
            else:
                await refuse(scope, send, self._needs_key(refusal))
            return
        if path.startswith(GRADIO_API) and cookie:
            by_index = path.rstrip("/") == QUEUE_JOIN or DIRECT_CALL.match(path)
            if not by_index and not NAMED_API.match(path):
                await self.app(scope, receive, send)
                return
            if by_index and scope["type"] == "http":
                body = await read_body(receive)
                if self._joins_page_event(body):
                    await self.app(scope, replay(body, receive), send)
                    return
        await refuse(scope, send, self._needs_key(refusal))

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
            await send_html(send, key_prompt_html(), 401)
            return
        client = client_of(scope)
        wait = self.wrong_keys.retry_after(client)
        if wait:
            await send_html(send, key_prompt_html(
                f"错误次数过多，请 {wait:.0f} 秒后再试 / Too many wrong keys: try again in {wait:.0f} s"), 429,
                [(b"retry-after", str(int(wait) + 1).encode())])
            return
        body = await read_body(receive)
        key = parse_qs(body.decode("utf-8", "replace")).get("key", [""])[0]
        try:
            check_api_key(self.settings, f"Bearer {key}")
        except GteError:
            self.wrong_keys.take(client)
            log.warning("wrong API key at the page's prompt from %s", client)
            await send_html(send, key_prompt_html("密钥错误 / Wrong key"), 401)
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
        headers = headers_of(scope)
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

