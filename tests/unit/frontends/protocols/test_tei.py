"""TEI's shapes: which loaded model answers, /info per kind, the rerank answer and its truncate rule,
the root's merged requests, TEI's own requests (which ignore keys TEI does not define), and the
answers built from the service's real results."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.protocols import tei
from gte_ui.frontends.protocols.parse import validate
from gte_ui.service import tokens


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


def test_targets_are_every_loaded_model_then_the_cross_encoder(rerank_service):
    targets = tei.tei_targets(rerank_service)
    ce = rerank_service.reranker.info.name
    assert list(targets) == [rerank_service.name, ce]
    assert targets[ce].kind == "reranker" and targets[rerank_service.name].kind == "embedding"
    assert tei.resolve_target(rerank_service, None) == targets[rerank_service.name]  # none named: the default
    assert tei.resolve_target(rerank_service, ce).kind == "reranker"
    with pytest.raises(GteError) as err:
        tei.resolve_target(rerank_service, "nope")
    assert err.value.error_type is ErrorType.UNKNOWN_MODEL and ce in err.value.message and "未加载" in err.value.message
    with pytest.raises(GteError, match="not an embedding model") as err:
        tei.embedder(targets[ce])
    assert err.value.status_code == 424  # TEI's status


def test_info_says_each_models_kind_and_limits(rerank_service):
    emb = tei.Info.of(tei.resolve_target(rerank_service, None))
    assert emb.model_type == {"embedding": tei.EmbeddingModelType(pooling=rerank_service.info.pooling)}
    assert emb.model_dtype == "float32" and emb.max_input_length == rerank_service.max_length
    assert emb.max_client_batch_size == rerank_service.settings.max_texts and emb.auto_truncate is True
    ce = tei.Info.of(tei.resolve_target(rerank_service, rerank_service.reranker.info.name))
    kind = ce.model_type["reranker"]
    assert kind.id2label == tokens.labels(rerank_service) and kind.label2id == {v: int(k) for k, v in kind.id2label.items()}
    assert ce.max_client_batch_size == rerank_service.settings.max_candidates
    assert ce.max_input_length == rerank_service.reranker.max_length


def test_requests_parse_as_tei_defines_them():
    assert tei.PredictRequest(inputs="q").pairs() == ([["q"]], False)
    assert tei.PredictRequest(inputs=["q", "t"]).pairs() == ([["q", "t"]], False)
    assert tei.PredictRequest(inputs=[["q", "a"], ["q", "b"]]).pairs() == ([["q", "a"], ["q", "b"]], True)
    assert tei.DecodeRequest(ids=[1, 2]).batch() == [[1, 2]] and tei.DecodeRequest(ids=[[1], [2]]).batch() == [[1], [2]]
    assert tei.inputs_list("a") == ["a"] and tei.inputs_list(["a", "b"]) == ["a", "b"]
    assert tei.EmbedRequest(inputs="a", truncation_direction="right").truncation_direction == "right"
    with pytest.raises(GteError, match="normalize: false is not supported"):
        tei.check_embed_flags(False)
    tei.check_embed_flags(True)
    tei.check_embed_flags(None)


def test_answers_are_built_from_the_services_results(rerank_service):
    texts = ["手机电量很耐用", "今天天气很好", "充电速度特别快"]
    embedded = rerank_service.embed(texts)
    assert tei.vectors(embedded) == embedded.vectors.tolist()
    r = rerank_service.rerank("手机电池", texts)
    ranks = tei.ranks(r, return_text=True)
    assert [(x.index, x.score, x.text) for x in ranks] == [(row.index, row.score, row.text) for row in r.rows]
    assert ranks[0].score >= ranks[-1].score  # best first
    assert all(x.text is None for x in tei.ranks(r, return_text=False))
    found = tokens.tokenize(rerank_service, ["今天"])
    listed = tei.token_lists(found)[0]
    assert [t.id for t in listed] == [t.id for t in found[0]] and listed[0].special and listed[0].start is None
    predicted = tei.predictions(tokens.predict(rerank_service, [["手机电池", "手机电量很耐用"]]))
    assert predicted[0][0].label == next(iter(tokens.labels(rerank_service).values()))
    assert predicted[0][0].score == pytest.approx(rerank_service.rerank("手机电池", ["手机电量很耐用"]).scores[0])
