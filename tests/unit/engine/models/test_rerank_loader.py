"""engine/models/rerank_loader.py: one --reranker flag, the kind of reranker picked from the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import Settings
from gte_ui.engine.decoder_reranker import DecoderReranker
from gte_ui.engine.models.rerank_loader import load_reranker
from gte_ui.engine.reranker import Reranker

SENTENCES = ["这款手机电池续航很强", "好", "A man is playing a guitar on the stage tonight with his friends.",
             "手机电量很耐用", "电池容量大，用一天没问题", "今天天气很好，我们去公园散步吧", "Two dogs run.",
             "花呗怎么提前还款"]


def test_a_sequence_classifier_loads_as_the_cross_encoder(tiny_reranker_dir):
    rr = load_reranker(Settings(reranker=str(tiny_reranker_dir), device="cpu", precision="fp32"))
    assert isinstance(rr, Reranker) and rr.info.kind != "decoder yes/no"


def test_a_causal_lm_loads_as_the_decoder_reranker_with_the_settings(qwen3_reranker_dir):
    rr = load_reranker(Settings(reranker=str(qwen3_reranker_dir), device="cpu", precision="fp32",
                                reranker_instruction="find it", batch_size=3, reranker_max_length=256))
    assert isinstance(rr, DecoderReranker)
    assert (rr.instruction, rr.batch_size, rr.max_length) == ("find it", 3, 256)
    assert rr.info.name == qwen3_reranker_dir.name


def test_no_reranker_is_a_config_error():
    with pytest.raises(ConfigError, match="no --reranker given"):
        load_reranker(Settings(reranker=None))


def test_decoder_reranker_int8_and_limits(qwen3_reranker_dir):
    from gte_ui.engine.models.rerank_loader import load_reranker

    pairs = [(SENTENCES[0], d) for d in SENTENCES[1:]]
    fp32 = load_reranker(Settings(reranker=str(qwen3_reranker_dir), device="cpu", precision="fp32"))
    int8 = load_reranker(Settings(reranker=str(qwen3_reranker_dir), device="cpu", precision="int8"))
    assert int8.info.backend == "torch-int8-accurate" and int8.info.kind == "decoder yes/no"
    a, b = fp32.score(pairs).vectors[:, 0], int8.score(pairs).vectors[:, 0]
    sig = lambda x: 1 / (1 + np.exp(-x))
    assert np.abs(sig(a) - sig(b)).mean() < 0.05 and not np.allclose(a, b)  # int8 really ran, close to fp32
    with pytest.raises(ConfigError, match="above this reranker's limit"):
        load_reranker(Settings(reranker=str(qwen3_reranker_dir), device="cpu", precision="fp32",
                               reranker_max_length=10**6))
