"""Ranking over the tiny real model."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.service import rank


def test_rank_orders_by_cosine_and_names_candidates_by_rank(tiny_service, tiny_encoder):
    cands = ["手机电量很耐用", "充电速度特别快", "手机电量很耐用", "电池容量大"]
    r = rank.rank(tiny_service, "这款手机电池续航很强", cands, top_k=2)
    v = tiny_encoder.encode(["这款手机电池续航很强", *cands]).vectors
    expected = v[1:] @ v[0]
    np.testing.assert_allclose(r.scores, expected, atol=1e-6)
    assert [row.index for row in r.rows] == list(np.argsort(-expected, kind="stable")[:2])
    assert r.total == 4 and len(r.rows) == 2 and [row.rank for row in r.rows] == [1, 2]
    assert [rank.rank_labels([2, 0, 1], ("源句子", "the source"))[i][1] for i in range(4)] == \
        ["the source", "rank 2", "rank 3", "rank 1"]
    with pytest.raises(GteError, match="top_k"):
        rank.rank(tiny_service, "a", ["b"], top_k=0)
