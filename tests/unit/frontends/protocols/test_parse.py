"""One message for a wrong field (gte_ui.frontends.protocols.parse.validate): a 422 naming the
field, never pydantic's dump."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.protocols.parse import validate
from gte_ui.frontends.protocols.tei import EmbedRequest, PredictRequest, VertexRequest


def refusal(model, body) -> GteError:
    with pytest.raises(GteError) as err:
        validate(model, body)
    assert err.value.error_type is ErrorType.VALIDATION and err.value.status_code == 422
    assert "pydantic" not in err.value.message and "errors.pydantic.dev" not in err.value.message
    return err.value


def test_a_good_body_is_the_model():
    req = validate(EmbedRequest, {"inputs": ["a", "b"], "dimensions": 8, "unknown": 1})
    assert isinstance(req, EmbedRequest) and req.inputs == ["a", "b"] and req.dimensions == 8


@pytest.mark.parametrize("model, body, field", [
    (EmbedRequest, {}, "inputs"),
    (EmbedRequest, {"inputs": "a", "dimensions": 0}, "dimensions"),
    (EmbedRequest, {"inputs": "a", "normalize": "maybe"}, "normalize"),
    (PredictRequest, {"inputs": [["q", "t"], ["q", 3]]}, "inputs"),
    (VertexRequest, {"instances": []}, "instances"),
])
def test_the_message_names_the_first_wrong_field_in_both_languages(model, body, field):
    err = refusal(model, body)
    assert err.en.startswith(f"{field}") and err.zh == f"字段 {err.en.split(':')[0]} 无效"


def test_a_body_that_is_not_an_object_is_named_body():
    err = refusal(EmbedRequest, ["not", "an", "object"])
    assert err.en.startswith("body: ") and "字段 body 无效" in err.message
