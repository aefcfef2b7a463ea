"""TEI's gRPC API (tei.proto, package ``tei.v1``) over the same service as the HTTP routes.

``--grpc-port`` (``GTE_GRPC_PORT``) starts it beside uvicorn in one process (one set of models,
caches and batchers), with the standard health service (NOT_SERVING while draining) and reflection.

* Which model: the ``x-tei-model`` metadata names one (as ``/tei/{name}`` does over HTTP); without
  it the default embedding model answers, and the ``--reranker`` for Rerank and Predict.
* Access: ``--api-key`` is checked on every ``tei.v1`` call (``authorization: Bearer <key>``);
  health and reflection stay open, as ``/health`` is.
* Errors: :data:`GRPC_STATUS` maps each error to its status (docs/api.md's table), with HTTP's
  bilingual message, never a stack trace. Limits are the service's; a message over
  ``--max-body-bytes`` is refused by grpcio. ``truncate``: proto3 cannot tell false from unset,
  so inputs over the limit are cut, as ``/info``'s ``auto_truncate: true`` says.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gte_ui.core.auth import check_api_key
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import Settings
from gte_ui.frontends.grpc import tei_pb2 as pb
from gte_ui.frontends.grpc import tei_pb2_grpc as rpc
from gte_ui.frontends.protocols import tei
from gte_ui.service import tokens
from gte_ui.service.options import read_options
from gte_ui.service.service import EmbeddingService

log = logging.getLogger(__name__)

#: gRPC status for each error type (the HTTP table's twin, TEI's choices where TEI has one); every
#: type has one: a missing one failed the call with UNKNOWN and a KeyError instead of the message
GRPC_STATUS: dict[ErrorType, grpc.StatusCode] = {
    ErrorType.MALFORMED: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorType.VALIDATION: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorType.EMPTY: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorType.TOO_LONG: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorType.TOO_MANY: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorType.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorType.MEDIA_TYPE: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorType.OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorType.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorType.DISK_FULL: grpc.StatusCode.RESOURCE_EXHAUSTED,  # gRPC's code for "the file system is full"
    ErrorType.UNAUTHORIZED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorType.MODEL_NOT_FOUND: grpc.StatusCode.UNAVAILABLE,
    ErrorType.UNKNOWN_MODEL: grpc.StatusCode.NOT_FOUND,
    ErrorType.INDEX_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorType.MODEL_MISMATCH: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorType.MODEL_TYPE: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorType.CONFIG: grpc.StatusCode.INTERNAL,
    ErrorType.BACKEND: grpc.StatusCode.INTERNAL,
}

#: the tei.v1 services, by their full names (reflection and health list these)
SERVICES = tuple(s.full_name for s in pb.DESCRIPTOR.services_by_name.values())
#: worker threads: a stream holds one for its life, so room for many open streams at once
MAX_WORKERS = 64
#: messages of one stream in the service at once (each stream's answers still come in order)
STREAM_WINDOW = 64


def _abort(context: grpc.ServicerContext, exc: BaseException) -> None:
    if isinstance(exc, GteError):
        context.abort(GRPC_STATUS[exc.error_type], exc.message)
    log.exception("unexpected error in a gRPC call")
    context.abort(grpc.StatusCode.INTERNAL, "服务器内部错误，详情已记录在日志中 / internal error; the server logged the details")


def _guard(method: Callable) -> Callable:
    """Turn the service's errors into gRPC statuses (abort raises, ending the call)."""
    def call(self: Servicer, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            result = method(self, request, context)
            if isinstance(result, Iterator):
                return self._each(result, context)
            return result
        except Exception as exc:  # every error becomes a status; the unknown ones are logged
            if isinstance(exc, GteError) or not _is_abort(exc):
                _abort(context, exc)
            raise

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


def _is_abort(exc: BaseException) -> bool:
    """grpcio's ``context.abort`` raises a plain Exception once the status is set: let it through."""
    return type(exc) is Exception


def _metadata(*, chars: int, t0: float, tokens_: int = 0) -> pb.Metadata:
    """TEI's per-answer Metadata: characters and tokens read, wall time in the server."""
    return pb.Metadata(compute_chars=chars, compute_tokens=tokens_, total_time_ns=int((time.perf_counter() - t0) * 1e9))


class Servicer(rpc.InfoServicer, rpc.EmbedServicer, rpc.PredictServicer, rpc.RerankServicer,
               rpc.TokenizeServicer):
    """Every tei.v1 RPC, each a call into the service the HTTP routes call."""

    def __init__(self, service: EmbeddingService) -> None:
        self.service = service
        # a stream's messages run side by side here, so they meet in the dynamic batcher as
        # concurrent HTTP requests do (one by one, a 32-message stream would cost 32 windows)
        self._items = futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="grpc-stream")

    def _pipelined(self, requests: Iterable, answer: Callable[[Any], Any]) -> Iterator:
        """``answer(message)`` for every message of a stream, several at once, yielded in order.

        A reader thread takes the messages as they come (a client may wait for each answer
        before sending the next, or send them all first), so reading never waits on answering."""
        started: queue.Queue = queue.Queue(maxsize=STREAM_WINDOW)
        closed = threading.Event()  # the answering side stopped (an error, a cancel): stop reading

        def hand_over(item: Any) -> bool:
            while not closed.is_set():
                try:
                    started.put(item, timeout=0.5)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for message in requests:
                    if not hand_over(self._items.submit(answer, message)):
                        return
            except Exception:  # the client went away mid-stream: nothing left to answer
                log.debug("a gRPC stream ended while reading", exc_info=True)
            hand_over(None)

        threading.Thread(target=read, name="grpc-stream-reader", daemon=True).start()
        try:
            while (future := started.get()) is not None:
                yield future.result()
        finally:
            closed.set()

    # ---------------------------------------------------------------- which model
    def _target(self, context: grpc.ServicerContext, prefer: tei.Kind = "embedding") -> tei.TeiTarget:
        name = dict(context.invocation_metadata()).get(tei.GRPC_MODEL_KEY)
        if not name and prefer == "reranker" and self.service.reranker is not None:
            name = self.service.reranker.info.name
        return tei.resolve_target(self.service, name)

    def _each(self, items: Iterator, context: grpc.ServicerContext) -> Iterator:
        try:
            yield from items
        except Exception as exc:  # as _guard, for streamed answers
            if isinstance(exc, GteError) or not _is_abort(exc):
                _abort(context, exc)
            raise

    # ---------------------------------------------------------------- Info
    @_guard
    def Info(self, request: pb.InfoRequest, context: grpc.ServicerContext) -> pb.InfoResponse:
        info = tei.Info.of(self._target(context))
        kind = pb.MODEL_TYPE_RERANKER if "reranker" in info.model_type else pb.MODEL_TYPE_EMBEDDING
        return pb.InfoResponse(version=info.version, model_id=info.model_id, model_dtype=info.model_dtype,
                               model_type=kind, max_concurrent_requests=info.max_concurrent_requests,
                               max_input_length=info.max_input_length, max_batch_tokens=info.max_batch_tokens,
                               max_batch_requests=info.max_batch_requests,
                               max_client_batch_size=info.max_client_batch_size,
                               tokenization_workers=info.tokenization_workers)

    # ---------------------------------------------------------------- Embed
    def _embed(self, request: pb.EmbedRequest, target: tei.TeiTarget) -> pb.EmbedResponse:
        t0 = time.perf_counter()
        _right_only(request.truncation_direction)
        tei.check_embed_flags(request.normalize if request.HasField("normalize") else None)
        svc = tei.embedder(target)
        res = svc.embed([request.inputs], what="inputs",
                        options=read_options({"prompt_name": request.prompt_name if request.HasField("prompt_name") else None}),
                        dimensions=request.dimensions if request.HasField("dimensions") else None)
        return pb.EmbedResponse(embeddings=res.vectors[0].tolist(),
                                metadata=_metadata(chars=len(request.inputs), tokens_=res.total_tokens, t0=t0))

    @_guard
    def Embed(self, request: pb.EmbedRequest, context: grpc.ServicerContext) -> pb.EmbedResponse:
        return self._embed(request, self._target(context))

    @_guard
    def EmbedStream(self, requests: Iterable[pb.EmbedRequest], context: grpc.ServicerContext) -> Iterator:
        target = self._target(context)
        return self._pipelined(requests, lambda r: self._embed(r, target))

    @_guard
    def EmbedSparse(self, request: pb.EmbedSparseRequest, context: grpc.ServicerContext) -> Any:
        raise tei.not_splade()

    @_guard
    def EmbedSparseStream(self, requests: Iterable[pb.EmbedSparseRequest], context: grpc.ServicerContext) -> Any:
        raise tei.not_splade()

    def _embed_all(self, request: pb.EmbedAllRequest, target: tei.TeiTarget) -> pb.EmbedAllResponse:
        t0 = time.perf_counter()
        _right_only(request.truncation_direction)
        svc = tei.embedder(target)
        prompt = svc.prompt_for(read_options({"prompt_name": request.prompt_name if request.HasField("prompt_name")
                                              else None})) or ""
        states = svc.token_states(prompt + svc.check_text(request.inputs, "inputs"), what="inputs")
        return pb.EmbedAllResponse(token_embeddings=[pb.TokenEmbedding(embeddings=row) for row in states.tolist()],
                                   metadata=_metadata(chars=len(request.inputs), tokens_=len(states), t0=t0))

    @_guard
    def EmbedAll(self, request: pb.EmbedAllRequest, context: grpc.ServicerContext) -> pb.EmbedAllResponse:
        return self._embed_all(request, self._target(context))

    @_guard
    def EmbedAllStream(self, requests: Iterable[pb.EmbedAllRequest], context: grpc.ServicerContext) -> Iterator:
        target = self._target(context)
        return self._pipelined(requests, lambda r: self._embed_all(r, target))

    # ---------------------------------------------------------------- Predict
    def _predict(self, inputs: list[str], raw_scores: bool, direction: int, target: tei.TeiTarget) -> pb.PredictResponse:
        t0 = time.perf_counter()
        _right_only(direction)
        if target.kind != "reranker":
            raise GteError(ErrorType.MODEL_TYPE, "Model is not a classifier model", "该模型不是分类（重排）模型")
        found = tokens.predict(target.service, [inputs], raw_scores=raw_scores)
        return pb.PredictResponse(predictions=[pb.Prediction(score=p.score, label=p.label) for p in found[0]],
                                  metadata=_metadata(chars=sum(map(len, inputs)), t0=t0))

    @_guard
    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictResponse:
        return self._predict([request.inputs], request.raw_scores, request.truncation_direction,
                             self._target(context, "reranker"))

    @_guard
    def PredictPair(self, request: pb.PredictPairRequest, context: grpc.ServicerContext) -> pb.PredictResponse:
        return self._predict(list(request.inputs), request.raw_scores, request.truncation_direction,
                             self._target(context, "reranker"))

    @_guard
    def PredictStream(self, requests: Iterable[pb.PredictRequest], context: grpc.ServicerContext) -> Iterator:
        target = self._target(context, "reranker")
        return self._pipelined(requests, lambda r: self._predict([r.inputs], r.raw_scores, r.truncation_direction, target))

    @_guard
    def PredictPairStream(self, requests: Iterable[pb.PredictPairRequest], context: grpc.ServicerContext) -> Iterator:
        target = self._target(context, "reranker")
        return self._pipelined(requests, lambda r: self._predict(list(r.inputs), r.raw_scores, r.truncation_direction,
                                                                    target))

    # ---------------------------------------------------------------- Rerank
    def _rerank(self, query: str, texts: list[str], raw_scores: bool, return_text: bool, direction: int,
                target: tei.TeiTarget) -> pb.RerankResponse:
        t0 = time.perf_counter()
        _right_only(direction)
        method = "cross-encoder" if target.kind == "reranker" else "embedding"
        r = target.service.rerank(query, texts, raw_scores=raw_scores, method=method, what="texts")
        return pb.RerankResponse(ranks=[pb.Rank(index=x.index, score=x.score, text=x.text)
                                        if x.text is not None else pb.Rank(index=x.index, score=x.score)
                                        for x in tei.ranks(r, return_text)],
                                 metadata=_metadata(chars=len(query) + sum(map(len, texts)), tokens_=r.tokens, t0=t0))

    @_guard
    def Rerank(self, request: pb.RerankRequest, context: grpc.ServicerContext) -> pb.RerankResponse:
        return self._rerank(request.query, list(request.texts), request.raw_scores, request.return_text,
                            request.truncation_direction, self._target(context, "reranker"))

    @_guard
    def RerankStream(self, requests: Iterable[pb.RerankStreamRequest], context: grpc.ServicerContext) -> pb.RerankResponse:
        """One (query, text) per message; the first message's query and flags count, as in TEI."""
        first: pb.RerankStreamRequest | None = None
        texts = []
        for r in requests:
            first = first or r
            texts.append(r.text)
        if first is None:
            raise GteError(ErrorType.EMPTY, "no texts given: the stream was empty", "没有提供文本")
        return self._rerank(first.query, texts, first.raw_scores, first.return_text, first.truncation_direction,
                            self._target(context, "reranker"))

    # ---------------------------------------------------------------- Tokenize
    def _tokenize(self, request: pb.EncodeRequest, target: tei.TeiTarget) -> pb.EncodeResponse:
        found = tokens.tokenize(target.service, [request.inputs], add_special_tokens=request.add_special_tokens,
                                prompt_name=request.prompt_name if request.HasField("prompt_name") else None,
                                which=target.kind)
        return pb.EncodeResponse(tokens=[pb.SimpleToken(**t.model_dump(exclude_none=True))
                                         for t in tei.token_lists(found)[0]])

    def _decode(self, request: pb.DecodeRequest, target: tei.TeiTarget) -> pb.DecodeResponse:
        text = tokens.decode(target.service, [list(request.ids)], skip_special_tokens=request.skip_special_tokens,
                             which=target.kind)
        return pb.DecodeResponse(text=text[0])

    @_guard
    def Tokenize(self, request: pb.EncodeRequest, context: grpc.ServicerContext) -> pb.EncodeResponse:
        return self._tokenize(request, self._target(context))

    @_guard
    def TokenizeStream(self, requests: Iterable[pb.EncodeRequest], context: grpc.ServicerContext) -> Iterator:
        target = self._target(context)
        return self._pipelined(requests, lambda r: self._tokenize(r, target))

    @_guard
    def Decode(self, request: pb.DecodeRequest, context: grpc.ServicerContext) -> pb.DecodeResponse:
        return self._decode(request, self._target(context))

    @_guard
    def DecodeStream(self, requests: Iterable[pb.DecodeRequest], context: grpc.ServicerContext) -> Iterator:
        target = self._target(context)
        return self._pipelined(requests, lambda r: self._decode(r, target))


def _right_only(direction: int) -> None:
    if direction == pb.TRUNCATION_DIRECTION_LEFT:
        raise GteError(ErrorType.VALIDATION, "truncation_direction LEFT is not supported: this server keeps the "
                       "start of each text (RIGHT)", "不支持从左侧截断")


class ApiKeyInterceptor(grpc.ServerInterceptor):
    """``--api-key`` on every tei.v1 method: the ``authorization`` metadata must be ``Bearer <key>``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def intercept_service(self, continuation: Callable, details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or not details.method.startswith("/tei.v1."):
            return handler
        try:
            check_api_key(self.settings, dict(details.invocation_metadata).get("authorization"))
            return handler
        except GteError as exc:
            refusal = exc

        def deny(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal.message)

        kinds = {(False, False): grpc.unary_unary_rpc_method_handler,
                 (False, True): grpc.unary_stream_rpc_method_handler,
                 (True, False): grpc.stream_unary_rpc_method_handler,
                 (True, True): grpc.stream_stream_rpc_method_handler}
        make = kinds[(handler.request_streaming, handler.response_streaming)]
        return make(deny, request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer)


class GrpcServer:
    """The running gRPC server: :meth:`drain` on SIGTERM, :meth:`wait` for it to finish."""

    def __init__(self, server: grpc.Server, health_servicer: health.HealthServicer, port: int) -> None:
        self.server = server
        self.health = health_servicer
        self.port = port
        self._stopped: threading.Event | None = None

    def drain(self, grace_s: float) -> threading.Event:
        """Say NOT_SERVING, refuse new calls, let the running ones finish (at most ``grace_s``)."""
        if self._stopped is None:
            self.health.enter_graceful_shutdown()
            self._stopped = self.server.stop(grace_s)
        return self._stopped

    def wait(self, grace_s: float) -> None:
        self.drain(grace_s).wait(grace_s + 5)


def serve_grpc(service: EmbeddingService, settings: Settings, port: int | None = None,
               host: str | None = None) -> GrpcServer:
    """Start tei.v1 + health + reflection on ``host:port`` (default: the settings'); returns at once."""
    port = settings.grpc_port if port is None else port
    host = settings.host if host is None else host
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="grpc"),
                         interceptors=[ApiKeyInterceptor(settings)],
                         options=[("grpc.max_receive_message_length", settings.max_body_bytes),
                                  ("grpc.so_reuseport", 0)])
    servicer = Servicer(service)
    for add in (rpc.add_InfoServicer_to_server, rpc.add_EmbedServicer_to_server,
                rpc.add_PredictServicer_to_server, rpc.add_RerankServicer_to_server,
                rpc.add_TokenizeServicer_to_server):
        add(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *SERVICES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if not bound:
        raise GteError(ErrorType.CONFIG, f"cannot listen for gRPC on {address}: the port is taken or not allowed",
                       f"无法在 {address} 上监听 gRPC")
    server.start()
    log.info("gRPC (tei.v1) listening on %s", address)
    return GrpcServer(server, health_servicer, bound)
