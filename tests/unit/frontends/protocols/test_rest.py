"""The project's own REST requests (/v1/search, /v1/map): unknown keys are a 422."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends.protocols.parse import validate
from gte_ui.frontends.protocols.rest import MapRequest, SearchRequest


def test_search_request_defaults_and_strict_counts():
    req = validate(SearchRequest, {"index": "faq", "query": "q"})
    assert (req.top_k, req.rerank, req.highlight) == (10, False, False)
    with pytest.raises(GteError) as err:
        validate(SearchRequest, {"index": "faq", "query": "q", "top_k": "5"})
    assert "top_k" in err.value.message


@pytest.mark.parametrize("model, body, name", [
    (SearchRequest, {"index": "faq", "query": "q", "topk": 3}, "topk"),
    (MapRequest, {"texts": ["a", "b", "c"], "cluster": 3}, "cluster"),
])
def test_unknown_keys_are_a_422_naming_them(model, body, name):
    with pytest.raises(GteError) as err:
        validate(model, body)
    assert err.value.status_code == 422 and name in err.value.message
