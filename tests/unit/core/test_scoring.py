"""Pure scoring functions on plain arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gte_ui.core.scoring import (
    VerdictBands,
    cosine,
    cosine_matrix,
    normalize_rows,
    pearson,
    rank_order,
    spearman,
    to_percent,
    verdict,
)


def test_cosine_known_values():
    assert cosine(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)
    assert cosine(np.array([1.0, 1.0]), np.array([-2.0, -2.0])) == pytest.approx(-1.0)
    assert cosine(np.array([3.0, 4.0]), np.array([4.0, 3.0])) == pytest.approx(24 / 25)


def test_zero_vector_does_not_give_nan():
    assert cosine(np.zeros(3), np.ones(3)) == 0.0
    assert not np.isnan(normalize_rows(np.zeros((2, 3)))).any()


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, (5, 8), elements=st.floats(-10, 10, width=32)))
def test_matrix_is_symmetric_bounded_with_unit_diagonal(x):
    m = cosine_matrix(x)
    assert m.shape == (5, 5)
    assert np.allclose(m, m.T, atol=1e-6)
    assert (m <= 1.0).all() and (m >= -1.0).all()
    nonzero = np.linalg.norm(x, axis=1) > 1e-3
    assert np.allclose(np.diag(m)[nonzero], 1.0, atol=1e-5)


def test_rank_order_is_descending_and_stable_for_ties():
    assert rank_order([0.2, 0.9, 0.5]).tolist() == [1, 2, 0]
    assert rank_order([0.5, 0.7, 0.5, 0.7]).tolist() == [1, 3, 0, 2]


@pytest.mark.parametrize("score, level, zh", [
    (0.76, 2, "高度相似"), (0.75, 1, "中等相似"), (0.51, 1, "中等相似"), (0.50, 0, "差异较大"),
    (-0.3, 0, "差异较大"),
])
def test_spec_verdict_bands(score, level, zh):
    v = verdict(score)
    assert (v.level, v.zh) == (level, zh)


def test_custom_bands_and_their_validation():
    bands = VerdictBands(high=0.9, mid=0.8, source="calibration")
    assert verdict(0.85, bands).zh == "中等相似"
    assert verdict(0.95, bands).zh == "高度相似"
    with pytest.raises(ValueError):
        VerdictBands(high=0.5, mid=0.6)


def test_percent_is_clipped_to_gauge_range():
    assert to_percent(0.8723) == 87.23
    assert to_percent(-0.2) == 0.0
    assert to_percent(1.0000001) == 100.0


def test_correlations_match_scipy_definitions():
    pred = [0.1, 0.4, 0.35, 0.8]
    gold = [0, 1, 2, 3]
    assert spearman(pred, gold) == pytest.approx(0.8)
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="length mismatch"):
        spearman([1, 2], [1])
