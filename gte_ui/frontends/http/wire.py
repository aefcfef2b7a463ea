"""HTTP's side of a protocol answer: read a JSON body, send an :class:`Answer`, document a body
that a route parses itself (OpenAPI)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gte_ui.core.jsonbody import check_json_media_type, parse_json
from gte_ui.frontends.protocols.common import Answer


async def read_json(request: Request) -> Any:
    """The request body as JSON, or a 400/415/422 that says what is wrong with it."""
    check_json_media_type(request.headers.get("content-type"))
    return parse_json(await request.body())


def respond(answer: Answer) -> Any:
    """The body as is when there are no headers to send (FastAPI serialises it), else a JSONResponse."""
    return JSONResponse(answer.body, headers=answer.headers) if answer.headers else answer.body


def body_doc(*models: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI request-body entry for routes that parse their own body."""
    schemas = [inline_defs(m.model_json_schema()) for m in models]
    schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its nested models written in place. Its ``$defs`` would be
    dangling ``$ref``s in the OpenAPI document (ReDoc stops at "Invalid reference token")."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.split("/")[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)
