"""REST routes on the same server and port as the UI.

* ``POST /api/predict`` — the Gradio-3-era shapes the articles use (ranking or a vector);
* ``POST /v1/embeddings``, ``GET /v1/models`` — OpenAI-compatible, for Dify, RAGFlow, LangChain;
* ``POST /similarity`` — the Flask GTE service's ``{sentence_a, sentence_b}`` and TEI's
  ``{"inputs": {"source_sentence", "sentences"}}``; ``POST /embed`` — TEI's embed route;
* ``GET /health`` — readiness for Docker / Spaces probes.

Bodies are parsed here (not by FastAPI) so that malformed or absurdly nested JSON gets a clear
400 instead of a 500. Service calls run in the thread pool: the event loop never blocks, and
concurrent requests meet in the dynamic batcher. Errors: ``{"error", "error_type"}`` everywhere,
OpenAI's envelope under ``/v1``; never a stack trace.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from gte_ui.core.auth import check_api_key
from gte_ui.core.settings import Settings
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.http.shapes import (EmbeddingItem, EmbeddingsRequest, EmbeddingsResponse, PairRequest, PairResponse,
                      TeiEmbedRequest, TeiSimilarityRequest, Usage, parse_legacy)
from gte_ui.core.textnorm import split_lines
from gte_ui.service.service import EmbeddingService

log = logging.getLogger(__name__)


def _body_doc(*models: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI request-body entry for routes that parse their own body."""
    schemas = [m.model_json_schema(ref_template="#/components/schemas/{model}") for m in models]
    schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def read_json(request: Request) -> Any:
    """The request body as JSON, or a 400 that says what is wrong with it."""
    raw = await request.body()
    if not raw.strip():
        raise GteError(ErrorType.VALIDATION, "the request body is empty; send JSON", "请求体为空，请发送 JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadJson("the request body is not UTF-8 text", "请求体不是 UTF-8 文本") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadJson(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                       "JSON 格式错误") from exc
    except RecursionError as exc:
        raise _BadJson("JSON nested too deeply", "JSON 嵌套层数过深") from exc


class _BadJson(GteError):
    """Malformed JSON: 400, unlike other validation errors (422)."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(ErrorType.VALIDATION, en, zh)


def _validate(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise GteError(ErrorType.VALIDATION, f"{where}: {first['msg']}", f"字段 {where} 无效") from exc


def build_router(service: EmbeddingService, settings: Settings) -> APIRouter:

    def require_key(request: Request) -> None:
        check_api_key(settings, request.headers.get("authorization"))

    router = APIRouter(dependencies=[Depends(require_key)])

    @router.post("/api/predict", tags=["legacy"], openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["data"],
            "properties": {"data": {"type": "array", "minItems": 2, "maxItems": 6}}}}}}})
    async def predict(request: Request) -> dict[str, list[float]]:
        """Legacy Gradio-3 route. ``{"data": [source, "c1\\nc2"]}`` → scores in candidate order;
        ``{"data": [text, ""]}`` or ``{"data": [text, "", false, false, false, false]}`` → vector."""
        call = parse_legacy(await read_json(request))
        if call.mode == "rank":
            cands = split_lines(call.candidates)
            result = await run_in_threadpool(service.rank, call.text, cands)
            return {"data": result.scores}
        text = service.check_text(call.text, "text")
        res = await run_in_threadpool(service.embed, [text], what="text")
        return {"data": res.vectors[0].tolist()}

    @router.post("/api/predict/", include_in_schema=False)
    async def predict_slash(request: Request) -> dict[str, list[float]]:
        """Gradio 3 clients also post to the trailing-slash form."""
        return await predict(request)

    @router.post("/v1/embeddings", tags=["openai"], response_model=EmbeddingsResponse,
                 openapi_extra=_body_doc(EmbeddingsRequest))
    async def embeddings(request: Request) -> EmbeddingsResponse:
        """OpenAI-compatible embeddings (float or base64), with real token counts."""
        body = await read_json(request)
        if isinstance(body, dict) and _is_token_input(body.get("input")):
            raise GteError(ErrorType.VALIDATION, "token-id input is not supported: send text (a string "
                           "or a list of strings); LangChain's OpenAIEmbeddings needs "
                           "check_embedding_ctx_length=False for that", "不支持 token id 输入，请发送文本")
        req: EmbeddingsRequest = _validate(EmbeddingsRequest, body)
        texts = [req.input] if isinstance(req.input, str) else req.input
        res = await run_in_threadpool(functools.partial(service.embed, texts, what="input", **req.service_options()))
        items = [EmbeddingItem(index=i, embedding=_encode_vector(v, req.encoding_format))
                 for i, v in enumerate(res.vectors)]
        tokens = res.total_tokens
        return EmbeddingsResponse(data=items, model=service.info.model,
                                  usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
                                  prompt=res.prompt, warnings=res.warnings)

    @router.get("/v1/models", tags=["openai"])
    def models() -> dict[str, Any]:
        """The one model this server answers with."""
        return {"object": "list", "data": [{"id": service.info.model, "object": "model",
                                            "owned_by": "gte-workbench", "dimensions": service.dim}]}

    @router.post("/similarity", tags=["similarity"], openapi_extra=_body_doc(PairRequest, TeiSimilarityRequest))
    async def similarity(request: Request) -> Any:
        """Two shapes, told apart by their keys: ``{"sentence_a", "sentence_b"}`` (the Flask GTE
        service) → one score with verdict; ``{"inputs": {"source_sentence", "sentences"}}`` (TEI)
        → a list of scores in sentence order."""
        body = await read_json(request)
        if isinstance(body, dict) and "inputs" in body and ({"sentence_a", "sentence_b"} & set(body)):
            raise GteError(ErrorType.VALIDATION, 'send either {"sentence_a", "sentence_b"} or '
                           '{"inputs": {"source_sentence", "sentences"}}, not both', "请求体只能是两种格式之一")
        if isinstance(body, dict) and "inputs" in body:
            req: TeiSimilarityRequest = _validate(TeiSimilarityRequest, body)
            result = await run_in_threadpool(functools.partial(
                service.rank, req.inputs.source_sentence, req.inputs.sentences, **req.service_options()))
            return _with_prompt(result.scores, result.prompt)
        pair: PairRequest = _validate(PairRequest, body)
        r = await run_in_threadpool(functools.partial(service.pair, pair.sentence_a, pair.sentence_b,
                                                      **pair.service_options()))
        return PairResponse(sentence_a=pair.sentence_a, sentence_b=pair.sentence_b, similarity=r.score,
                            percent=r.percent, verdict=r.verdict.zh, prompt=r.prompt)

    @router.post("/embed", tags=["tei"], openapi_extra=_body_doc(TeiEmbedRequest))
    async def embed(request: Request) -> list[list[float]]:
        """TEI's embed route: ``{"inputs": str | [str]}`` → list of vectors (always normalised)."""
        req: TeiEmbedRequest = _validate(TeiEmbedRequest, await read_json(request))
        texts = [req.inputs] if isinstance(req.inputs, str) else req.inputs
        res = await run_in_threadpool(functools.partial(service.embed, texts, what="inputs", **req.service_options()))
        return _with_prompt(res.vectors.tolist(), res.prompt)

    return router


def _with_prompt(body: Any, prompt: str | None) -> Any:
    """TEI's answers are bare lists: the prompt used (if any) travels in ``X-Prompt``, JSON-quoted
    (a header cannot hold the prompt's newline)."""
    if not prompt:
        return body
    return JSONResponse(body, headers={"X-Prompt": json.dumps(prompt)})


def _is_token_input(value: Any) -> bool:
    if isinstance(value, list) and value:
        first = value[0]
        return isinstance(first, int) or (isinstance(first, list) and bool(first) and isinstance(first[0], int))
    return False


def _encode_vector(v: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode("ascii")
    return v.tolist()


def install_api(app: FastAPI, service: EmbeddingService, settings: Settings | None = None) -> None:
    """Add the REST routes, ``/health`` and the error handlers to ``app`` (before Gradio mounts)."""

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Readiness probe for Docker / Spaces: the model is loaded and serving."""
        return {"status": "ok", "ready": True, **service.info.as_dict(), **service.stats()}

    app.include_router(build_router(service, settings or service.settings))

    @app.exception_handler(GteError)
    async def gte_error(request: Request, exc: GteError) -> JSONResponse:
        status = 400 if isinstance(exc, _BadJson) else exc.status_code
        headers = {"WWW-Authenticate": "Bearer"} if exc.error_type is ErrorType.UNAUTHORIZED else None
        if exc.error_type is ErrorType.OVERLOADED:
            headers = {"Retry-After": "1"}
        return JSONResponse(_error_body(request, exc), status_code=status, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        err = GteError(ErrorType.BACKEND, "internal error; the server logged the details",
                       "服务器内部错误，详情已记录在日志中")
        return JSONResponse(_error_body(request, err), status_code=500)


def _error_body(request: Request, exc: GteError) -> dict[str, Any]:
    if request.url.path.startswith("/v1/"):
        kind = {ErrorType.OVERLOADED: "rate_limit_error", ErrorType.UNAUTHORIZED: "authentication_error",
                ErrorType.BACKEND: "server_error"}.get(exc.error_type, "invalid_request_error")
        return {"error": {"message": exc.message, "type": kind, "param": None, "code": exc.error_type.value}}
    return exc.to_dict()
