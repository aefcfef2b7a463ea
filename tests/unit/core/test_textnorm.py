"""Long texts (chunked embedding) and optional text normalisation, on the real tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.core.settings import Settings
from gte_ui.core.textnorm import TextNorm
from gte_ui.engine.encoder import Encoder
from gte_ui.service.options import TextOptions
from gte_ui.service.service import EmbeddingService
from gte_ui.testing.toymodel import _COMMON_ZH


def long_chinese(n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    chars = sorted(set(_COMMON_ZH))
    return "".join(chars[i] for i in rng.integers(0, len(chars), n))


@pytest.fixture(scope="module")
def svc(tiny_model_dir):
    service = EmbeddingService(Encoder.load(Settings(model=str(tiny_model_dir), precision="fp32", max_length=64)),
                               Settings(model=str(tiny_model_dir), precision="fp32"))
    return service


def test_5000_characters_chunk_uses_all_truncate_does_not(svc):
    text = long_chinese(5000, 0)
    other_end = text[:-200] + long_chinese(200, 1)
    chunk_a, chunk_b = svc.embed([text, other_end], options=TextOptions(long_text="chunk")).vectors
    assert float(chunk_a @ chunk_b) < 1 - 1e-4  # changing the end changes the vector
    cut_a, cut_b = svc.embed([text, other_end], options=TextOptions(long_text="truncate")).vectors
    np.testing.assert_allclose(cut_a, cut_b, atol=1e-6)  # truncate never sees the end
    res = svc.embed([text], options=TextOptions(long_text="chunk"))
    assert res.token_counts == [5002] and res.chunks[0] == 109 and res.truncated == [False]
    assert abs(np.linalg.norm(res.vectors[0]) - 1) < 1e-5
    trunc = svc.embed([text], options=TextOptions(long_text="truncate"))
    assert trunc.truncated == [True] and trunc.chunks == [1]


def test_chunk_mode_equals_plain_encoding_for_short_texts(svc):
    short = ["今天天气很好", "我想借钱"]
    np.testing.assert_allclose(svc.embed(short, options=TextOptions(long_text="chunk")).vectors,
                               svc.encoder.encode(short).vectors, atol=1e-6)


def test_chunk_count_is_bounded(tiny_model_dir):
    enc = Encoder.load(Settings(model=str(tiny_model_dir), precision="fp32", max_length=16))
    out = enc.encode_chunked([long_chinese(3000, 2)], max_chunks=8)
    assert out.chunks == [8] and out.truncated == [True]


def test_bad_long_text_mode(svc):
    with pytest.raises(GteError, match="long_text must be one of truncate, chunk"):
        svc.embed(["a"], options=TextOptions(long_text="split"))  # refused when the options are built


def test_traditional_and_simplified_match_only_with_the_toggle(svc):
    trad, simp = "蘋果手機很好用", "苹果手机很好用"
    ids = svc.encoder.tokenize([trad, simp])[0]
    assert ids[0] != ids[1] and svc.encoder.tokenizer.unk_token_id not in ids[0] + ids[1]  # real, different ids
    off = svc.embed([trad, simp]).vectors
    assert not np.allclose(off[0], off[1], atol=1e-4)
    on = svc.embed([trad, simp], options=TextOptions(t2s=True)).vectors
    assert np.array_equal(on[0], on[1])


def test_nfkc_and_whitespace(svc):
    full, half = "ＡＢＣ１２３，今天", "ABC123,今天"
    assert TextNorm(nfkc=True).apply(full) == half
    assert TextNorm(collapse_whitespace=True).apply("今天  \t 天气\n\n很好") == "今天 天气 很好"
    v = svc.embed([full, half], options=TextOptions(nfkc=True)).vectors
    assert np.array_equal(v[0], v[1])
    assert TextNorm().key() == "" and TextNorm(t2s=True, nfkc=True).key() == "t2s+nfkc"


def test_cache_keys_on_normalised_text_and_mode(svc):
    svc.embed(["蘋果手機"], options=TextOptions(t2s=True))
    hits = svc.cache.hits
    svc.embed(["苹果手机"], options=TextOptions(t2s=True))
    assert svc.cache.hits == hits + 1  # same normalised text -> cache hit
    svc.embed(["苹果手机"], options=TextOptions(long_text="chunk"))
    assert svc.cache.hits == hits + 1  # another mode -> its own entry
