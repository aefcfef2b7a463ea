"""The service over the tiny real model: validation before model work, caching, ranking, matrix."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gte_ui.core.bands import load_bands
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.scoring import VerdictBands, verdict
from gte_ui.core.textnorm import clean_text, split_lines
from gte_ui.service.service import EmbeddingService

SOURCE = "这款手机电池续航很强"
CANDIDATES = ["手机电量很耐用", "这台设备待机时间久", "电池容量大，用一天没问题", "充电速度特别快"]


def test_pair_matches_manual_cosine(tiny_service, tiny_encoder):
    r = tiny_service.pair(SOURCE, CANDIDATES[0])
    v = tiny_encoder.encode([SOURCE, CANDIDATES[0]]).vectors
    assert r.score == pytest.approx(float(v[0] @ v[1]), abs=1e-6)
    assert r.percent == pytest.approx(max(0, r.score) * 100, abs=0.01)
    assert r.tokens_a == 12 and r.tokens_b == 9 and not r.truncated_a
    # the tiny model scores this pair about 0.85: above SPEC's default high band (0.75)
    assert r.score > 0.75 and r.verdict.zh == "高度相似" and r.elapsed_ms >= 0


@pytest.mark.parametrize(("high", "mid", "zh"), [(0.95, 0.6, "中等相似"), (0.99, 0.95, "差异较大")])
def test_pair_verdict_follows_the_configured_bands(tiny_encoder, tiny_settings, high, mid, zh):
    service = EmbeddingService(tiny_encoder, tiny_settings.replace(verdict_high=high, verdict_mid=mid))
    r = service.pair(SOURCE, CANDIDATES[0])  # about 0.85: between 0.6 and 0.95, below 0.95
    assert service.bands == VerdictBands(high=high, mid=mid, source=service.bands.source)
    assert r.verdict.zh == zh and r.default_verdict.zh == "高度相似"


def test_cache_hits_and_no_second_forward(tiny_service):
    tiny_service.pair(SOURCE, CANDIDATES[0])
    calls = tiny_service.encoder.forward_calls
    again = tiny_service.pair(CANDIDATES[0], SOURCE)
    assert tiny_service.encoder.forward_calls == calls  # both from cache
    assert tiny_service.cache.hits >= 2
    first = tiny_service.embed([SOURCE]).vectors[0]
    assert again.score == pytest.approx(float(first @ tiny_service.embed([CANDIDATES[0]]).vectors[0]))


def test_duplicates_in_one_request_are_embedded_once(tiny_service):
    before = tiny_service.encoder.texts_encoded  # the encoder is shared by the whole session
    res = tiny_service.embed(["重复", "重复", "不同"])
    assert tiny_service.encoder.texts_encoded - before == 2
    assert np.array_equal(res.vectors[0], res.vectors[1])
    assert res.cached == 0 and res.vectors.shape == (3, 32)


def test_rank_orders_and_keeps_input_indices(tiny_service):
    r = tiny_service.rank(SOURCE, CANDIDATES + [CANDIDATES[1]])
    scores = [row.score for row in r.rows]
    assert scores == sorted(scores, reverse=True)
    assert [row.rank for row in r.rows] == [1, 2, 3, 4, 5]
    assert sorted(row.index for row in r.rows) == [0, 1, 2, 3, 4]
    dup = [row for row in r.rows if row.duplicate]
    assert len(dup) == 1 and dup[0].index == 4  # the later copy is marked
    # the duplicate and its original tie: stable order puts the original first
    orig = next(row for row in r.rows if row.index == 1)
    assert orig.rank < dup[0].rank and orig.score == dup[0].score
    assert len(r.scores) == 5 and r.total == 5


def test_rank_top_k(tiny_service):
    r = tiny_service.rank(SOURCE, CANDIDATES, top_k=2)
    assert len(r.rows) == 2 and r.total == 4
    with pytest.raises(GteError, match="top_k must be a positive integer"):
        tiny_service.rank(SOURCE, CANDIDATES, top_k=0)


def test_matrix(tiny_service):
    m = tiny_service.matrix(CANDIDATES)
    assert m.scores.shape == (4, 4)
    np.testing.assert_allclose(np.diag(m.scores), 1.0, atol=1e-5)
    with pytest.raises(GteError, match="at least 2 texts"):
        tiny_service.matrix(["只有一句"])


@pytest.mark.parametrize("call, error_type, fragment", [
    (lambda s: s.pair("", "b"), ErrorType.EMPTY, "sentence A is empty"),
    (lambda s: s.pair("a", "   \n\t"), ErrorType.EMPTY, "sentence B is empty"),
    (lambda s: s.pair("a", 5), ErrorType.VALIDATION, "sentence B must be a string, got int"),
    (lambda s: s.pair("字" * 20_001, "b"), ErrorType.TOO_LONG, "20,001 characters; the limit is 20,000"),
    (lambda s: s.rank("a", []), ErrorType.EMPTY, "no candidates given"),
    (lambda s: s.rank("a", ["x"] * 1001), ErrorType.TOO_MANY, "1,001 candidates given; the limit is 1,000"),
    (lambda s: s.rank("a", ["x", ""]), ErrorType.EMPTY, "candidates[1] is empty"),
    (lambda s: s.embed("not a list"), ErrorType.VALIDATION, "texts must be a list of strings"),
    (lambda s: s.embed(["a"] * 257), ErrorType.TOO_MANY, "the limit is 256"),
    (lambda s: s.matrix(["a"] * 51), ErrorType.TOO_MANY, "the limit is 50"),
])
def test_bad_input_is_refused_before_model_work(tiny_service, call, error_type, fragment):
    calls = tiny_service.encoder.forward_calls
    with pytest.raises(GteError) as err:
        call(tiny_service)
    assert err.value.error_type is error_type
    assert fragment in err.value.message
    assert tiny_service.encoder.forward_calls == calls


def test_hostile_characters_are_embedded_not_crashing(tiny_service):
    texts = ["a\tb\nc", "emoji 😀👍", "\u202eRTL mark", "混合 mixed 文字"]
    res = tiny_service.embed(texts)
    assert res.vectors.shape == (4, 32) and np.isfinite(res.vectors).all()
    with pytest.raises(GteError, match="texts\\[0\\] has a control character U\\+0000 at character 1"):
        tiny_service.embed(["a\x00b"])  # NUL is refused as docs/security.md promises (it was a space)


def test_lone_surrogates_are_refused_naming_field_and_position(tiny_service):
    calls = tiny_service.encoder.forward_calls
    with pytest.raises(GteError) as err:
        tiny_service.embed(["fine", "ab\ud800lone surrogate"])
    assert err.value.error_type is ErrorType.VALIDATION and err.value.status_code == 422
    assert "texts[1] has a lone surrogate U+D800 at character 2" in err.value.message
    with pytest.raises(GteError) as err:
        tiny_service.pair("a", "\udfff")
    assert "sentence B has a lone surrogate U+DFFF at character 0" in err.value.message
    assert tiny_service.encoder.forward_calls == calls  # refused before any model work


def test_clean_text_and_split_lines():
    assert clean_text("  a\x00b \n") == "a b"
    assert clean_text("x\ud800y") == "x\ufffdy"
    assert split_lines("a\n\n  b  \r\n\t\nc") == ["a", "b", "c"]


def test_verdict_bands_from_settings(tiny_encoder, tiny_settings):
    svc = EmbeddingService(tiny_encoder, tiny_settings.replace(verdict_high=0.9, verdict_mid=0.8))
    assert (svc.bands.high, svc.bands.mid, svc.bands.source) == (0.9, 0.8, "settings")


def test_set_bands_is_one_consistent_swap(tiny_encoder, tiny_settings, tmp_path):
    """Concurrent saves and scoring: every answer's verdict matches the bands it reports, and the
    file on disk holds the bands in use."""
    service = EmbeddingService(tiny_encoder, tiny_settings.replace(calibration_dir=str(tmp_path)))
    candidates = [VerdictBands(high=0.5 + i / 100, mid=0.1 + i / 100, source=f"t{i}") for i in range(20)]
    results, errors = [], []

    def save(bands):
        try:
            service.set_bands(bands)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def score():
        for _ in range(20):
            results.append(service.pair("今天天气很好", "我想借钱"))

    threads = [threading.Thread(target=save, args=(b,)) for b in candidates] + [threading.Thread(target=score)
                                                                                for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 60
    assert all(r.verdict == verdict(r.score, r.bands) for r in results)
    on_disk = load_bands(tiny_settings.model, tmp_path)
    assert (on_disk.high, on_disk.mid) == (service.bands.high, service.bands.mid)
    with pytest.raises(Exception, match="VerdictBands"):
        service.set_bands({"high": 0.9, "mid": 0.1})

