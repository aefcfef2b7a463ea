"""Reranking: the embedding fallback, and the one refusal of a pair the reranker would cut."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.service import rerank


def test_without_a_reranker_the_embedding_cosine_ranks(tiny_service, tiny_encoder):
    docs = ["手机电量很耐用", "充电速度特别快"]
    r = rerank.rerank(tiny_service, "电池续航很强", docs, top_n=1)
    v = tiny_encoder.encode(["电池续航很强", *docs]).vectors
    np.testing.assert_allclose(r.scores, v[1:] @ v[0], atol=1e-6)
    assert r.method == "embedding" and len(r.rows) == 1 and r.rows[0].index == int(np.argmax(v[1:] @ v[0]))
    with pytest.raises(GteError, match="no reranker is loaded"):
        rerank.rerank(tiny_service, "q", docs, method="cross-encoder")

