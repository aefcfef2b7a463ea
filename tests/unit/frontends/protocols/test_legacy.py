"""The seeds' and the articles' shapes: Gradio 3's /api/predict, Flask's /similarity, the
inference suite's /rerank."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends.protocols.legacy import (
    ArticleRerankRequest,
    ArticleRerankResponse,
    PairRequest,
    PairResponse,
    legacy_rank,
    legacy_vector,
    parse_legacy,
)
from gte_ui.frontends.protocols.parse import validate


def test_predict_bodies_parse_to_a_ranking_or_a_vector():
    call = parse_legacy({"data": ["源", "甲\n乙"], "model": "m"})
    assert (call.mode, call.text, call.candidates, call.model) == ("rank", "源", "甲\n乙", "m")
    assert parse_legacy({"data": ["文本", "", False, False, False, False]}).mode == "vector"


@pytest.mark.parametrize("body, fragment", [
    ([1], "JSON object"), ({}, 'missing "data"'), ({"data": "x"}, "must be a list"),
    ({"data": ["a"]}, "2 items"), ({"data": ["a", 3]}, '"data"[1] must be a string'),
    ({"data": ["a", "", 1, False, False, False]}, "true or false"),
    ({"data": ["a", "b", False, False, False, False]}, "6-item form is for vectors"),
    ({"data": ["a", ""], "model": 3}, '"model" must be a string'),
])
def test_predict_bodies_that_are_wrong_say_why(body, fragment):
    with pytest.raises(GteError) as err:
        parse_legacy(body)
    assert err.value.status_code == 422 and fragment in err.value.message


def test_answers_are_built_from_the_results(tiny_service):
    ranked = tiny_service.rank("电池", ["续航久", "下雨"])
    assert legacy_rank(ranked) == {"data": ranked.scores}
    embedded = tiny_service.embed(["文本"])
    assert legacy_vector(embedded) == {"data": embedded.vectors[0].tolist()}
    pair = tiny_service.pair("电池", "续航久")
    flask = PairResponse.from_result("电池", "续航久", pair).model_dump()
    assert flask["similarity"] == flask["score"] == pair.score and flask["status"] == "success"
    assert {k: flask[k] for k in ("verdict", "tokens", "truncated")} == \
        {k: pair.to_dict()[k] for k in ("verdict", "tokens", "truncated")}
    reranked = tiny_service.rerank("电池", ["续航久", "下雨"])
    article = ArticleRerankResponse.from_result(reranked)
    assert article.scores == reranked.scores and article.method == "embedding"


@pytest.mark.parametrize("model, body", [
    (PairRequest, {"sentence_a": "a", "sentence_b": "b", "t2ss": True}),
    (ArticleRerankRequest, {"query": "q", "docs": ["a"], "raw_score": True}),
])
def test_unknown_keys_are_a_422_naming_them(model, body):
    with pytest.raises(GteError) as err:
        validate(model, body)
    assert err.value.status_code == 422 and list(body)[-1] in err.value.message
