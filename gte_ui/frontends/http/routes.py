"""REST routes on the same server and port as the UI.

* ``POST /api/predict`` — the Gradio-3-era shapes the articles use (ranking or a vector);
* ``POST /v1/embeddings``, ``GET /v1/models`` — OpenAI-compatible, for Dify, RAGFlow, LangChain;
* ``POST /similarity`` — the Flask GTE service's ``{sentence_a, sentence_b}`` and TEI's
  ``{"inputs": {"source_sentence", "sentences"}}``; ``POST /embed`` — TEI's ``{"inputs"}`` and
  the articles' inference suite's ``{"texts"}``;
* ``POST /rerank`` — the articles' ``{"query", "docs"}`` and TEI's ``{"query", "texts"}``;
  ``POST /v1/rerank`` (Cohere / Jina / Xinference; ``/v2/rerank`` for Cohere's v2 client);
* ``POST /v1/search``, ``GET /v1/indexes`` — search a corpus index (``gte-ui index build``);
* ``POST /v1/map`` — the embedding map (向量地图) of a list of texts;
* ``GET /health`` — readiness for Docker / Spaces probes.

Routes only dispatch: bodies are parsed by :func:`gte_ui.core.jsonbody.parse_json` (malformed or
absurdly nested JSON gets a clear 400, not a 500), answers are shaped by the named adapters of
:mod:`gte_ui.frontends.protocols` (one module per API family; docs/api.md, "Which adapter makes
which shape"). Service calls run in the thread pool: the event loop never
blocks, and concurrent requests meet in the dynamic batcher. Errors: ``{"error", "error_type"}``
everywhere, OpenAI's envelope under ``/v1``; never a stack trace.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from gte_ui.core.auth import check_api_key
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings
from gte_ui.core.textnorm import split_lines
from gte_ui.frontends.http.wire import body_doc, read_json, respond
from gte_ui.frontends.protocols import legacy, openai, tei
from gte_ui.frontends.protocols.cohere import CohereRerankRequest, CohereRerankResponse
from gte_ui.frontends.protocols.parse import validate as _validate
from gte_ui.frontends.protocols.rest import MapRequest, SearchRequest
from gte_ui.service import embedding_map
from gte_ui.service import search as search_service
from gte_ui.service.health import health, loaded_models
from gte_ui.service.service import EmbeddingService

log = logging.getLogger(__name__)


def build_router(service: EmbeddingService, settings: Settings) -> APIRouter:

    def require_key(request: Request) -> None:
        check_api_key(settings, request.headers.get("authorization"))

    router = APIRouter(dependencies=[Depends(require_key)])

    @router.post("/api/predict", tags=["legacy"], openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["data"],
            "properties": {"data": {"type": "array", "minItems": 2, "maxItems": 6},
                           "model": {"type": "string", "description": "which loaded model answers"}}}}}}})
    async def predict(request: Request) -> dict[str, list[float]]:
        """Legacy Gradio-3 route. ``{"data": [source, "c1\\nc2"]}`` → scores in candidate order;
        ``{"data": [text, ""]}`` or ``{"data": [text, "", false, false, false, false]}`` → vector.
        An optional ``"model"`` beside ``"data"`` picks the loaded model."""
        call = legacy.parse_legacy(await read_json(request))
        svc = service.for_model(call.model)
        if call.mode == "rank":
            return legacy.legacy_rank(await run_in_threadpool(svc.rank, call.text, split_lines(call.candidates)))
        text = svc.check_text(call.text, "data[0]")
        return legacy.legacy_vector(await run_in_threadpool(svc.embed, [text], what="data[0]"))

    @router.post("/api/predict/", include_in_schema=False)
    async def predict_slash(request: Request) -> dict[str, list[float]]:
        """Gradio 3 clients also post to the trailing-slash form."""
        return await predict(request)

    @router.post("/v1/embeddings", tags=["openai"], response_model=openai.EmbeddingsResponse,
                 openapi_extra=body_doc(openai.EmbeddingsRequest))
    async def embeddings(request: Request) -> openai.EmbeddingsResponse:
        """OpenAI-compatible embeddings (float or base64), with real token counts."""
        body = await read_json(request)
        openai.check_text_input(body)
        req: openai.EmbeddingsRequest = _validate(openai.EmbeddingsRequest, body)
        svc = service.for_model(req.model) if len(service.models()) > 1 else service
        res = await run_in_threadpool(functools.partial(svc.embed, req.texts(), what="input",
                                                        options=req.text_options(), dimensions=req.dimensions))
        return openai.EmbeddingsResponse.from_result(res, svc.name, req.encoding_format)

    @router.get("/v1/models", tags=["openai"], response_model=openai.ModelList)
    def models() -> openai.ModelList:
        """Every loaded model, the default first: pass its ``id`` as ``model``."""
        return openai.ModelList.from_models(loaded_models(service))

    @router.post("/similarity", tags=["similarity"], openapi_extra=body_doc(legacy.PairRequest, tei.TeiSimilarityRequest))
    async def similarity(request: Request) -> Any:
        """Two shapes, told apart by their keys: ``{"sentence_a", "sentence_b"}`` (the Flask GTE
        service) → one score with verdict; ``{"inputs": {"source_sentence", "sentences"}}`` (TEI)
        → a list of scores in sentence order."""
        body = await read_json(request)
        if isinstance(body, dict) and "inputs" in body and ({"sentence_a", "sentence_b"} & set(body)):
            raise GteError(ErrorType.VALIDATION, 'send either {"sentence_a", "sentence_b"} or '
                           '{"inputs": {"source_sentence", "sentences"}}, not both', "请求体只能是两种格式之一")
        if isinstance(body, dict) and "inputs" in body:
            req: tei.TeiSimilarityRequest = _validate(tei.TeiSimilarityRequest, body)
            result = await run_in_threadpool(functools.partial(
                service.for_model(req.model).rank, req.inputs.source_sentence, req.inputs.sentences,
                options=req.text_options()))
            return respond(tei.scores_answer(result))
        pair: legacy.PairRequest = _validate(legacy.PairRequest, body)
        r = await run_in_threadpool(functools.partial(service.for_model(pair.model).pair, pair.sentence_a,
                                                      pair.sentence_b, options=pair.text_options()))
        return legacy.PairResponse.from_result(pair.sentence_a, pair.sentence_b, r)

    @router.post("/embed", tags=["tei"], openapi_extra=body_doc(tei.TeiEmbedRequest))
    async def embed(request: Request) -> list[list[float]]:
        """TEI's ``{"inputs": str | [str]}`` or the inference suite's ``{"texts": [str]}`` → list of
        vectors (always normalised)."""
        req: tei.TeiEmbedRequest = _validate(tei.TeiEmbedRequest, await read_json(request))
        texts, field = req.text_list()
        res = await run_in_threadpool(functools.partial(service.for_model(req.model).embed, texts, what=field,
                                                        options=req.text_options(), dimensions=req.dimensions))
        return respond(tei.vectors_answer(res))

    @router.post("/rerank", tags=["rerank"], openapi_extra=body_doc(legacy.ArticleRerankRequest, tei.TeiRerankRequest))
    async def rerank(request: Request) -> Any:
        """Two shapes, told apart by their keys: ``{"query", "docs"}`` (the articles' suite) →
        ``{"scores"}`` in ``docs`` order; ``{"query", "texts", "raw_scores", "return_text",
        "truncate"}`` (TEI) → ``[{"index", "score", "text"?}]`` best first. Scores are the
        reranker's sigmoid (its raw logits with ``raw_scores``); without ``--reranker`` they are
        the embedding cosine, and the answer says so (``method``; header ``X-Rerank-Method``).
        Both take the text options (``t2s``, ``nfkc``, ``collapse_whitespace``…) of every route."""
        body = await read_json(request)
        if not isinstance(body, dict) or not ({"docs", "texts"} & set(body)) or {"docs", "texts"} <= set(body):
            raise GteError(ErrorType.VALIDATION, 'send {"query", "docs"} (scores in docs order) or {"query", '
                           '"texts"} (TEI: ranked list), exactly one of docs / texts',
                           '请求体应为 {"query", "docs"} 或 {"query", "texts"} 之一')
        if "texts" in body:
            ask: tei.TeiRerankRequest = _validate(tei.TeiRerankRequest, body)
            r = await run_in_threadpool(functools.partial(service.rerank, ask.query, ask.texts,
                                                          raw_scores=ask.raw_scores, what="texts",
                                                          options=ask.text_options()))
            return respond(tei.rerank_answer(r, ask.return_text, ask.truncate))
        req: legacy.ArticleRerankRequest = _validate(legacy.ArticleRerankRequest, body)
        r = await run_in_threadpool(functools.partial(service.rerank, req.query, req.docs,
                                                      raw_scores=req.raw_scores, what="docs",
                                                      options=req.text_options()))
        return JSONResponse(legacy.ArticleRerankResponse.from_result(r).model_dump(),
                            headers={"X-Rerank-Method": r.method})

    async def cohere_rerank(request: Request) -> CohereRerankResponse:
        """Cohere / Jina / Xinference rerank: ``{"query", "documents" (strings or {"text"}), "top_n",
        "return_documents"}`` → ``{"results": [{"index", "relevance_score", "document"?}], "model",
        "usage", "method"}``, best first. Takes the text options (``t2s``, ``nfkc``…) of every route."""
        req: CohereRerankRequest = _validate(CohereRerankRequest, await read_json(request))
        r = await run_in_threadpool(functools.partial(service.rerank, req.query, req.texts(), top_n=req.top_n,
                                                      what="documents", options=req.text_options()))
        return CohereRerankResponse.from_result(r, req.return_documents)

    catalog = search_service.catalog_from_settings(settings)

    @router.post("/v1/search", tags=["search"], openapi_extra=body_doc(SearchRequest))
    async def search(request: Request) -> dict[str, Any]:
        """Top-k documents of an index (``index build`` / the Search tab) for a query: ``{"index",
        "query", "top_k", "rerank", "highlight", "model"?}`` plus the text options → hits with scores,
        verdicts and, with ``rerank``, how each moved. 404 unknown index, 409 another model's index."""
        req: SearchRequest = _validate(SearchRequest, await read_json(request))
        result = await run_in_threadpool(functools.partial(
            search_service.search, service, catalog, req.index, req.query, req.top_k, rerank=req.rerank,
            highlight=req.highlight, model=req.model, options=req.text_options()))
        return result.to_dict()

    @router.get("/v1/indexes", tags=["search"])
    async def indexes() -> dict[str, Any]:
        """The indexes in ``--index-dir`` with their manifests (one built while serving included)."""
        return {"data": await run_in_threadpool(search_service.list_indexes, catalog)}

    for path in ("/v1/rerank", "/v2/rerank"):  # Cohere's Client posts to v1, its ClientV2 to v2
        router.add_api_route(path, cohere_rerank, methods=["POST"], tags=["rerank"],
                             response_model=CohereRerankResponse, response_model_exclude_none=True,
                             openapi_extra=body_doc(CohereRerankRequest))

    @router.post("/v1/map", tags=["map"], openapi_extra=body_doc(MapRequest))
    async def embedding_map_route(request: Request) -> dict[str, Any]:
        """The embedding map: ``{"texts", "labels"?, "queries"?, "method", "clusters", "model"?}`` →
        ``{"points": [{"x", "y", "text", "kind", "group"}], "method", "sampled", "note", …}``."""
        req: MapRequest = _validate(MapRequest, await read_json(request))
        if (req.texts is None) == (req.index is None):
            raise GteError(ErrorType.VALIDATION, "give either texts or index (the name of a corpus index)",
                           "请给出 texts 或 index（语料索引名）之一")
        if req.index is not None:  # the index's stored vectors, its own model
            result = await run_in_threadpool(functools.partial(
                search_service.index_map, service, catalog, req.index, queries=req.queries, method=req.method,
                clusters=req.clusters, model=req.model))
        else:
            result = await run_in_threadpool(functools.partial(
                embedding_map.build_map, service.for_model(req.model), req.texts, labels=req.labels,
                queries=req.queries, method=req.method, clusters=req.clusters))
        return result.to_dict()

    return router


def install_api(app: FastAPI, service: EmbeddingService, settings: Settings | None = None) -> None:
    """Add the REST routes, ``/health`` and the error handlers to ``app`` (before Gradio mounts)."""

    @app.get("/health", tags=["meta"])
    def health_route() -> dict[str, Any]:
        """Readiness probe for Docker / Spaces: the model is loaded and serving."""
        return health(service).to_dict()

    app.include_router(build_router(service, settings or service.settings))

    @app.exception_handler(GteError)
    async def gte_error(request: Request, exc: GteError) -> JSONResponse:
        status = exc.status_code
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
