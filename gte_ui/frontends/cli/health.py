"""``health``: ask a running server's ``/health`` (Docker's HEALTHCHECK runs it every 30 s).

Only the standard library: the check stays instant."""

from __future__ import annotations

import json
import urllib.request

from gte_ui.core.settings import parse_settings


def health(url: str | None = None, timeout: float = 4.0) -> tuple[bool, str]:
    """Ask a running server's ``/health``: (ready, what it said).

    Default URL: 127.0.0.1 on the port the server's own settings give (``--port`` /
    ``GRADIO_SERVER_PORT`` / ``GTE_PORT`` / ``PORT``, else 7860).
    """
    if url is None:
        url = f"http://127.0.0.1:{parse_settings([]).port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            body = json.loads(r.read().decode("utf-8"))
    except (OSError, ValueError) as exc:  # URLError, refused, timeout, not JSON
        return False, f"{url}: {exc}"
    status = body.get("status") if isinstance(body, dict) else None
    # the status as the server wrote it (`: ok`); any other body as its repr
    return status == "ok", f"{url}: {status if isinstance(status, str) else repr(body)}"
