"""Gradio's uploads and event calls, checked at the door: per-client upload quotas and a cap on
the upload folder; a call naming an event the page lacks, data of the wrong length or a file that
is not this server's upload answers 4xx instead of a 500 from inside Gradio."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any

import anyio

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings
from gte_ui.core.textfiles import uploaded_file
from gte_ui.frontends.http.security import asgi
from gte_ui.frontends.http.security.page_key import QUEUE_JOIN, UPLOAD
from gte_ui.frontends.http.security.rate import RateWindow

log = logging.getLogger(__name__)


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

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and asgi.route_path(scope).rstrip("/") == UPLOAD:
            refusal = await self._refusal(scope)
            if refusal is not None:
                error, status, wait = refusal
                extra = [(b"retry-after", str(int(wait) + 1).encode())] if wait else []
                await asgi.send_error(send, error, status, extra)
                return
        await self.app(scope, receive, send)

    async def _refusal(self, scope: asgi.Scope) -> tuple[GteError, int, float] | None:
        s = self.settings
        try:
            length = int(asgi.headers_of(scope)["content-length"])
        except (KeyError, ValueError):
            return GteError(ErrorType.MALFORMED, "an upload must say its size (Content-Length)",
                            "上传请求必须带 Content-Length"), 411, 0.0
        used = await anyio.to_thread.run_sync(folder_bytes, self.folder())
        if used + length > s.max_upload_total_bytes:
            log.warning("upload refused: the upload folder holds %d bytes (cap %d)", used, s.max_upload_total_bytes)
            return GteError(ErrorType.DISK_FULL, "the server's upload space is full; try again later",
                            "服务器的上传空间已满，请稍后再试"), 507, 0.0
        client = asgi.client_of(scope)
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

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        path = asgi.route_path(scope).rstrip("/")
        if scope["type"] == "http" and FILE_URL.match(path):
            # Gradio's file route would fetch any public URL for anyone; the page never asks it to
            await asgi.send_error(send, GteError(ErrorType.VALIDATION, "only this server's own files are served here",
                                            "这里只提供本服务器自己的文件"), 404)
            return
        named = NAMED_CALL.match(path)
        if scope["type"] != "http" or scope["method"] != "POST" or (path != QUEUE_JOIN and not named):
            await self.app(scope, receive, send)
            return
        body = await asgi.read_body(receive)
        error = self._check(body, named)
        if error is not None:
            await asgi.send_error(send, error, error.status_code)
            return
        await self.app(scope, asgi.replay(body, receive), send)

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

