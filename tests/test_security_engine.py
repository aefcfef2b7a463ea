"""Issue 26, engine and service side: fairness and bounded work, no cache oracle, checked shared-cache
entries, invisible and control characters, JSON only as JSON.

Real code paths throughout: the tiny random BERT, the real MiniLM tokenizer, a real redis-server,
the whole app on loopback, the serverless handler and the CLI.
"""

from __future__ import annotations

import json
import random
import threading
import time

import numpy as np
import pytest
import redis
import requests
from test_contract import gradio_call_error, invoke, run_cli

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.engine.batching import DynamicBatcher
from gte_ui.engine.caches.local import CachedVector
from gte_ui.engine.encoder import Encoder
from gte_ui.engine.caches.shared import SharedCache, pack, shared_key
from gte_ui.service.options import TextOptions

COMMON = "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家"


def maximal_texts(n: int = 256, chars: int = 19_990, seed: int = 0) -> list[str]:
    """The issue's request: 256 texts just inside the 20,000-character limit."""
    rng = random.Random(seed)
    return ["".join(rng.choices(COMMON, k=chars)) for _ in range(n)]


# ------------------------------------------------------------------ fairness (item 4)
@pytest.mark.slow
def test_a_small_request_is_answered_while_a_maximal_one_runs(tiny_settings):
    """The maximal request runs in a thread; once its model work has begun, a 1-text request is
    sent. It must be answered before the big one ends (it used to wait for all of it) and fast."""
    from gte_ui.service.service import EmbeddingService

    svc = EmbeddingService.from_settings(tiny_settings)
    try:
        big = maximal_texts()
        done: dict[str, float] = {}
        before = svc.encoder.forward_calls

        def run_big() -> None:
            svc.embed(big)
            done["big"] = time.monotonic()

        worker = threading.Thread(target=run_big)
        worker.start()
        deadline = time.monotonic() + 60
        while svc.encoder.forward_calls == before and time.monotonic() < deadline:
            time.sleep(0.001)
        assert svc.encoder.forward_calls > before, "the maximal request never reached the model"
        t0 = time.monotonic()
        small = svc.embed(["一句很短的话"])
        done["small"] = time.monotonic()
        worker.join(timeout=120)
        assert "big" in done and small.vectors.shape == (1, svc.dim)
        assert done["small"] < done["big"], "the small request waited for the whole maximal one"
        assert done["small"] - t0 < 3.0  # the bound, on a 2-core box
        assert svc.runner.batches > 4  # the big request ran in slices, not one call
    finally:
        svc.close()


def test_the_batcher_interleaves_a_big_request_with_a_later_small_one(tiny_encoder):
    """Deterministic order: the big request's first slice is held at a gate; a small request comes
    in; it rides the very next call, and the big one's rows come back whole and right."""
    gate, entered, calls = threading.Event(), threading.Event(), []

    def encode(texts):
        calls.append(list(texts))
        entered.set()
        gate.wait(timeout=30)
        return tiny_encoder.encode(texts)

    batcher = DynamicBatcher(encode, max_batch=16, wait_ms=0)  # slices of 16 // 4 = 4 texts
    big = [f"第{i}句比较长的文本内容" for i in range(40)]
    try:
        out: dict[str, object] = {}
        t_big = threading.Thread(target=lambda: out.setdefault("big", batcher.submit(big)))
        t_big.start()
        assert entered.wait(10)
        t_small = threading.Thread(target=lambda: out.setdefault("small", batcher.submit(["小请求"])))
        t_small.start()
        deadline = time.monotonic() + 10
        while batcher.pending < 37 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert batcher.pending == 37  # 36 of the big one's texts and the small one wait
        gate.set()
        t_small.join(30)
        t_big.join(30)
        assert calls[1] == ["小请求"]  # the next call, alone: not after the other 9 slices
        assert max(len(c) for c in calls) <= 4 and len(calls) == 11
        np.testing.assert_allclose(out["big"].vectors, tiny_encoder.encode(big).vectors, atol=1e-5)
        assert out["big"].token_counts == tiny_encoder.encode(big).token_counts
    finally:
        gate.set()
        batcher.close()


def test_a_failing_slice_fails_its_request_only(tiny_encoder):
    def encode(texts):
        if "坏" in texts:
            raise ValueError("bad text")
        return tiny_encoder.encode(texts)

    batcher = DynamicBatcher(encode, max_batch=8, wait_ms=0)
    try:
        with pytest.raises(ValueError, match="bad text"):
            batcher.submit([f"好{i}" for i in range(10)] + ["坏"] + [f"好{i}" for i in range(10, 20)])
        assert batcher.pending == 0  # the failed request's rest no longer waits
        assert batcher.submit(["好的"]).vectors.shape == (1, 32)
    finally:
        batcher.close()


@pytest.mark.parametrize("which", ["tiny", "minilm"])
def test_head_tokenisation_gives_the_whole_texts_ids(which, tiny_encoder, minilm_dir):
    """Only a head of each text is tokenised, yet the ids the model reads are exactly the
    tokenizer's own truncation of the whole text, also where the head ends inside a word of over
    100 characters (one [UNK] to BERT whole, pieces when cut); counts are exact below the limit."""
    from gte_ui.core.settings import Settings

    enc = tiny_encoder if which == "tiny" else Encoder.load(Settings(model=str(minilm_dir), device="cpu",
                                                                    precision="fp32"))
    rng = random.Random(1)
    words = ["hello", "world", "international", "naïve", "café", "🙂", "東京", "x" * 120, "e.g.", "3.14159"]
    texts = []
    for n in (5, 100, 300, 600, 1_000, 5_000, 19_990):
        texts.append("".join(rng.choice(COMMON) for _ in range(n)))
        texts.append(" ".join(rng.choice(words) for _ in range(n // 5))[:n])
        texts.append("".join(rng.choice(words + list(COMMON)) for _ in range(n // 3))[:n])
    texts.append("a" * 19_990)
    ids, counts, truncated = enc.tokenize(texts)
    whole = enc.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    cut = enc.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=enc.max_length)["input_ids"]
    assert ids == cut
    assert truncated == [len(w) > enc.max_length for w in whole]
    assert [c for c, t in zip(counts, truncated) if not t] == [len(w) for w, t in zip(whole, truncated) if not t]


def test_counting_a_maximal_request_is_cheap(tiny_encoder):
    """256 x 19,990 characters: tokenising them whole took 27 s and hundreds of MB on the 2-core box."""
    texts = maximal_texts()
    t0 = time.perf_counter()
    ids, counts, truncated = tiny_encoder.tokenize(texts)
    assert time.perf_counter() - t0 < 5.0
    assert all(truncated) and all(len(x) == tiny_encoder.max_length for x in ids)
    assert all(abs(c - 19_992) < 19_992 * 0.05 for c in counts)  # one token per character, estimated


def test_one_request_may_cost_at_most_max_tokens_per_request(tiny_encoder, tiny_settings):
    from gte_ui.service.service import EmbeddingService

    svc = EmbeddingService(tiny_encoder, tiny_settings.replace(max_tokens_per_request=1_000))
    calls = tiny_encoder.forward_calls
    with pytest.raises(GteError) as err:
        svc.embed(["这是一段比较长的文本" * 20] * 3 + [f"第{i}段" * 40 for i in range(8)])
    assert err.value.error_type is ErrorType.TOO_LARGE and err.value.status_code == 413
    assert "--max-tokens-per-request" in err.value.message and "at most 1,000" in err.value.message
    assert tiny_encoder.forward_calls == calls  # refused before any model work
    assert svc.embed(["短句"] * 5).vectors.shape == (5, 32)  # small requests still pass
    calls = tiny_encoder.forward_calls
    # chunked windows count too: the default limit refuses the request at once
    default = EmbeddingService(tiny_encoder, tiny_settings)
    t0 = time.perf_counter()
    with pytest.raises(GteError, match="every window of its long texts"):
        default.embed(maximal_texts(), options=TextOptions(long_text="chunk"))
    assert time.perf_counter() - t0 < 10 and tiny_encoder.forward_calls == calls


def test_the_budget_is_a_413_over_http(live_server):
    r = requests.post(live_server.url + "/v1/embeddings", timeout=60,
                      json={"input": maximal_texts(64), "long_text": "chunk"})
    assert r.status_code == 413 and "--max-tokens-per-request" in json.dumps(r.json(), ensure_ascii=False)


# ------------------------------------------------------------------ no cache oracle (item 6)
def test_no_answer_says_whether_it_came_from_the_cache(live_server, tiny_service):
    for _ in range(2):  # the second of each is a cache hit
        pair = tiny_service.pair("我的工资是两万", "今天天气很好")
        emb = tiny_service.embed(["我的工资是两万"])
        rer = tiny_service.rerank("工资", ["我的工资是两万", "今天天气很好"])
    assert emb.cached == 1 and tiny_service.cache.hits > 0  # it was a hit, counted for /metrics
    for d in (pair.to_dict(), emb.to_dict(), rer.to_dict()):
        assert "cached" not in d
    for path, body in (("/similarity", {"sentence_a": "我的工资是三万", "sentence_b": "天气"}),
                       ("/v1/embeddings", {"input": ["我的工资是三万"]}),
                       ("/rerank", {"query": "工资", "docs": ["我的工资是三万"]})):
        for _ in range(2):
            r = requests.post(live_server.url + path, json=body, timeout=30)
        assert r.ok and "cached" not in r.text, path


# ------------------------------------------------------------------ shared-cache entries (item 8)
def _tamper(svc, redis_server, text: str, raw: bytes) -> str:
    key = shared_key(f"{svc._key_prefix}|truncate|", text)
    redis.Redis.from_url(redis_server.url).set(key, raw)
    return key


@pytest.mark.redis
def test_planted_shared_entries_are_misses_recomputed_and_counted(tiny_encoder, tiny_settings, redis_server):
    from gte_ui.frontends.http.metrics import ServiceCollector
    from gte_ui.service.service import EmbeddingService

    def fresh(**kw):
        return EmbeddingService(tiny_encoder, tiny_settings, shared=SharedCache(redis_server.url, **kw))

    texts = ["今天天气很好", "手机电量很耐用", "充电速度特别快", "我想借钱"]
    truth = tiny_encoder.encode(texts)
    writer = fresh()
    writer.embed(texts)
    assert writer.shared.flush()
    key = shared_key(f"{writer._key_prefix}|truncate|", texts[0])
    nan = np.full(32, np.nan, np.float32)
    _tamper(writer, redis_server, texts[0], pack(key, CachedVector(nan, 8, False)))
    key1 = shared_key(f"{writer._key_prefix}|truncate|", texts[1])
    _tamper(writer, redis_server, texts[1], pack(key1, CachedVector(truth.vectors[1], 9, False))[:-8])  # 30 floats
    other = shared_key(f"{writer._key_prefix}|truncate|", texts[3])
    _tamper(writer, redis_server, texts[2], pack(other, CachedVector(truth.vectors[3], 6, False)))  # copied
    _tamper(writer, redis_server, texts[3], pack(other, CachedVector(truth.vectors[3] * 2, 6, False)))
    reader = fresh()
    before = tiny_encoder.texts_encoded
    res = reader.embed(texts)
    np.testing.assert_allclose(res.vectors, truth.vectors, atol=1e-6)  # the model's, not the planted ones
    assert res.cached == 0 and tiny_encoder.texts_encoded == before + 4
    assert reader.shared.stats()["rejected"] == {"non_finite": 1, "width": 1, "key": 1, "norm": 1}
    families = {f.name: f for f in ServiceCollector(reader).collect()}
    samples = {s.labels["reason"]: s.value for s in families["gte_cache_rejected"].samples}
    assert samples == {"non_finite": 1, "width": 1, "key": 1, "norm": 1}
    assert reader.shared.flush()  # the recomputed vectors were written over the bad ones
    again = fresh()
    assert again.embed(texts).cached == 4 and again.shared.stats()["rejected"] == {}
    # a similarity over a planted NaN used to answer score null, "100 %", "Different"
    _tamper(writer, redis_server, texts[0], pack(key, CachedVector(nan, 8, False)))
    pair = fresh().pair(texts[0], texts[1])
    assert np.isfinite(pair.score) and 0 <= pair.percent <= 100
    for svc in (writer, reader, again):
        svc.close()


@pytest.mark.redis
def test_with_a_secret_only_signed_entries_are_served(tiny_encoder, tiny_settings, redis_server):
    from gte_ui.service.service import EmbeddingService, shared_from_settings

    settings = tiny_settings.replace(cache_url=redis_server.url, cache_secret="operator-secret")
    text = "花呗怎么提前还款"
    truth = tiny_encoder.encode([text]).vectors[0]
    signed = EmbeddingService(tiny_encoder, settings, shared=shared_from_settings(settings))
    key = shared_key(f"{signed._key_prefix}|truncate|", text)
    forged = truth[::-1].copy()  # finite, unit norm, right width, its own key: only the signature tells
    _tamper(signed, redis_server, text, pack(key, CachedVector(forged, 10, False)))
    res = signed.embed([text])
    np.testing.assert_allclose(res.vectors[0], truth, atol=1e-6)
    assert signed.shared.stats()["rejected"] == {"signature": 1}
    _tamper(signed, redis_server, text, pack(key, CachedVector(forged, 10, False), b"a guessed secret"))
    second = EmbeddingService(tiny_encoder, settings, shared=shared_from_settings(settings))
    np.testing.assert_allclose(second.embed([text]).vectors[0], truth, atol=1e-6)
    assert second.shared.stats()["rejected"] == {"signature": 1}
    assert second.shared.flush()
    third = EmbeddingService(tiny_encoder, settings, shared=shared_from_settings(settings))
    assert third.embed([text]).cached == 1  # its own signed entry is a hit
    assert "operator-secret" not in repr(settings)
    for svc in (signed, second, third):
        svc.close()


# ------------------------------------------------------------------ invisible and control characters (item 10)
@pytest.mark.parametrize("text", ["\u200b", "\u200d", "\u0301", "\u202e\u200f", "\ufeff", " \u200b\u00ad "])
def test_invisible_only_texts_are_refused_not_scored_as_empty(tiny_service, text):
    with pytest.raises(GteError) as err:
        tiny_service.pair(text, "\u200d")
    assert err.value.error_type is ErrorType.EMPTY and err.value.status_code == 422
    assert "only invisible characters" in err.value.message and "不可见字符" in err.value.message


@pytest.mark.parametrize("text, code, at", [("a\x00b", "0000", 1), ("ding\x07", "0007", 4), ("\x1b[31mred", "001B", 0),
                                            ("x\x7f", "007F", 1), ("caf\x85", "0085", 3)])
def test_control_characters_are_refused_as_documented(tiny_service, text, code, at):
    with pytest.raises(GteError) as err:
        tiny_service.embed(["ok", text])
    assert err.value.status_code == 422
    assert f"texts[1] has a control character U+{code} at character {at}" in err.value.message
    assert tiny_service.embed(["tab\there\nnew line\r\n"]).vectors.shape == (1, 32)  # whitespace is fine


def test_every_front_end_refuses_invisible_and_control_texts(live_server, serverless_instance, capsys,
                                                             tiny_model_dir):
    from gradio_client import Client

    gradio = Client(live_server.url, verbose=False)
    r = requests.post(live_server.url + "/similarity", json={"sentence_a": "\u200b", "sentence_b": "好"}, timeout=30)
    assert r.status_code == 422 and "sentence A has only invisible characters (U+200B" in r.json()["error"]
    r = requests.post(live_server.url + "/v1/embeddings", json={"input": ["ok", "bell\x07"]}, timeout=30)
    assert r.status_code == 422 and "input[1] has a control character U+0007" in r.json()["error"]["message"]
    status, body = invoke("/similarity", {"sentence_a": "好", "sentence_b": "\u0301"})
    assert status == 422 and "sentence B has only invisible characters" in body["error"]
    assert "sentence A has a control character U+001B at character 0" in gradio_call_error(
        live_server.url, gradio, "similarity", ["\x1b[0m", "b"])
    rc, _, err = run_cli(capsys, tiny_model_dir, "similarity", "\u200d", "b")
    assert rc == 2 and "sentence A has only invisible characters" in err


# ------------------------------------------------------------------ JSON only as JSON (item 10)
@pytest.mark.parametrize("path", ["/similarity", "/v1/embeddings", "/embed", "/rerank", "/v1/rerank", "/api/predict"])
@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None])
def test_json_routes_refuse_bodies_not_sent_as_json(live_server, path, content_type):
    body = json.dumps({"sentence_a": "a", "sentence_b": "b", "input": ["a"], "inputs": ["a"], "query": "q",
                       "documents": ["d"], "data": ["a", "b"]}).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    r = requests.post(live_server.url + path, data=body, headers=headers, timeout=30)
    assert r.status_code == 415, (path, content_type, r.text)
    assert "application/json" in r.text
    ok = requests.post(live_server.url + "/similarity", json={"sentence_a": "a", "sentence_b": "b"}, timeout=30)
    assert ok.status_code == 200


def test_serverless_refuses_a_body_its_event_says_is_not_json(serverless_instance):
    from gte_ui.frontends import serverless

    res = serverless.handler({"rawPath": "/similarity", "requestContext": {"http": {"method": "POST"}},
                              "headers": {"Content-Type": "text/plain"},
                              "body": json.dumps({"sentence_a": "a", "sentence_b": "b"})}, None)
    assert res["statusCode"] == 415
    status, _ = invoke("/similarity", {"sentence_a": "a", "sentence_b": "b"})  # a direct invoke has no headers
    assert status == 200
