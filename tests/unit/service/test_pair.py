"""Pairwise similarity over the tiny real model."""

from __future__ import annotations

import pytest

from gte_ui.service import pair
from gte_ui.service.options import read_options


def test_pair_is_the_cosine_of_the_encoders_vectors_with_the_bands_verdict(tiny_service, tiny_encoder):
    r = pair.pair(tiny_service, " 花呗怎么还款 ", "蚂蚁花呗如何还钱")
    v = tiny_encoder.encode(["花呗怎么还款", "蚂蚁花呗如何还钱"]).vectors
    assert r.score == pytest.approx(float(v[0] @ v[1]), abs=1e-6)
    assert r.verdict.level == (2 if r.score >= 0.75 else 1 if r.score >= 0.5 else 0)
    assert r.model == tiny_service.name and r.prompt is None
    # 蚂 蚁 何 are not in the tiny vocabulary: B's share of unknown tokens, and one warning naming it
    assert r.unknown_token_ratio[0] == 0.0 and r.unknown_token_ratio[1] > 0.1
    assert len(r.warnings) == 1 and "sentence B" in r.warnings[0]
    swapped = pair.pair(tiny_service, "蚂蚁花呗如何还钱", "花呗怎么还款", options=read_options({"t2s": True}))
    assert swapped.score == pytest.approx(r.score, abs=1e-6)
