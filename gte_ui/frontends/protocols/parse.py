"""A parsed JSON body → a request model, for every front end that reads bodies (HTTP, Vertex's
instances): one message for a wrong field, never pydantic's dump."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from gte_ui.core.errors import ErrorType, GteError


def validate(model: type[BaseModel], body: Any) -> Any:
    """``body`` as ``model``, or a 422 naming the first wrong field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise GteError(ErrorType.VALIDATION, f"{where}: {first['msg']}", f"字段 {where} 无效") from exc
