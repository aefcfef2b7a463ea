"""Edge protections: request-body cap, Host and CORS allow-lists, API key (and the page's key
prompt), upload quotas, malformed Gradio calls, full disks, UI login, start-up warnings.

Off by default for local use; everything is a setting. Nothing here touches the model.
docs/security.md says what each setting protects. One module per protection: :mod:`.edge`
(body cap, hosts, full disk), :mod:`.page_key` (the key before Gradio, the key prompt),
:mod:`.uploads` (upload quotas, Gradio call checks), :mod:`.rate`, :mod:`.asgi`; this module
installs them in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.middleware.cors import CORSMiddleware

from gte_ui.core.settings import Settings
from gte_ui.frontends.http.security.edge import (
    BodySizeLimit,
    HostGuard,
    disk_full_response,
)
from gte_ui.frontends.http.security.page_key import (
    PAGE_COOKIE,
    UNLOCK,
    UNLOCK_TRIES_PER_MINUTE,
    GradioApiGuard,
    key_prompt_html,
)
from gte_ui.frontends.http.security.rate import RateWindow
from gte_ui.frontends.http.security.uploads import (
    GradioCallCheck,
    UploadQuota,
    folder_bytes,
)

#: what callers (server.py, launch.py, the tests, bench/) reach through ``security.NAME``
__all__ = ["PAGE_COOKIE", "UNLOCK", "UNLOCK_TRIES_PER_MINUTE", "BodySizeLimit", "GradioApiGuard", "GradioCallCheck",
           "HostGuard", "RateWindow", "UploadQuota", "disk_full_response", "folder_bytes", "gradio_auth", "install",
           "key_prompt_html", "startup_warnings"]


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

