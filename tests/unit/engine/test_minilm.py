"""Correctness against sentence-transformers and human labels, on the real all-MiniLM-L6-v2.

MiniLM knows no Chinese: these tests prove the plumbing (loading a sentence-transformers
folder, mean pooling, normalising, truncation), not Chinese quality.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from gte_ui.core.settings import Settings
from gte_ui.engine.encoder import Encoder
from gte_ui.core.scoring import spearman

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    return Encoder.load(Settings(model=str(minilm_dir), device="cpu", precision="fp32"))


@pytest.fixture(scope="module")
def st_model(minilm_dir):
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(minilm_dir), device="cpu")


@pytest.fixture(scope="module")
def stsb_vectors(minilm, stsb_en):
    return minilm.encode(stsb_en.a).vectors, minilm.encode(stsb_en.b).vectors


def test_folder_pooling_config_is_honoured(minilm):
    assert minilm.pooling == "mean" and minilm.dim == 384
    assert not minilm.backend.first_token_only  # mean pooling reads every token's state
    assert minilm.max_length == 256  # sentence_bert_config.json's max_seq_length


def test_vectors_equal_sentence_transformers(minilm, st_model, stsb_en):
    texts = stsb_en.a[:200] + ["A very long sentence " * 80]  # includes one over 256 tokens
    ours = minilm.encode(texts)
    theirs = st_model.encode(texts, normalize_embeddings=True, batch_size=32)
    np.testing.assert_allclose(ours.vectors, theirs, atol=1e-5)
    assert ours.truncated[-1] and not any(ours.truncated[:-1])


def test_stsb_spearman_equals_sentence_transformers(minilm, st_model, stsb_en, stsb_vectors):
    va, vb = stsb_vectors
    ours = spearman((va * vb).sum(1), stsb_en.labels)
    ea = st_model.encode(stsb_en.a, normalize_embeddings=True)
    eb = st_model.encode(stsb_en.b, normalize_embeddings=True)
    theirs = spearman((ea * eb).sum(1), stsb_en.labels)
    print(f"\nSTS-B test Spearman: ours {ours:.4f}, sentence-transformers {theirs:.4f}")
    assert len(stsb_en) == 1379
    assert ours == pytest.approx(theirs, abs=0.001)
    assert ours == pytest.approx(0.8203, abs=0.001)  # the published figure


def test_int8_stays_close_to_fp32(minilm_dir, stsb_en, stsb_vectors):
    enc8 = Encoder.load(Settings(model=str(minilm_dir), precision="int8",
                                  export_cache=os.environ["GTE_EXPORT_CACHE"]))
    a8, b8 = enc8.encode(stsb_en.a).vectors, enc8.encode(stsb_en.b).vectors
    va, vb = stsb_vectors
    cos32, cos8 = (va * vb).sum(1), (a8 * b8).sum(1)
    delta = np.abs(cos32 - cos8)
    drop = spearman(cos32, stsb_en.labels) - spearman(cos8, stsb_en.labels)
    print(f"\nint8 vs fp32 on STS-B: mean |dcos| {delta.mean():.4f}, max {delta.max():.4f}, "
          f"Spearman drop {drop * 100:.2f} pt")
    # The default int8 ("accurate") meets the bound users are promised: Spearman within 0.5 pt,
    # mean |dcos| <= 0.003 (tests/unit/engine/backends/test_int8.py checks every int8 flavour against its own bound).
    assert delta.mean() <= 0.003 and drop <= 0.005
