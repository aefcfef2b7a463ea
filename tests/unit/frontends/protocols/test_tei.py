"""TEI's shapes: the rerank answer and its truncate rule, the root's merged requests, and TEI's
own requests, which ignore keys TEI does not define."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends.protocols import tei
from gte_ui.frontends.protocols.parse import validate


def test_rerank_answer_is_best_first_with_the_method_in_a_header(tiny_service):
    r = tiny_service.rerank("电池", ["续航久", "下雨了"])
    answer = tei.rerank_answer(r, return_text=False, truncate=True)
    assert answer.body == [{"index": row.index, "score": row.score} for row in r.rows]
    assert answer.headers["X-Rerank-Method"] == "embedding"
    with_text = tei.rerank_answer(r, return_text=True, truncate=None)
    assert [x["text"] for x in with_text.body] == [row.text for row in r.rows]


def test_truncate_false_refuses_a_pair_over_the_limit_with_413(tiny_service):
    long_doc = "电池续航" * tiny_service.max_length
    r = tiny_service.rerank("电池", ["短", long_doc])
    assert tei.rerank_answer(r, return_text=False, truncate=True).body  # truncated, answered
    with pytest.raises(GteError) as err:
        tei.rerank_answer(r, return_text=False, truncate=False)
    assert err.value.status_code == 413 and "texts[1]" in err.value.message


def test_similarity_and_embed_answers_carry_the_prompt_in_a_header(tiny_service):
    r = tiny_service.rank("电池", ["续航久", "下雨了"])
    answer = tei.scores_answer(r)
    assert answer.body == r.scores and answer.headers == {}  # the tiny model has no prompts
    e = tiny_service.embed(["文本"])
    assert tei.vectors_answer(e).body == e.vectors.tolist()


def test_root_shapes_accept_teis_fields_by_name_and_refuse_others():
    embed = validate(tei.TeiEmbedRequest, {"inputs": "a", "normalize": True, "truncate": True,
                                           "truncation_direction": "Right", "prompt_name": None, "dimensions": 4})
    assert embed.text_list() == (["a"], "inputs") and embed.dimensions == 4
    assert validate(tei.TeiEmbedRequest, {"texts": ["a", "b"]}).text_list() == (["a", "b"], "texts")
    for model, body, name in [
        (tei.TeiEmbedRequest, {"inputs": "a", "nfck": True}, "nfck"),
        (tei.TeiRerankRequest, {"query": "q", "texts": ["a"], "return_texts": True}, "return_texts"),
        (tei.TeiSimilarityRequest, {"inputs": {"source_sentence": "a", "sentences": ["b"]}, "t2": True}, "t2"),
        (tei.TeiSimilarityRequest, {"inputs": {"source_sentence": "a", "sentences": ["b"]},
                                    "parameters": {"top_k": 1}}, "top_k"),
    ]:
        with pytest.raises(GteError) as err:
            validate(model, body)
        assert err.value.status_code == 422 and name in err.value.message, body
    assert validate(tei.TeiSimilarityRequest, {"inputs": {"source_sentence": "a", "sentences": ["b"]},
                                               "parameters": {}}).inputs.sentences == ["b"]


def test_teis_own_requests_ignore_keys_tei_does_not_define():
    req = validate(tei.EmbedRequest, {"inputs": ["a"], "some_future_field": 1})
    assert req.inputs == ["a"]
    with pytest.raises(GteError) as err:
        validate(tei.EmbedRequest, {"inputs": "a", "truncation_direction": "Left"})
    assert "Left is not supported" in err.value.message
    assert validate(tei.TokenizeRequest, {"inputs": "a", "x": 1}).model_dump() == {
        "inputs": "a", "add_special_tokens": True, "prompt_name": None}
