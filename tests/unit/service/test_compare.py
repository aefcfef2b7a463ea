"""Compare-all: every loaded model answers; the prompt goes only to the models that have prompts."""

from __future__ import annotations

import json
import shutil

import pytest

from gte_ui.core.errors import GteError
from gte_ui.engine.encoder import Encoder
from gte_ui.service import compare
from gte_ui.service.options import read_options
from gte_ui.service.service import EmbeddingService


@pytest.fixture()
def with_prompted(tiny_service, tiny_model_dir, tiny_settings, tmp_path):
    """The tiny model (no prompts) and a copy of it that has a query prompt."""
    folder = shutil.copytree(tiny_model_dir, tmp_path / "prompted")
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "问："}}), encoding="utf-8")
    settings = tiny_settings.replace(model=str(folder))
    tiny_service.add_model(EmbeddingService(Encoder.load(settings), settings, name="prompted"))
    return tiny_service


def test_the_prompt_goes_to_models_with_prompts_only(with_prompted):
    options = read_options({"prompt_name": "query"})
    with pytest.raises(GteError, match="prompt"):
        with_prompted.pair("苹果", "香蕉", options=options)  # the plain model alone refuses it
    results = dict(compare.compare_pairs(with_prompted.models(), "苹果", "香蕉", options=options))
    assert list(results) == [with_prompted.name, "prompted"]
    assert results[with_prompted.name].prompt is None and results["prompted"].prompt == "问："
    # same weights: only the prompt tells the two scores apart
    assert results["prompted"].score != pytest.approx(results[with_prompted.name].score, abs=1e-9)
    ranks = compare.compare_ranks(with_prompted.models(), "苹果", ["香蕉", "梨"], options=options)
    assert [r.prompt for r in ranks.values()] == [None, "问："]
    assert ranks[with_prompted.name].scores == with_prompted.rank("苹果", ["香蕉", "梨"]).scores
