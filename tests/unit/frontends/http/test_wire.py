"""HTTP's side of an answer: headers only when there are some; OpenAPI bodies with no dangling $ref."""

from __future__ import annotations

import json

from fastapi.responses import JSONResponse

from gte_ui.frontends.http.wire import body_doc, respond
from gte_ui.frontends.protocols.common import Answer
from gte_ui.frontends.protocols.tei import TeiSimilarityRequest


def test_respond_sends_headers_only_when_the_answer_has_some():
    assert respond(Answer([1.0, 2.0])) == [1.0, 2.0]
    sent = respond(Answer([1.0], {"X-Prompt": '"p"'}))
    assert isinstance(sent, JSONResponse) and sent.headers["X-Prompt"] == '"p"' and json.loads(sent.body) == [1.0]


def test_body_doc_inlines_nested_models():
    schema = body_doc(TeiSimilarityRequest)["requestBody"]["content"]["application/json"]["schema"]
    text = json.dumps(schema)
    assert "$defs" not in text and "#/$defs/" not in text
    assert schema["properties"]["inputs"]["properties"]["sentences"]["type"] == "array"
