"""Embedding: each text tokenised once per request, chunk mode through the batcher's queue limit."""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.engine.batching import DynamicBatcher
from gte_ui.service import embed
from gte_ui.service.options import read_options
from gte_ui.service.service import EmbeddingService

TEXTS = ["今天天气很好", "我喜欢吃苹果 🍎", "机器学习" * 60]


class CountingTokenizer:
    """The model's tokenizer, counting how often each text (or head of one) is tokenised."""

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        self.seen: Counter[str] = Counter()

    def __call__(self, texts, *args, **kwargs):
        for t in [texts] if isinstance(texts, str) else texts:
            self.seen[t] += 1
        return self._tokenizer(texts, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


@pytest.fixture()
def counted(tiny_encoder, monkeypatch):
    tiny_encoder.special_frame()  # probed once per encoder, before any request
    counting = CountingTokenizer(tiny_encoder.tokenizer)
    monkeypatch.setattr(tiny_encoder, "tokenizer", counting)
    return counting


def _times_each_text(counting: CountingTokenizer) -> list[int]:
    return [sum(n for t, n in counting.seen.items() if text.startswith(t) and t) for text in TEXTS]


def test_a_missed_text_is_tokenised_once(counted, tiny_encoder, tiny_settings):
    """Weighing (a budget tight enough to count), inspecting and encoding share one pass (main
    tokenised such a text three times: for the budget, for unknown tokens, for the model)."""
    svc = EmbeddingService(tiny_encoder, tiny_settings.replace(max_tokens_per_request=2 * tiny_encoder.max_length))
    res = svc.embed(TEXTS)
    assert _times_each_text(counted) == [1, 1, 1]
    assert res.unknown_token_ratio[1] > 0 and res.unknown_token_ratio[0] == 0  # 🍎 is not in the vocabulary
    counted.seen.clear()
    again = svc.embed(TEXTS)  # cached: tokenised once, for the unknown-token report only
    assert _times_each_text(counted) == [1, 1, 1] and again.unknown_token_ratio == res.unknown_token_ratio
    counted.seen.clear()
    chunking = EmbeddingService(tiny_encoder, tiny_settings.replace(max_tokens_per_request=4 * tiny_encoder.max_length))
    chunking.embed(TEXTS, options=read_options({"long_text": "chunk"}))  # a head for budget and inspection, windows whole
    assert _times_each_text(counted) == [2, 2, 2]


def test_pre_tokenised_texts_give_bit_identical_vectors(tiny_encoder, tiny_service):
    plain = tiny_encoder.encode(TEXTS)
    assert np.array_equal(tiny_service.embed(TEXTS).vectors, plain.vectors)
    once = tiny_encoder.encode(tiny_encoder.tokenize_once(TEXTS))
    assert np.array_equal(once.vectors, plain.vectors) and once.token_counts == plain.token_counts


class HeldEncoder:
    """The encoder, held at its first call until released: the batcher's queue then fills."""

    def __init__(self, encoder) -> None:
        self.encoder, self.entered, self.release = encoder, threading.Event(), threading.Event()

    def __call__(self, texts):
        self.entered.set()
        self.release.wait(timeout=30)
        return self.encoder.encode(texts)


def test_a_chunked_request_waits_in_the_batchers_queue_and_gets_429_when_it_is_full(tiny_service):
    """Chunk mode used to call the encoder directly, past the queue: never a 429."""
    held = HeldEncoder(tiny_service.encoder)
    tiny_service.runner = DynamicBatcher(held, max_batch=4, wait_ms=0, max_queue=1)
    chunk = read_options({"long_text": "chunk"})
    callers = [threading.Thread(target=tiny_service.embed, args=([text],)) for text in ("占住模型", "排队")]
    try:
        callers[0].start()
        assert held.entered.wait(10)
        callers[1].start()
        for _ in range(1000):
            if tiny_service.runner.pending:
                break
            threading.Event().wait(0.01)
        with pytest.raises(GteError) as err:
            tiny_service.embed(["长文本" * 100], options=chunk)
        assert err.value.error_type is ErrorType.OVERLOADED
    finally:
        held.release.set()
        for caller in callers:
            caller.join(10)
        tiny_service.runner.close()
    tiny_service.runner = DynamicBatcher(tiny_service.encoder.encode, max_queue=1)
    res = embed.embed(tiny_service, ["长文本" * 100], options=chunk)  # an empty queue: served, in windows
    assert res.chunks == [3]
    np.testing.assert_allclose(res.vectors, tiny_service.encoder.encode_chunked(["长文本" * 100]).vectors, atol=1e-6)
    tiny_service.runner.close()


def test_embed_corpus_runs_without_the_cache(tiny_service):
    res = embed.embed_corpus(tiny_service, ["甲乙", "丙丁"], ["line 1", "line 2"])
    assert res.cached == 0 and len(tiny_service.cache) == 0 and res.vectors.shape == (2, tiny_service.dim)
    with pytest.raises(GteError, match="line 2"):
        embed.embed_corpus(tiny_service, ["甲乙", ""], ["line 1", "line 2"])
