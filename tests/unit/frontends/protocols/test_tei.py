"""text-embeddings-inference's wire shapes (gte_ui.frontends.protocols.tei): which loaded model
answers, TEI's requests as they parse, and the answers built from the service's real results."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.protocols import tei
from gte_ui.service import tokens


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
    assert tei.EmbedRequest(inputs="a", truncation_direction="right", extra_key=1).truncation_direction == "right"
    with pytest.raises(ValidationError, match="truncation_direction Left is not supported"):
        tei.EmbedRequest(inputs="a", truncation_direction="Left")
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


def test_truncate_false_refuses_a_pair_over_the_limit(rerank_service):
    long_doc = "电池" * 400
    r = rerank_service.rerank("手机电池", ["短文本", long_doc])
    tei.check_truncation(r, True)  # TEI's default: cut and answer
    tei.check_truncation(r, None)
    with pytest.raises(GteError) as err:
        tei.check_truncation(r, False)
    assert err.value.error_type is ErrorType.TOO_LONG and err.value.en.startswith("texts[1] with the query has")
    short = rerank_service.rerank("手机电池", ["短文本"])
    tei.check_truncation(short, False)  # nothing over the limit: nothing to refuse
