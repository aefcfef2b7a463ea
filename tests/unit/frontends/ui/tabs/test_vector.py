"""向量 Vector tab: on_vectors as a plain function over the real tiny-BERT service (no browser)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ui_kit import OPTIONS, refused

from gte_ui.frontends.ui.common import COMPARE
from gte_ui.frontends.ui.tabs import vector


def test_vector_json_is_pretty_and_exact(tiny_service):
    summary, text, files = vector.on_vectors(tiny_service, "今天天气很好\n我想借钱", *OPTIONS)
    expected = tiny_service.embed(["今天天气很好", "我想借钱"]).vectors
    data = json.loads(text)
    assert [d["text"] for d in data] == ["今天天气很好", "我想借钱"]
    np.testing.assert_allclose([d["vector"] for d in data], expected, atol=1e-6)
    assert max(len(line) for line in text.splitlines()) <= 120  # no sideways scrolling
    assert len(text.splitlines()) > 2 * tiny_service.dim / 8
    assert sorted(Path(f).name for f in files) == ["vectors.csv", "vectors.json", "vectors.npy"]
    np.testing.assert_allclose(np.load(next(f for f in files if f.endswith(".npy"))), expected, atol=1e-6)
    assert f"dimension **{tiny_service.dim}**" in summary


def test_vector_bad_inputs(tiny_service):
    refused(lambda: vector.on_vectors(tiny_service, "", *OPTIONS), "no texts given")
    many = "\n".join(f"t{i}" for i in range(tiny_service.settings.max_texts + 1))
    refused(lambda: vector.on_vectors(tiny_service, many, *OPTIONS), "the limit is")



def test_fewer_dimensions_are_the_services_cut_vectors(tiny_service, two_models):
    summary, text, files = vector.on_vectors(tiny_service, "今天天气很好\n我想借钱", *OPTIONS, dimensions=8,
                                             progress=None)
    want = tiny_service.embed(["今天天气很好", "我想借钱"], dimensions=8).vectors
    data = json.loads(text)
    assert [len(d["vector"]) for d in data] == [8, 8]
    np.testing.assert_allclose([d["vector"] for d in data], want, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(want, axis=1), 1.0, atol=1e-6)  # re-normalised
    assert "dimension **8**" in summary
    assert np.load(next(f for f in files if f.endswith(".npy"))).shape == (2, 8)  # the downloads too
    # the full width (the slider's maximum) is the model's own vectors, not a cut
    _, full, _ = vector.on_vectors(tiny_service, "今天天气很好", *OPTIONS, dimensions=tiny_service.dim, progress=None)
    assert len(json.loads(full)[0]["vector"]) == tiny_service.dim
    refused(lambda: vector.on_vectors(two_models, "好", *OPTIONS, COMPARE, progress=None), "pick one model for vectors")
