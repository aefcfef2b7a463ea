"""engine/decoder_reranker.py: Qwen3-Reranker-style yes/no relevance on a tiny random causal LM,
against the model card's own computation (tests/decoder_kit.py)."""

from __future__ import annotations

import numpy as np
import pytest
from decoder_kit import model_card_scores

from gte_ui.core.errors import ConfigError
from gte_ui.engine.decoder_reranker import (
    DEFAULT_INSTRUCTION,
    DecoderReranker,
    format_pair,
    is_decoder_reranker,
)

SENTENCES = ["这款手机电池续航很强", "好", "A man is playing a guitar on the stage tonight with his friends.",
             "手机电量很耐用", "电池容量大，用一天没问题", "今天天气很好，我们去公园散步吧", "Two dogs run.",
             "花呗怎么提前还款"]
TASK = "Given a question, retrieve passages that answer it"


def test_format_pair_is_the_model_cards_user_turn():
    assert format_pair("q", "d") == f"<Instruct>: {DEFAULT_INSTRUCTION}\n<Query>: q\n<Document>: d"
    assert format_pair("q", "d", "find") == "<Instruct>: find\n<Query>: q\n<Document>: d"


def test_only_causal_lm_checkpoints_are_decoder_rerankers():
    assert is_decoder_reranker({"architectures": ["Qwen3ForCausalLM"]})
    assert not is_decoder_reranker({"architectures": ["XLMRobertaForSequenceClassification"]})
    assert not is_decoder_reranker({})


@pytest.mark.parametrize("side", ["left", "right"])
def test_decoder_reranker_equals_the_model_card(qwen3_reranker_dir, side):
    from gte_ui.engine.decoder_reranker import DecoderReranker

    pairs = [(SENTENCES[0], d) for d in SENTENCES[1:]] + [("What is a guitar?", SENTENCES[2])]
    rr = DecoderReranker(qwen3_reranker_dir, batch_size=3)
    rr.pad_left = side == "left"
    logits = rr.logits(pairs)
    expected = model_card_scores(qwen3_reranker_dir, pairs)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), expected, atol=1e-5)
    assert np.ptp(expected) > 1e-3  # the pairs really score differently
    custom = rr.logits(pairs[:2], instruction=TASK)
    np.testing.assert_allclose(1 / (1 + np.exp(-custom)), model_card_scores(qwen3_reranker_dir, pairs[:2], TASK), atol=1e-5)
    ids, counts, cut = rr.tokenize(pairs[:1])
    assert ids[0][-len(rr.suffix):] == rr.suffix and counts[0] == len(ids[0]) and cut == [False]


def test_decoder_reranker_truncates_the_text_not_the_frame(qwen3_reranker_dir):
    from gte_ui.engine.decoder_reranker import DecoderReranker

    rr = DecoderReranker(qwen3_reranker_dir, max_length=120)
    ids, counts, cut = rr.tokenize([(SENTENCES[0], "今天天气很好，我们去公园散步吧。" * 20)])
    assert len(ids[0]) == 120 and counts[0] > 120 and cut == [True]
    assert ids[0][:len(rr.prefix)] == rr.prefix and ids[0][-len(rr.suffix):] == rr.suffix
    long_doc = "今天天气很好，我们去公园散步吧。" * 20
    np.testing.assert_allclose(1 / (1 + np.exp(-rr.logits([(SENTENCES[0], long_doc)]))),
                               model_card_scores(qwen3_reranker_dir, [(SENTENCES[0], long_doc)], max_length=120),
                               atol=1e-5)


def test_score_is_the_cross_encoder_interface(qwen3_reranker_dir):
    rr = DecoderReranker(qwen3_reranker_dir, batch_size=2, instruction=TASK)
    pairs = [(SENTENCES[0], d) for d in SENTENCES[1:5]]
    enc = rr.score(pairs)
    assert enc.vectors.shape == (4, 1) and enc.truncated == [False] * 4
    np.testing.assert_allclose(enc.vectors[:, 0], rr.logits(pairs, instruction=TASK), atol=1e-6)
    assert rr.forward_calls >= 2 and rr.pairs_scored == 8  # batches of 2; score and logits ran 4 pairs each
    assert rr.tokens_to_run(pairs) == sum(enc.token_counts) and rr.tokens_to_run([]) == 0
    assert all(w >= n for w, n in zip(rr.run_weights(pairs), enc.token_counts))  # a bound, never below the real run
    assert rr.score([]).vectors.shape == (0, 1)
    assert rr.info.kind == "decoder yes/no" and rr.info.instruction == TASK


def test_a_window_with_no_room_for_text_is_refused(qwen3_reranker_dir):
    with pytest.raises(ConfigError, match="leaves no room for the text"):
        DecoderReranker(qwen3_reranker_dir, max_length=20)
