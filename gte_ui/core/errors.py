"""One error type for the whole engine, and one status table at the edge.

Every layer below the HTTP/UI edge raises :class:`GteError` with an :class:`ErrorType`;
the API maps the type to a status code (:data:`HTTP_STATUS`) and the UI shows the message.
Messages are bilingual (Chinese / English) because the UI is.
"""

from __future__ import annotations

import enum
import errno


class ErrorType(str, enum.Enum):
    """What went wrong, in terms a caller can act on."""

    MALFORMED = "malformed"  # a body that is not JSON (or not UTF-8, or not valid base64)
    VALIDATION = "validation"  # wrongly typed or invalid input
    EMPTY = "empty"  # a text that is empty or whitespace only
    TOO_LONG = "too_long"  # a text over the character limit
    TOO_MANY = "too_many"  # too many texts / candidates / matrix rows in one request
    TOO_LARGE = "too_large"  # request body or upload over the byte limit
    MEDIA_TYPE = "media_type"  # a JSON route sent a body that does not say it is JSON
    OVERLOADED = "overloaded"  # the queue is full
    RATE_LIMITED = "rate_limited"  # one client sent too much too fast (uploads, wrong keys)
    DISK_FULL = "disk_full"  # the server's disk (or quota) is full
    UNAUTHORIZED = "unauthorized"  # missing or wrong API key
    MODEL_NOT_FOUND = "model_not_found"  # model id/folder cannot be resolved
    UNKNOWN_MODEL = "unknown_model"  # a request names a model this server has not loaded
    INDEX_NOT_FOUND = "index_not_found"  # a search names an index the index folder does not hold
    MODEL_MISMATCH = "model_mismatch"  # an index built with one model, queried with another
    MODEL_TYPE = "model_type"  # the route needs another kind of model (TEI: /predict on an embedder)
    CONFIG = "config"  # an impossible combination of settings
    BACKEND = "backend"  # the model itself failed


#: HTTP status for each error type (TEI's table: 4xx for the caller's mistakes, 429/503 for load).
HTTP_STATUS: dict[ErrorType, int] = {
    ErrorType.MALFORMED: 400,
    ErrorType.VALIDATION: 422,
    ErrorType.EMPTY: 422,
    ErrorType.TOO_LONG: 413,
    ErrorType.TOO_MANY: 413,
    ErrorType.TOO_LARGE: 413,
    ErrorType.MEDIA_TYPE: 415,
    ErrorType.OVERLOADED: 429,
    ErrorType.RATE_LIMITED: 429,
    ErrorType.DISK_FULL: 507,
    ErrorType.UNAUTHORIZED: 401,
    ErrorType.MODEL_NOT_FOUND: 503,
    ErrorType.UNKNOWN_MODEL: 404,
    ErrorType.INDEX_NOT_FOUND: 404,
    ErrorType.MODEL_MISMATCH: 409,
    ErrorType.MODEL_TYPE: 424,  # TEI's status for a route the loaded model cannot serve
    ErrorType.CONFIG: 500,
    ErrorType.BACKEND: 500,
}


class GteError(Exception):
    """An error with a type and a bilingual, user-facing message.

    Args:
        error_type: what kind of failure this is (decides the HTTP status).
        en: the message in English.
        zh: the message in Chinese; when omitted only English is shown.
    """

    def __init__(self, error_type: ErrorType, en: str, zh: str | None = None) -> None:
        self.error_type = error_type
        self.en = en
        self.zh = zh
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """``"中文 / English"`` when both are given, else the English text."""
        return f"{self.zh} / {self.en}" if self.zh else self.en

    @property
    def status_code(self) -> int:
        return HTTP_STATUS[self.error_type]

    def to_dict(self) -> dict[str, str]:
        return {"error": self.message, "error_type": self.error_type.value}


class ConfigError(GteError):
    """Settings that cannot work together (raised at startup, before serving)."""

    def __init__(self, en: str, zh: str | None = None) -> None:
        super().__init__(ErrorType.CONFIG, en, zh)


class ModelNotFoundError(GteError):
    """The model id or folder could not be resolved or downloaded."""

    def __init__(self, en: str, zh: str | None = None) -> None:
        super().__init__(ErrorType.MODEL_NOT_FOUND, en, zh)


def disk_full(exc: BaseException) -> GteError | None:
    """A full disk (or a full quota) as the one message every front end shows, else None."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return GteError(ErrorType.DISK_FULL, "the server's disk is full; try again later or tell its operator",
                        "服务器磁盘已满，请稍后重试或联系管理员")
    return None
