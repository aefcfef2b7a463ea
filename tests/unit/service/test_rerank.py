"""Reranking: the embedding fallback, and the one refusal of a pair the reranker would cut."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.service import rerank
from gte_ui.service.results import RerankResult, RerankRow


def test_without_a_reranker_the_embedding_cosine_ranks(tiny_service, tiny_encoder):
    docs = ["手机电量很耐用", "充电速度特别快"]
    r = rerank.rerank(tiny_service, "电池续航很强", docs, top_n=1)
    v = tiny_encoder.encode(["电池续航很强", *docs]).vectors
    np.testing.assert_allclose(r.scores, v[1:] @ v[0], atol=1e-6)
    assert r.method == "embedding" and len(r.rows) == 1 and r.rows[0].index == int(np.argmax(v[1:] @ v[0]))
    with pytest.raises(GteError, match="no reranker is loaded"):
        rerank.rerank(tiny_service, "q", docs, method="cross-encoder")


def test_truncate_false_refuses_the_first_cut_document():
    rows = [RerankRow(rank=1, index=1, text="b", score=0.9, tokens=600, truncated=True),
            RerankRow(rank=2, index=0, text="a", score=0.1, tokens=5, truncated=False)]
    result = RerankResult(query="q", method="cross-encoder", model="m", raw_scores=False, scores=[0.1, 0.9],
                          rows=rows, total=2, tokens=517, cached=0, elapsed_ms=1.0)
    rerank.refuse_truncated(result, True)
    with pytest.raises(GteError) as err:
        rerank.refuse_truncated(result, False, "texts")
    assert err.value.error_type is ErrorType.TOO_LONG and "texts[1]" in err.value.message
