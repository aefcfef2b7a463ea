"""Issue 28: TEI's gRPC API (tei.proto) with a grpcio client built from the same proto, against
the service the HTTP routes serve (tiny BERT + a tiny cross-encoder, --api-key): answers equal
HTTP's, streams, health, reflection, each error status, load, and SIGTERM's drain."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gte_ui.frontends.grpc import tei_pb2 as pb
from gte_ui.frontends.grpc import tei_pb2_grpc as rpc

pytestmark = pytest.mark.timeout(180)

KEY = "grpc-s3cret"
MD = (("authorization", f"Bearer {KEY}"),)
TEXTS = ["今天天气很好", "我想借钱", "这款手机电池续航很强，用一天没问题"]
QUERY = "手机电量很耐用"


@pytest.fixture(scope="module")
def both(tiny_model_dir, tiny_reranker_dir):
    """One service, served over HTTP (uvicorn) and gRPC at once, as ``--grpc-port`` does."""
    from conftest import LiveServer

    from gte_ui.core.settings import Settings
    from gte_ui.frontends.grpc.server import serve_grpc
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_model_dir), reranker=str(tiny_reranker_dir), device="cpu", precision="fp32",
                        api_key=KEY, max_texts=16, max_chars=500, max_body_bytes=50_000)
    service = EmbeddingService.from_settings(settings)
    g = serve_grpc(service, settings, port=0, host="127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{g.port}")
    with LiveServer(create_app(service, settings)) as http:
        http.service = service
        http.channel = channel
        http.reranker = service.reranker.info.name
        yield http
    channel.close()
    g.wait(1)
    service.close()


def http_post(server, path, body):
    r = requests.post(server.url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_embed_equals_http_embed_and_a_stream_of_100(both):
    stub = rpc.EmbedStub(both.channel)
    http = np.array(http_post(both, "/embed", {"inputs": TEXTS}))
    for text, expected in zip(TEXTS, http):
        got = stub.Embed(pb.EmbedRequest(inputs=text, normalize=True), metadata=MD)
        np.testing.assert_allclose(got.embeddings, expected, atol=1e-6)
        assert got.metadata.compute_chars == len(text) and got.metadata.compute_tokens > 2
    texts = [f"第{i}句：{TEXTS[i % 3]}" for i in range(100)]
    answers = list(stub.EmbedStream(iter(pb.EmbedRequest(inputs=t) for t in texts), metadata=MD))
    assert len(answers) == 100
    expected = np.vstack([both.service.embed(texts[i:i + 16]).vectors for i in range(0, 100, 16)])
    np.testing.assert_allclose([a.embeddings for a in answers], expected, atol=1e-6)


def test_every_tei_service_answers_as_http_does(both):
    info = rpc.InfoStub(both.channel).Info(pb.InfoRequest(), metadata=MD)
    assert info.model_type == pb.MODEL_TYPE_EMBEDDING and info.max_client_batch_size == 16
    assert info.model_id == both.service.name
    rinfo = rpc.InfoStub(both.channel).Info(pb.InfoRequest(), metadata=MD + (("x-tei-model", both.reranker),))
    assert rinfo.model_type == pb.MODEL_TYPE_RERANKER

    ranked = rpc.RerankStub(both.channel).Rerank(pb.RerankRequest(query=QUERY, texts=TEXTS, return_text=True),
                                                 metadata=MD)
    http = http_post(both, f"/tei/{both.reranker}/rerank", {"query": QUERY, "texts": TEXTS, "return_text": True})
    assert [(r.index, r.text) for r in ranked.ranks] == [(r["index"], r["text"]) for r in http]
    np.testing.assert_allclose([r.score for r in ranked.ranks], [r["score"] for r in http], atol=1e-6)
    streamed = rpc.RerankStub(both.channel).RerankStream(
        iter(pb.RerankStreamRequest(query=QUERY, text=t) for t in TEXTS), metadata=MD)
    assert [r.index for r in streamed.ranks] == [r["index"] for r in http] and not streamed.ranks[0].HasField("text")

    pair = rpc.PredictStub(both.channel).PredictPair(pb.PredictPairRequest(inputs=[QUERY, TEXTS[2]], raw_scores=True),
                                                     metadata=MD)
    http_pred = http_post(both, f"/tei/{both.reranker}/predict", {"inputs": [QUERY, TEXTS[2]], "raw_scores": True})
    assert pair.predictions[0].label == "LABEL_0"
    assert pair.predictions[0].score == pytest.approx(http_pred[0]["score"], abs=1e-6)

    tok = rpc.TokenizeStub(both.channel)
    tokens = tok.Tokenize(pb.EncodeRequest(inputs=TEXTS[0], add_special_tokens=True), metadata=MD).tokens
    http_tokens = http_post(both, "/tokenize", {"inputs": TEXTS[0]})[0]
    assert [(t.id, t.text, t.special) for t in tokens] == [(t["id"], t["text"], t["special"]) for t in http_tokens]
    assert not tokens[0].HasField("start") and (tokens[1].start, tokens[1].stop) == (0, 1)
    ids = [t.id for t in tokens]
    text = tok.Decode(pb.DecodeRequest(ids=ids, skip_special_tokens=True), metadata=MD).text
    assert text == http_post(both, "/decode", {"ids": ids})[0]
    assert len(list(tok.TokenizeStream(iter([pb.EncodeRequest(inputs=t) for t in TEXTS]), metadata=MD))) == 3

    states = rpc.EmbedStub(both.channel).EmbedAll(pb.EmbedAllRequest(inputs=TEXTS[1]), metadata=MD)
    http_states = http_post(both, "/embed_all", {"inputs": TEXTS[1]})[0]
    np.testing.assert_allclose([t.embeddings for t in states.token_embeddings], http_states, atol=1e-5)


def test_health_serving_and_reflection_lists_the_tei_services(both):
    health = health_pb2_grpc.HealthStub(both.channel)
    for name in ("", "tei.v1.Embed", "tei.v1.Rerank"):  # open without the key, as /health
        assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == \
            health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(both.channel)
    answer = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    listed = {s.name for s in answer.list_services_response.service}
    assert {"tei.v1.Info", "tei.v1.Embed", "tei.v1.Predict", "tei.v1.Rerank", "tei.v1.Tokenize",
            "grpc.health.v1.Health"} <= listed
    # and the descriptors themselves, as grpcurl reads them
    files = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="tei.v1.Embed")])))
    assert files.file_descriptor_response.file_descriptor_proto


@pytest.mark.parametrize("name,call,code,fragment", [
    ("no key", lambda c, s: rpc.EmbedStub(c).Embed(pb.EmbedRequest(inputs="a")), "UNAUTHENTICATED", "API key"),
    ("wrong key", lambda c, s: rpc.InfoStub(c).Info(pb.InfoRequest(), metadata=(("authorization", "Bearer no"),)),
     "UNAUTHENTICATED", "API key"),
    ("no key, stream", lambda c, s: list(rpc.EmbedStub(c).EmbedStream(iter([pb.EmbedRequest(inputs="a")]))),
     "UNAUTHENTICATED", "API key"),
    ("empty", lambda c, s: rpc.EmbedStub(c).Embed(pb.EmbedRequest(inputs=" "), metadata=MD), "INVALID_ARGUMENT", "empty"),
    ("too long", lambda c, s: rpc.EmbedStub(c).Embed(pb.EmbedRequest(inputs="长" * 501), metadata=MD),
     "INVALID_ARGUMENT", "limit is 500"),
    ("too many", lambda c, s: rpc.RerankStub(c).Rerank(pb.RerankRequest(query="q", texts=["a"] * 1001), metadata=MD),
     "INVALID_ARGUMENT", "limit is 1,000"),
    ("bad in a stream", lambda c, s: list(rpc.EmbedStub(c).EmbedStream(
        iter([pb.EmbedRequest(inputs="a"), pb.EmbedRequest(inputs="")]), metadata=MD)), "INVALID_ARGUMENT", "empty"),
    ("normalize false", lambda c, s: rpc.EmbedStub(c).Embed(pb.EmbedRequest(inputs="a", normalize=False), metadata=MD),
     "INVALID_ARGUMENT", "normalize"),
    ("left", lambda c, s: rpc.EmbedStub(c).Embed(pb.EmbedRequest(
        inputs="a", truncation_direction=pb.TRUNCATION_DIRECTION_LEFT), metadata=MD), "INVALID_ARGUMENT", "LEFT"),
    ("sparse", lambda c, s: rpc.EmbedStub(c).EmbedSparse(pb.EmbedSparseRequest(inputs="a"), metadata=MD),
     "FAILED_PRECONDITION", "Model is not an embedding model with SPLADE pooling"),
    ("predict on embedder", lambda c, s: rpc.PredictStub(c).PredictPair(pb.PredictPairRequest(inputs=["a", "b"]),
                                                                     metadata=MD + (("x-tei-model", s.service.name),)),
     "FAILED_PRECONDITION", "Model is not a classifier model"),
    ("unknown model", lambda c, s: rpc.EmbedStub(c).Embed(pb.EmbedRequest(inputs="a"),
                                                       metadata=MD + (("x-tei-model", "nope"),)),
     "NOT_FOUND", "'nope' is not loaded"),
    ("bad id", lambda c, s: rpc.TokenizeStub(c).Decode(pb.DecodeRequest(ids=[10**6]), metadata=MD),
     "INVALID_ARGUMENT", "not a token id"),
    ("over the body cap", lambda c, s: rpc.EmbedStub(c).Embed(pb.EmbedRequest(inputs="a" * 60_000), metadata=MD),
     "RESOURCE_EXHAUSTED", ""),
])
def test_each_error_has_its_status_and_the_server_keeps_serving(both, name, call, code, fragment):
    with pytest.raises(grpc.RpcError) as err:
        call(both.channel, both)
    assert err.value.code() == getattr(grpc.StatusCode, code), (name, err.value.details())
    assert fragment in (err.value.details() or ""), (name, err.value.details())
    assert "Traceback" not in (err.value.details() or "")
    assert rpc.EmbedStub(both.channel).Embed(pb.EmbedRequest(inputs="仍在服务"), metadata=MD).embeddings


def test_full_queue_is_resource_exhausted(tiny_service):
    """The batcher's 429 over HTTP is RESOURCE_EXHAUSTED over gRPC, answered at once."""
    from gte_ui.engine.batching import DynamicBatcher
    from gte_ui.frontends.grpc.server import serve_grpc

    gate, entered = threading.Event(), threading.Event()

    def gated_encode(texts):
        entered.set()
        gate.wait(timeout=30)
        return tiny_service.encoder.encode(texts)

    tiny_service.runner = DynamicBatcher(gated_encode, max_batch=4, wait_ms=0, max_queue=1)
    g = serve_grpc(tiny_service, tiny_service.settings, port=0, host="127.0.0.1")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{g.port}") as channel, ThreadPoolExecutor(2) as pool:
            stub = rpc.EmbedStub(channel)
            busy = pool.submit(stub.Embed, pb.EmbedRequest(inputs="占住模型"), timeout=60)
            assert entered.wait(10)
            waiting = pool.submit(stub.Embed, pb.EmbedRequest(inputs="排队"), timeout=60)
            deadline = time.time() + 10
            while tiny_service.runner.pending < 1 and time.time() < deadline:
                time.sleep(0.01)
            t0 = time.perf_counter()
            with pytest.raises(grpc.RpcError) as err:
                stub.Embed(pb.EmbedRequest(inputs="丙"), timeout=10)
            assert time.perf_counter() - t0 < 2.0
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "busy" in err.value.details()
            gate.set()
            assert busy.result().embeddings and waiting.result().embeddings
    finally:
        gate.set()
        g.wait(1)
        tiny_service.runner.close()


@pytest.mark.slow
def test_32_streams_for_30_seconds_without_an_error(both):
    """Load: 32 concurrent EmbedStream calls for 30 s (each a stream of requests), 0 errors."""
    stop_at = time.time() + 30
    counts = [0] * 32
    errors: list[str] = []

    def client(c: int) -> None:
        answered = threading.Semaphore(0)

        def requests_():  # closed loop, as a real client: the next message once the last is answered
            n = 0
            while time.time() < stop_at:
                yield pb.EmbedRequest(inputs=f"客户端{c}的第{n}句：{TEXTS[n % 3]}")
                answered.acquire()
                n += 1
        try:
            for answer in rpc.EmbedStub(both.channel).EmbedStream(requests_(), metadata=MD, timeout=90):
                assert len(answer.embeddings) == both.service.dim
                counts[c] += 1
                answered.release()
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none hidden
            errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and min(counts) > 0, (errors[:3], counts)
    assert health_pb2_grpc.HealthStub(both.channel).Check(health_pb2.HealthCheckRequest()).status == \
        health_pb2.HealthCheckResponse.SERVING


def test_sigterm_drains_in_flight_rpcs(tiny_model_dir, tmp_path):
    """A real ``serve --grpc-port`` process: calls in flight when SIGTERM lands are answered, new
    calls are refused, and the process exits 0 after its drain."""
    from conftest import AppProcess, free_port

    port = free_port()
    # a 1 s batching window keeps the calls in flight long enough to catch them mid-way
    app = AppProcess(tiny_model_dir, tmp_path, "--grpc-port", str(port), "--batch-wait-ms", "1000",
                     "--shutdown-timeout", "20").start()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = rpc.EmbedStub(channel)
        assert stub.Embed(pb.EmbedRequest(inputs="预热")).embeddings  # warm, so the next ones wait on the window
        with ThreadPoolExecutor(8) as pool:
            calls = [pool.submit(stub.Embed, pb.EmbedRequest(inputs=f"第{i}句"), timeout=60) for i in range(8)]
            time.sleep(0.4)
            app.proc.send_signal(signal.SIGTERM)
            answers = [c.result() for c in calls]
        assert all(len(a.embeddings) == 32 for a in answers)
        code = app.proc.wait(timeout=40)
        with pytest.raises(grpc.RpcError) as err:
            stub.Embed(pb.EmbedRequest(inputs="之后"), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        channel.close()
    finally:
        app.stop()
    assert code == 0 and "drained and stopped" in app.log
    assert f"gRPC (tei.v1) on 127.0.0.1:{port}" in app.log
