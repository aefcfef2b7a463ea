"""Token alignment and token states over the tiny real model (fp32 weights, loaded once)."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.service import align


def test_alignment_matches_each_token_and_loads_the_weights_once(tiny_service):
    al = align.align(tiny_service, "苹果手机", "苹果电脑")
    assert al.tokens_a and al.tokens_b and al.matrix.shape == (len(al.tokens_a), len(al.tokens_b))
    assert 0 < al.f1 <= 1.0001
    aligner = tiny_service.aligner.get(tiny_service)
    states = align.token_states(tiny_service, "苹果手机")
    assert tiny_service.aligner.get(tiny_service) is aligner  # one fp32 copy per model
    assert states.shape == (len(al.tokens_a) + 2, tiny_service.dim)  # [CLS] and [SEP] kept
    assert np.isfinite(states).all()
    with pytest.raises(GteError, match="sentence B"):
        align.align(tiny_service, "苹果", "")
