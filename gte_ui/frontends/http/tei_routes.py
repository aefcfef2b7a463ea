"""TEI's whole HTTP route table, once at the root (the default model) and once per loaded model.

``/tei/{name}`` is a TEI base URL for each model this server loads (``GET /v1/models`` and
``/health`` list the names; the cross-encoder of ``--reranker`` is one too), so a client that
assumes one model per URL (Dify's embedding and rerank providers, LangChain, llama-index,
huggingface_hub) points at the model it wants. Its ``/info`` says that model's kind. The root
keeps the routes it already had (``/embed``, ``/rerank``, ``/similarity``, ``/v1/embeddings``,
``/health`` in :mod:`routes`) and gains TEI's others; ``POST /`` and ``/invocations`` answer as
the default model's kind does (embed), while ``GET /`` stays the UI.

Routes only dispatch: shapes are :mod:`gte_ui.frontends.protocols.tei` (OpenAI's
:mod:`gte_ui.frontends.protocols.openai`), work is the service's. Every route but ``/ping`` / ``/health`` sits behind
``--api-key``; the body cap and the queue apply as everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from gte_ui.core.auth import check_api_key
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings
from gte_ui.frontends.http.wire import read_json, respond
from gte_ui.frontends.protocols import openai, tei
from gte_ui.frontends.protocols.common import Answer
from gte_ui.frontends.protocols.parse import validate
from gte_ui.service import tokens
from gte_ui.service.options import read_options
from gte_ui.service.service import EmbeddingService

Resolve = Callable[[Request], tei.TeiTarget]
Handler = Callable[[tei.TeiTarget, Any], Awaitable[Any]]

#: the per-model base URL (a hub id's "/" is part of the name: thenlper/gte-large-zh)
PREFIX = "/tei/{name:path}"


# ------------------------------------------------------------------ the operations (body -> answer)
async def embed(target: tei.TeiTarget, body: Any) -> list[list[float]]:
    req: tei.EmbedRequest = validate(tei.EmbedRequest, body)
    tei.check_embed_flags(req.normalize)
    svc = tei.embedder(target)
    res = await run_in_threadpool(functools.partial(svc.embed, tei.inputs_list(req.inputs), what="inputs",
                                                    options=read_options({"prompt_name": req.prompt_name}),
                                                    dimensions=req.dimensions))
    return tei.vectors(res)


async def embed_all(target: tei.TeiTarget, body: Any) -> list[list[list[float]]]:
    req: tei.EmbedAllRequest = validate(tei.EmbedAllRequest, body)
    svc = tei.embedder(target)
    texts = svc.check_texts(tei.inputs_list(req.inputs), "inputs")
    prompt = svc.prompt_for(read_options({"prompt_name": req.prompt_name})) or ""
    states = [await run_in_threadpool(svc.token_states, prompt + t, what=f"inputs[{i}]") for i, t in enumerate(texts)]
    return tei.token_vectors(states)


async def embed_sparse(target: tei.TeiTarget, body: Any) -> Any:
    validate(tei.EmbedAllRequest, body)  # a malformed body is still a 422 first, as in TEI
    raise tei.not_splade()


async def rerank(target: tei.TeiTarget, body: Any) -> Answer:
    req: tei.TeiRerankRequest = validate(tei.TeiRerankRequest, body)
    method = "cross-encoder" if target.kind == "reranker" else "embedding"
    r = await run_in_threadpool(functools.partial(target.service.rerank, req.query, req.texts, method=method,
                                                  raw_scores=req.raw_scores, what="texts",
                                                  options=req.text_options()))
    return tei.rerank_answer(r, req.return_text, req.truncate)


async def predict(target: tei.TeiTarget, body: Any) -> Any:
    req: tei.PredictRequest = validate(tei.PredictRequest, body)
    if target.kind != "reranker":
        raise GteError(ErrorType.MODEL_TYPE, "Model is not a classifier model", "该模型不是分类（重排）模型")
    pairs, batch = req.pairs()
    found = await run_in_threadpool(functools.partial(tokens.predict, target.service, pairs,
                                                      raw_scores=req.raw_scores))
    out = [[p.model_dump() for p in row] for row in tei.predictions(found)]
    return out if batch else out[0]


async def similarity(target: tei.TeiTarget, body: Any) -> list[float]:
    req: tei.TeiSimilarityRequest = validate(tei.TeiSimilarityRequest, body)
    svc = tei.embedder(target)
    r = await run_in_threadpool(functools.partial(svc.rank, req.inputs.source_sentence, req.inputs.sentences,
                                                  options=req.text_options()))
    return tei.scores(r)


async def tokenize(target: tei.TeiTarget, body: Any) -> list[list[dict[str, Any]]]:
    req: tei.TokenizeRequest = validate(tei.TokenizeRequest, body)
    found = await run_in_threadpool(functools.partial(
        tokens.tokenize, target.service, tei.inputs_list(req.inputs), add_special_tokens=req.add_special_tokens,
        prompt_name=req.prompt_name, which=target.kind))
    return [[t.model_dump() for t in row] for row in tei.token_lists(found)]


async def decode(target: tei.TeiTarget, body: Any) -> list[str]:
    req: tei.DecodeRequest = validate(tei.DecodeRequest, body)
    return await run_in_threadpool(functools.partial(tokens.decode, target.service, req.batch(),
                                                     skip_special_tokens=req.skip_special_tokens,
                                                     which=target.kind))


async def openai_embeddings(target: tei.TeiTarget, body: Any) -> openai.EmbeddingsResponse:
    openai.check_text_input(body)
    req: openai.EmbeddingsRequest = validate(openai.EmbeddingsRequest, body)
    svc = tei.embedder(target)
    res = await run_in_threadpool(functools.partial(svc.embed, req.texts(), what="input",
                                                    options=req.text_options(), dimensions=req.dimensions))
    return openai.EmbeddingsResponse.from_result(res, svc.name, req.encoding_format)


async def by_kind(target: tei.TeiTarget, body: Any) -> Any:
    """``POST /`` and ``/invocations``: what TEI answers there for this kind of model."""
    return await (rerank if target.kind == "reranker" else embed)(target, body)


async def vertex(target: tei.TeiTarget, body: Any) -> dict[str, Any]:
    """Vertex AI's ``{"instances": [request, …]}`` → ``{"predictions": [answer, …]}``, each
    instance answered as ``POST /`` answers it."""
    req: tei.VertexRequest = validate(tei.VertexRequest, body)
    out = []
    for instance in req.instances:
        answer = await by_kind(target, instance)
        out.append(answer.body if isinstance(answer, Answer) else answer)
    return {"predictions": out}


#: TEI's POST routes: path -> operation (router/src/http/server.rs)
POST_ROUTES: dict[str, Handler] = {
    "/embed": embed, "/embed_all": embed_all, "/embed_sparse": embed_sparse, "/predict": predict,
    "/rerank": rerank, "/similarity": similarity, "/tokenize": tokenize, "/decode": decode,
    "/v1/embeddings": openai_embeddings, "/embeddings": openai_embeddings, "/vertex": vertex,
    "/invocations": by_kind,
}
#: routes the root already has in routes.py (the project's wider shapes of the same calls)
ROOT_HAS = ("/embed", "/rerank", "/similarity", "/v1/embeddings")


def _route(resolve: Resolve, op: Handler) -> Callable[[Request], Awaitable[Any]]:
    async def handler(request: Request) -> Any:
        target = resolve(request)
        answer = await op(target, await read_json(request))  # 415 / 400 as on every JSON route
        return respond(answer) if isinstance(answer, Answer) else answer

    handler.__doc__ = op.__doc__
    return handler


def build_tei_router(service: EmbeddingService, settings: Settings) -> APIRouter:
    """TEI's routes at the root (the default model) and under ``/tei/{name}`` (each model)."""

    def require_key(request: Request) -> None:
        check_api_key(settings, request.headers.get("authorization"))

    router = APIRouter(tags=["tei"])
    key = [Depends(require_key)]

    # the per-model copies stay out of the OpenAPI page (docs/api.md lists them): the same table
    def guarded(path: str, endpoint: Callable, method: str = "POST") -> None:
        router.add_api_route(path, endpoint, methods=[method], dependencies=key,
                             include_in_schema=not path.startswith("/tei/"))

    def public(path: str, endpoint: Callable) -> None:
        router.add_api_route(path, endpoint, methods=["GET"], include_in_schema=not path.startswith("/tei/"))

    def root(request: Request) -> tei.TeiTarget:
        return tei.resolve_target(service, None)

    def named(request: Request) -> tei.TeiTarget:
        return tei.resolve_target(service, request.path_params["name"])

    def info_of(resolve: Resolve) -> Callable[[Request], dict[str, Any]]:
        def info(request: Request) -> dict[str, Any]:
            """TEI's model facts: id, dtype, ``model_type`` (embedding + pooling, or reranker +
            id2label), limits, version."""
            return tei.Info.of(resolve(request)).model_dump()
        return info

    def alive_of(resolve: Resolve) -> Callable[[Request], Response]:
        def alive(request: Request) -> Response:
            """TEI's health answer: 200 and an empty body while the model serves."""
            resolve(request)  # an unknown model is a 404, not a healthy answer
            return Response(status_code=200)
        return alive

    # Starlette tries routes in order and {name:path} takes slashes: the specific paths go first,
    # the longest first ("x/v1/embeddings" must not read as model "x/v1" + "/embeddings"), the
    # bare base URLs last.
    guarded(PREFIX + "/info", info_of(named), "GET")
    for path in ("/health", "/ping"):
        public(PREFIX + path, alive_of(named))
    for path, op in sorted(POST_ROUTES.items(), key=lambda kv: -len(kv[0])):
        guarded(PREFIX + path, _route(named, op))
    guarded("/info", info_of(root), "GET")
    public("/ping", alive_of(root))
    for path, op in POST_ROUTES.items():
        if path not in ROOT_HAS:
            guarded(path, _route(root, op))
    # the model's bare base URL (what huggingface_hub and LangChain post to); GET there is TEI's
    # health, except the root's GET /, which stays the UI
    guarded("/", _route(root, by_kind))
    for path in (PREFIX + "/", PREFIX):
        guarded(path, _route(named, by_kind))
        public(path, alive_of(named))
    return router


def install_tei(app: FastAPI, service: EmbeddingService, settings: Settings) -> None:
    """Add TEI's routes to ``app`` (before Gradio mounts: its catch-all would answer them)."""
    app.include_router(build_tei_router(service, settings))
