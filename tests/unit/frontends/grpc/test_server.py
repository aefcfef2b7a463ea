"""The tei.v1 servicer at unit level, without a network: every GteError kind becomes its gRPC
status with the same bilingual message HTTP answers, an unexpected error becomes INTERNAL without
details, streams answer in order, and each answer's Metadata counts what it read. (A real grpcio
client against a served port: tests/e2e/grpc/test_grpc.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import numpy as np
import pytest

from gte_ui.core.errors import HTTP_STATUS, ErrorType, GteError
from gte_ui.frontends.grpc import tei_pb2 as pb
from gte_ui.frontends.grpc.server import GRPC_STATUS, Servicer
from gte_ui.frontends.protocols.tei import GRPC_MODEL_KEY


class CallContext:
    """The part of grpc.ServicerContext the servicer uses: the call's metadata and ``abort``."""

    def __init__(self, **metadata: str) -> None:
        self.metadata = tuple(metadata.items())
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self):
        return self.metadata

    def abort(self, code: grpc.StatusCode, details: str):
        self.code, self.details = code, details
        # grpcio raises a bare Exception once the status is set; the servicer must let it through
        raise Exception(details)  # noqa: TRY002


def aborted(call, context: CallContext) -> CallContext:
    with pytest.raises(Exception) as err:
        result = call()
        if not isinstance(result, pb.EmbedResponse | pb.RerankResponse | pb.InfoResponse):
            list(result)  # a stream fails when read
    assert type(err.value) is Exception and context.code is not None
    return context


@pytest.fixture()
def servicer(tiny_service):
    return Servicer(tiny_service)


def test_every_error_type_has_a_grpc_status():
    assert set(GRPC_STATUS) == set(ErrorType)  # a missing one fails the call with UNKNOWN and a KeyError
    assert GRPC_STATUS[ErrorType.VALIDATION] == grpc.StatusCode.INVALID_ARGUMENT
    assert GRPC_STATUS[ErrorType.UNAUTHORIZED] == grpc.StatusCode.UNAUTHENTICATED
    assert GRPC_STATUS[ErrorType.OVERLOADED] == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert GRPC_STATUS[ErrorType.MODEL_TYPE] == grpc.StatusCode.FAILED_PRECONDITION  # TEI's 424


@pytest.mark.parametrize("error_type", list(ErrorType))
def test_each_service_error_is_its_status_and_message(servicer, monkeypatch, error_type):
    refusal = GteError(error_type, f"{error_type.value} happened", "出错了")

    def embed(*args, **kwargs):
        raise refusal

    monkeypatch.setattr(servicer.service, "embed", embed)
    ctx = aborted(lambda: servicer.Embed(pb.EmbedRequest(inputs="好"), ctx), ctx := CallContext())
    assert ctx.code == GRPC_STATUS[error_type] and ctx.details == refusal.message


def test_an_unexpected_error_is_internal_and_says_nothing_of_it(servicer, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("/srv/secret/model.bin exploded")

    monkeypatch.setattr(servicer.service, "embed", broken)
    ctx = aborted(lambda: servicer.Embed(pb.EmbedRequest(inputs="好"), ctx), ctx := CallContext())
    assert ctx.code == grpc.StatusCode.INTERNAL and "/srv/secret" not in ctx.details and "internal error" in ctx.details


@pytest.mark.parametrize("call, code, fragment", [
    (lambda s, c: s.Embed(pb.EmbedRequest(inputs="   "), c), grpc.StatusCode.INVALID_ARGUMENT, "inputs[0] is empty"),
    (lambda s, c: s.Embed(pb.EmbedRequest(inputs="好", normalize=False), c), grpc.StatusCode.INVALID_ARGUMENT,
     "normalize: false"),
    (lambda s, c: s.Embed(pb.EmbedRequest(inputs="好", truncation_direction=pb.TRUNCATION_DIRECTION_LEFT), c),
     grpc.StatusCode.INVALID_ARGUMENT, "LEFT is not supported"),
    (lambda s, c: s.Predict(pb.PredictRequest(inputs="好"), c), grpc.StatusCode.FAILED_PRECONDITION,
     "not a classifier model"),
    (lambda s, c: s.EmbedSparse(pb.EmbedSparseRequest(inputs="好"), c), grpc.StatusCode.FAILED_PRECONDITION,
     "SPLADE"),
    (lambda s, c: s.RerankStream(iter([]), c), grpc.StatusCode.INVALID_ARGUMENT, "the stream was empty"),
])
def test_the_services_refusals_reach_the_client(servicer, call, code, fragment):
    ctx = aborted(lambda: call(servicer, ctx), ctx := CallContext())
    assert ctx.code == code and fragment in ctx.details


def test_the_model_metadata_picks_the_model(servicer):
    ctx = aborted(lambda: servicer.Info(pb.InfoRequest(), ctx), ctx := CallContext(**{GRPC_MODEL_KEY: "nope"}))
    assert ctx.code == grpc.StatusCode.NOT_FOUND and "nope" in ctx.details
    named = servicer.Info(pb.InfoRequest(), CallContext(**{GRPC_MODEL_KEY: servicer.service.name}))
    assert named.model_id == servicer.service.name and named.model_type == pb.MODEL_TYPE_EMBEDDING
    assert named.max_input_length == servicer.service.max_length


def test_embed_answers_the_services_vector_with_its_metadata(servicer):
    text = "今天天气很好"
    got = servicer.Embed(pb.EmbedRequest(inputs=text, dimensions=8), CallContext())
    want = servicer.service.embed([text], dimensions=8)
    np.testing.assert_allclose(got.embeddings, want.vectors[0], atol=1e-6)
    assert got.metadata.compute_chars == len(text) and got.metadata.compute_tokens == want.total_tokens
    assert got.metadata.total_time_ns > 0


def test_a_stream_answers_in_order_and_an_error_mid_stream_is_a_status(servicer):
    texts = [f"第{i}句话" for i in range(10)]
    answers = list(servicer.EmbedStream(iter(pb.EmbedRequest(inputs=t) for t in texts), CallContext()))
    np.testing.assert_allclose([a.embeddings for a in answers], servicer.service.embed(texts).vectors, atol=1e-6)
    bad = [pb.EmbedRequest(inputs="好"), pb.EmbedRequest(inputs=" ")]
    ctx = aborted(lambda: servicer.EmbedStream(iter(bad), ctx), ctx := CallContext())
    assert ctx.code == grpc.StatusCode.INVALID_ARGUMENT and "inputs[0] is empty" in ctx.details


def test_rerank_without_a_reranker_is_the_embedding_cosine(servicer):
    texts = ["手机电量很耐用", "今天天气很好", "充电速度特别快"]
    got = servicer.Rerank(pb.RerankRequest(query="手机电池", texts=texts, return_text=True), CallContext())
    want = servicer.service.rerank("手机电池", texts, method="embedding")
    assert [r.index for r in got.ranks] == [r.index for r in want.rows]
    assert [r.score for r in got.ranks] == pytest.approx([r.score for r in want.rows], abs=1e-6)
    assert [r.text for r in got.ranks] == [texts[r.index] for r in want.rows]
    assert got.metadata.compute_chars == len("手机电池") + sum(map(len, texts))


def test_docs_api_states_the_table_the_servicer_uses():
    """docs/api.md's HTTP → gRPC table says what GRPC_STATUS does, for every error type."""
    text = (Path(__file__).resolve().parents[4] / "docs" / "api.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| ([^|]*\d{3}[^|]*) \| ([A-Z_]+)\b", text, re.MULTILINE)
    documented = {code: " ".join(http for http, c in rows if c == code) for _, code in rows}
    for error_type, code in GRPC_STATUS.items():
        assert str(HTTP_STATUS[error_type]) in documented.get(code.name, ""), (error_type, code.name)
