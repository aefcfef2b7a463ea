"""重排 Rerank tab: retrieve by embedding, rerank with the cross-encoder, show how each document
moved; its callback as a plain function over the tiny BERT and the tiny cross-encoder (no browser)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rerank_kit import DOCS, QUERY, TW_DOCS, TW_QUERY, ZH_DOCS, crossencoder_scores

from gte_ui.core.errors import GteError
from gte_ui.frontends.ui.tabs import rerank as tab
from gte_ui.service import two_stage


def test_tab_two_stage_moves_and_times(rerank_service):
    docs = DOCS[:5] + ["屏幕很大", "价格便宜"]
    result = tab.two_stage(rerank_service, QUERY, docs, top_k=4)
    assert len(result.retrieved.rows) == 4 and result.retrieved.total == 7
    assert result.reranked is not None and result.reranked.method == "cross-encoder"
    rows = tab.table_rows(result)
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    emb = {row.text: row.rank for row in result.retrieved.rows}
    for final, move, before, emb_score, rr_score, text, _notes in rows:
        assert before == emb[text] and move == tab.movement(before, final)
    assert sorted(r[2] for r in rows) == [1, 2, 3, 4]  # every retrieved document, once
    ref = crossencoder_scores(Path(rerank_service.reranker.info.path), QUERY, [r[5] for r in rows])
    np.testing.assert_allclose([r[4] for r in rows], ref, atol=1e-4)  # table rounds to 4 places
    assert "Stage 1" in tab.summary(result) and "ms" in tab.summary(result)
    fig = tab.slope_chart(result)
    assert len(fig.data) == 4 and list(fig.data[0].y) == [rows[0][2], 1] and list(fig.data[0].x) == [0, 1]


def test_tab_movement_and_no_reranker(tiny_service):
    assert (tab.movement(4, 1), tab.movement(2, 3), tab.movement(2, 2)) == ("↑3", "↓1", "—")
    md, rows, fig = tab.on_rerank(tiny_service, QUERY, "\n".join(DOCS[:4]), None, 3)
    assert "no reranker loaded" in md and "No reranker loaded" in fig.layout.annotations[0].text
    # issue 30.8: no stage 2, no empty rerank columns: embedding rank, score, text, notes
    assert [len(r) for r in rows] == [len(tab.EMBEDDING_COLUMNS)] * 3 and [r[0] for r in rows] == [1, 2, 3]
    md, rows, _ = tab.on_rerank(tiny_service, "", "a\nb", None, 3)  # shown, not raised
    assert md.startswith("⚠️") and "query is empty" in md and rows is None
    with pytest.raises(GteError, match="top-k must be at least 1"):
        tab.two_stage(tiny_service, QUERY, DOCS, 0)


def test_tab_passes_the_options_to_both_stages(rerank_service):
    # t2s on: stage 1 (embedding retrieval) and stage 2 (reranker) both read the simplified texts
    md, rows, _ = tab.on_rerank(rerank_service, TW_QUERY, "\n".join(TW_DOCS), None, 3, True, False, False, "")
    _, want, _ = tab.on_rerank(rerank_service, QUERY, "\n".join(ZH_DOCS), None, 3)
    assert not md.startswith("⚠️") and len(rows) == len(want) == 3
    assert [r[:5] for r in rows] == [w[:5] for w in want]  # ranks, moves, embedding and rerank scores
    assert [r[5] for r in rows] == [TW_DOCS[ZH_DOCS.index(w[5])] for w in want]  # shown as typed
    retrieved = rerank_service.rank(QUERY, ZH_DOCS, top_k=3)
    assert [r[3] for r in sorted(rows, key=lambda r: r[2])] == [round(x.score, 4) for x in retrieved.rows]
    reranked = rerank_service.rerank(QUERY, [x.text for x in retrieved.rows])
    assert sorted(r[4] for r in rows) == sorted(round(x, 4) for x in reranked.scores)
    # t2s off: the traditional texts score differently in both stages
    off = tab.two_stage(rerank_service, TW_QUERY, TW_DOCS, 3)
    assert np.abs(np.array(off.retrieved.scores) - rerank_service.rank(QUERY, ZH_DOCS).scores).max() > 1e-3
    same_docs = [ZH_DOCS[TW_DOCS.index(x.text)] for x in off.retrieved.rows]
    assert np.abs(np.array(off.reranked.scores) - rerank_service.rerank(QUERY, same_docs).scores).max() > 1e-3


def test_rerank_tab_calls_the_service_capability():
    """One home for two-stage: the Rerank tab's function is the service's."""
    assert tab.two_stage is two_stage.two_stage and tab.TwoStage is two_stage.TwoStage
