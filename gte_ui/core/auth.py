"""The API key check, shared by every front end that takes programmatic calls."""

from __future__ import annotations

import hmac

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings


def check_api_key(settings: Settings, authorization: str | None) -> None:
    """Raise UNAUTHORIZED unless ``Authorization: Bearer <key>`` matches ``settings.api_key``.

    Constant-time comparison, so the key cannot be guessed byte by byte from response times.
    """
    if not settings.api_key:
        return
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.api_key.encode()):
        raise GteError(ErrorType.UNAUTHORIZED,
                       "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                       "缺少或错误的 API 密钥：请发送请求头 Authorization: Bearer <key>")
