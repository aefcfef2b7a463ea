"""The similarity matrix over the tiny real model."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.service import matrix


def test_matrix_is_symmetric_with_a_unit_diagonal(tiny_service, tiny_encoder):
    texts = ["苹果", "香蕉", "今天下雨"]
    m = matrix.matrix(tiny_service, texts)
    v = tiny_encoder.encode(texts).vectors
    np.testing.assert_allclose(m.scores, v @ v.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(m.scores), 1.0, atol=1e-5)
    with pytest.raises(GteError, match="at least 2"):
        matrix.matrix(tiny_service, ["苹果"])
