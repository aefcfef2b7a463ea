"""OpenAI's shapes built from the service's results: /v1/embeddings and /v1/models."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends.protocols.openai import EmbeddingsRequest, EmbeddingsResponse, ModelList, check_text_input
from gte_ui.frontends.protocols.parse import validate
from gte_ui.service.health import loaded_models


def test_embeddings_answer_carries_the_results_vectors_and_tokens(tiny_service):
    r = tiny_service.embed(["今天天气很好", "我想借钱"])
    floats = EmbeddingsResponse.from_result(r, tiny_service.name)
    assert [d.embedding for d in floats.data] == r.vectors.tolist()
    assert floats.usage.total_tokens == floats.usage.prompt_tokens == r.total_tokens > 0
    packed = EmbeddingsResponse.from_result(r, tiny_service.name, "base64")
    decoded = np.frombuffer(base64.b64decode(packed.data[1].embedding), dtype="<f4")
    np.testing.assert_array_equal(decoded, r.vectors[1])


def test_request_takes_openais_fields_and_refuses_other_keys():
    req = validate(EmbeddingsRequest, {"input": "a", "model": "x", "user": "u-1", "encoding_format": "base64",
                                       "dimensions": 8})
    assert req.texts() == ["a"] and req.dimensions == 8
    with pytest.raises(GteError) as err:
        validate(EmbeddingsRequest, {"input": "a", "encodingformat": "base64"})
    assert err.value.status_code == 422 and "encodingformat" in err.value.message


@pytest.mark.parametrize("value", [[1, 2, 3], [[101, 102]]])
def test_token_id_input_is_a_422_that_says_how_to_fix_it(value):
    with pytest.raises(GteError) as err:
        check_text_input({"input": value})
    assert err.value.status_code == 422 and "check_embedding_ctx_length=False" in err.value.message
    check_text_input({"input": ["text"]})  # text passes


def test_models_list_is_built_from_the_loaded_models(tiny_service):
    cards = ModelList.from_models(loaded_models(tiny_service)).model_dump()
    assert cards["object"] == "list"
    assert cards["data"] == [{"id": tiny_service.name, "object": "model", "owned_by": "gte-workbench",
                              "dimensions": tiny_service.dim, "max_tokens": tiny_service.max_length,
                              "precision": tiny_service.info.precision, "default": True}]
