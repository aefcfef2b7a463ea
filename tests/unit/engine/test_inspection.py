"""engine/inspection.py: unknown tokens per text, and BERTScore-style token alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gte_ui.engine.inspection import TokenAligner, greedy_alignment, unknown_tokens


def test_unknown_token_ratio_is_exact(tiny_service, minilm_dir):
    from transformers import AutoTokenizer

    tok = tiny_service.encoder.tokenizer
    report = unknown_tokens(tok, ["你好🙂", "你好", "齉齉好"])
    assert [(u.tokens, u.unknown) for u in report] == [(3, 1), (2, 0), (3, 2)]
    assert report[0].characters == ("🙂",) and report[2].characters == ("齉",)
    assert report[0].ratio == pytest.approx(1 / 3)
    english = AutoTokenizer.from_pretrained(str(minilm_dir))
    (u,) = unknown_tokens(english, ["hello 🙂 world"])
    assert (u.tokens, u.unknown, u.characters) == (3, 1, ("🙂",))


def test_unknown_tokens_with_max_length_count_only_what_the_model_reads(tiny_service):
    tok = tiny_service.encoder.tokenizer
    (head,) = unknown_tokens(tok, ["你好" * 10 + "🙂"], max_length=20)
    assert (head.tokens, head.unknown, head.characters) == (20, 0, ())  # the emoji lies past the window
    (whole,) = unknown_tokens(tok, ["你好" * 10 + "🙂"])
    assert (whole.tokens, whole.unknown) == (21, 1)
    assert unknown_tokens(tok, [""])[0].ratio == 0.0


def test_greedy_alignment_of_identical_texts_is_perfect():
    states = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    al = greedy_alignment(states, states, list("abcd"), list("abcd"))
    assert al.f1 == pytest.approx(1.0) and al.best_b == [0, 1, 2, 3]


def test_greedy_alignment_scores_are_the_best_partner_means():
    a = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    b = np.array([[1.0, 0.0], [1.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
    al = greedy_alignment(a, b, ["x", "y"], ["p", "q", "r"])
    half = float(np.sqrt(0.5))
    assert al.best_b == [0, 1] and al.best_a == [0, 0, 1]
    assert al.recall == pytest.approx((1 + half) / 2) and al.precision == pytest.approx((1 + half + 0) / 3)
    assert al.f1 == pytest.approx(2 * al.precision * al.recall / (al.precision + al.recall))
    d = al.to_dict()
    assert d["matrix"][1][2] == pytest.approx(0.0) and d["tokens_b"] == ["p", "q", "r"]


def test_aligner_loads_lazily_and_reads_the_last_layer(tiny_model_dir, tiny_service):
    from transformers import AutoModel

    aligner = TokenAligner(tiny_model_dir, tiny_service.encoder.tokenizer, max_length=8)
    assert not aligner.loaded
    tokens, states = aligner.token_states("电池续航很强很强")
    assert aligner.loaded and tokens == list("电池续航很强") and states.shape == (6, 32)  # 8 with [CLS]/[SEP]
    model = AutoModel.from_pretrained(str(tiny_model_dir)).eval()
    enc = tiny_service.encoder.tokenizer("电池续航很强很强", truncation=True, max_length=8, return_tensors="pt")
    with torch.no_grad():
        want = model(**enc).last_hidden_state[0]
    np.testing.assert_allclose(states, want[1:-1].numpy(), atol=1e-5)
    special, all_states = aligner.token_states("电池", keep_special=True)
    assert special == ["[CLS]", "电", "池", "[SEP]"] and all_states.shape == (4, 32)
    al = aligner.align("电池", "电池")
    assert al.f1 == pytest.approx(1.0) and al.tokens_a == ["电", "池"]
