"""service/tokens.py: tokenise, decode and classify pairs (TEI's /tokenize, /decode, /predict),
on the tiny embedding model and the tiny cross-encoder."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.service.tokens import decode, labels, predict, tokenize


def test_tokens_carry_ids_spans_and_special_flags(tiny_service):
    (tokens,) = tokenize(tiny_service, ["电池 续航"])
    assert [t.text for t in tokens] == ["[CLS]", "电", "池", "续", "航", "[SEP]"]
    assert [t.special for t in tokens] == [True, False, False, False, False, True]
    assert [(t.start, t.stop) for t in tokens[1:5]] == [(0, 1), (1, 2), (3, 4), (4, 5)]
    assert tokens[0].start is None and tokens[1].id == tiny_service.encoder.tokenizer.convert_tokens_to_ids("电")
    (bare,) = tokenize(tiny_service, ["电池"], add_special_tokens=False)
    assert [t.text for t in bare] == ["电", "池"]


def test_tokenize_refuses_what_the_service_refuses(tiny_service):
    with pytest.raises(GteError) as info:
        tokenize(tiny_service, [""])
    assert info.value.status_code == 422
    with pytest.raises(GteError, match="no instruction prompts"):  # the tiny model has none
        tokenize(tiny_service, ["电池"], prompt_name="query")


def test_decode_round_trips_and_checks_every_id(tiny_service):
    ids = [t.id for t in tokenize(tiny_service, ["电池续航"])[0]]
    assert decode(tiny_service, [ids]) == ["电 池 续 航"]  # WordPiece decoding puts spaces between characters
    assert decode(tiny_service, [ids], skip_special_tokens=False)[0].startswith("[CLS]")
    size = len(tiny_service.encoder.tokenizer)
    for bad, fragment in (([[size]], f"not a token id of this model \\(0 to {size - 1}\\)"), ([[-1]], "-1"),
                          ([[True]], "True"), ([[1.0]], "1.0")):
        with pytest.raises(GteError, match=fragment) as info:
            decode(tiny_service, bad)
        assert info.value.status_code == 422
    with pytest.raises(GteError, match="no ids given"):
        decode(tiny_service, [])


def test_the_embedding_model_is_not_a_classifier(tiny_service):
    for call in (lambda: labels(tiny_service), lambda: predict(tiny_service, [["q", "t"]]),
                 lambda: tokenize(tiny_service, ["q"], which="reranker")):
        with pytest.raises(GteError, match="Model is not a classifier model") as info:
            call()
        assert info.value.error_type is ErrorType.MODEL_TYPE and info.value.status_code == 424


def test_predict_equals_rerank_in_input_order_across_queries(tiny_reranking_service):
    pairs = [["电池", "续航很强"], ["天气", "今天下雨"], ["电池", "充电很快"]]
    got = predict(tiny_reranking_service, pairs)
    assert labels(tiny_reranking_service) == {"0": "LABEL_0"} and all(p[0].label == "LABEL_0" for p in got)
    battery = tiny_reranking_service.rerank("电池", ["续航很强", "充电很快"], method="cross-encoder").scores
    weather = tiny_reranking_service.rerank("天气", ["今天下雨"], method="cross-encoder").scores
    np.testing.assert_allclose([p[0].score for p in got], [battery[0], weather[0], battery[1]], atol=1e-6)
    raw = predict(tiny_reranking_service, pairs[:1], raw_scores=True)[0][0].score
    assert 1 / (1 + np.exp(-raw)) == pytest.approx(got[0][0].score, abs=1e-5)


def test_predict_limits_and_pair_shape(tiny_reranking_service):
    with pytest.raises(GteError, match="5 inputs given; the limit is 4"):
        predict(tiny_reranking_service, [["q", "t"]] * 5)
    with pytest.raises(GteError, match=r"inputs\[1\] has 3 text\(s\)"):
        predict(tiny_reranking_service, [["q", "t"], ["a", "b", "c"]])
    with pytest.raises(GteError, match="no inputs given"):
        predict(tiny_reranking_service, [])
    with pytest.raises(GteError, match="the reranker has no prompts"):
        tokenize(tiny_reranking_service, ["q"], which="reranker", prompt_name="query")
    (pair_tokens,) = tokenize(tiny_reranking_service, ["电池"], which="reranker")
    assert [t.text for t in pair_tokens][1] == "电"
