"""service/two_stage.py: retrieve by embedding cosine, rerank the top k with the cross-encoder;
and stage 2 over a search's hits in place."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gte_ui.core.errors import GteError
from gte_ui.service.options import read_options
from gte_ui.service.two_stage import movement, rerank_hits, two_stage

QUERY = "这款手机电池续航很强"
DOCS = ["手机电量很耐用", "充电速度特别快", "电池容量大，用一天没问题", "今天天气很好"]


def test_movement_reads_one_based_ranks():
    assert (movement(4, 1), movement(2, 3), movement(2, 2)) == ("↑3", "↓1", "—")


def test_stage_two_reranks_exactly_stage_ones_top_k(tiny_reranking_service):
    svc = tiny_reranking_service
    staged = two_stage(svc, QUERY, DOCS, top_k=3)
    top = [row.text for row in staged.retrieved.rows]
    assert top == [row.text for row in svc.rank(QUERY, DOCS).rows[:3]] and staged.retrieved.total == 4
    want = svc.rerank(QUERY, top, method="cross-encoder")
    assert staged.reranked.method == "cross-encoder" and staged.reranked.scores == want.scores
    assert staged.kind == "cross-encoder" and staged.retrieve_ms > 0 and staged.rerank_ms > 0


def test_without_a_reranker_stage_two_is_skipped_and_top_k_is_checked(tiny_service):
    staged = two_stage(tiny_service, QUERY, DOCS, top_k=2)
    assert staged.reranked is None and staged.rerank_ms == 0.0 and len(staged.retrieved.rows) == 2
    for bad in (0, -1, 1.5, "3"):
        with pytest.raises(GteError, match="top-k must be at least 1") as info:
            two_stage(tiny_service, QUERY, DOCS, top_k=bad)
        assert info.value.status_code == 422
    with pytest.raises(GteError, match="query"):
        two_stage(tiny_service, "  ", DOCS, top_k=2)


@dataclass
class Hit:
    embed_text: str
    rank: int
    rerank_score: float | None = None
    retrieval_rank: int = 0


@dataclass
class Found:
    query: str
    hits: list
    rerank_ms: float = 0.0
    reranker: str | None = None


def test_rerank_hits_reorders_in_place_by_the_cross_encoder(tiny_reranking_service):
    svc = tiny_reranking_service
    found = Found(QUERY, [Hit(text, rank=i + 1, retrieval_rank=i + 1) for i, text in enumerate(DOCS)])
    rerank_hits(svc, found)
    scores = svc.rerank(QUERY, DOCS, method="cross-encoder").scores
    assert [h.embed_text for h in found.hits] == [DOCS[i] for i in sorted(range(4), key=lambda i: -scores[i])]
    assert [h.rank for h in found.hits] == [1, 2, 3, 4]
    assert sorted(h.retrieval_rank for h in found.hits) == [1, 2, 3, 4]  # stage 1's rank kept
    assert [h.rerank_score for h in found.hits] == sorted(scores, reverse=True)
    assert found.reranker == svc.reranker.info.name and found.rerank_ms > 0
    empty = Found(QUERY, [])
    rerank_hits(svc, empty)
    assert empty.reranker is None


def test_rerank_hits_without_a_reranker_is_refused_not_silently_skipped(tiny_service):
    found = Found(QUERY, [Hit(DOCS[0], 1)])
    with pytest.raises(GteError, match="no reranker is loaded") as info:
        rerank_hits(tiny_service, found)
    assert info.value.status_code == 422 and found.hits[0].rerank_score is None


def test_text_options_apply_to_both_stages(tiny_reranking_service):
    """繁→简 normalises what each model reads: traditional input scores as its simplified twin in
    both stages, while the rows keep the texts as typed."""
    svc = tiny_reranking_service
    tw_query, tw_docs = "這款手機電池續航很強", ["手機電量很耐用", "充電速度特別快", "電池容量大，用一天沒問題", "今天天氣很好"]
    normalised = two_stage(svc, tw_query, tw_docs, top_k=3, options=read_options({"t2s": True}))
    plain = two_stage(svc, QUERY, DOCS, top_k=3)
    assert normalised.retrieved.scores == pytest.approx(plain.retrieved.scores, abs=1e-6)
    assert normalised.reranked.scores == pytest.approx(plain.reranked.scores, abs=1e-6)
    assert [r.text for r in normalised.retrieved.rows] == [tw_docs[DOCS.index(r.text)] for r in plain.retrieved.rows]
    raw = two_stage(svc, tw_query, tw_docs, top_k=3)
    assert raw.reranked.scores != pytest.approx(plain.reranked.scores, abs=1e-3)  # off: they read differently
