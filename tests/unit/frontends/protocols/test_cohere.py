"""Cohere / Jina / Xinference rerank shapes built from RerankResult."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import GteError
from gte_ui.frontends.protocols.cohere import CohereRerankRequest, CohereRerankResponse
from gte_ui.frontends.protocols.parse import validate

QUERY, DOCS = "手机电池续航", ["电池很耐用", "今天下雨了", "充电很快"]


def test_answer_is_best_first_with_documents_only_when_asked(tiny_service):
    r = tiny_service.rerank(QUERY, DOCS)  # no --reranker: the embedding cosine
    bare = CohereRerankResponse.from_result(r, return_documents=False)
    assert [x.index for x in bare.results] == [row.index for row in r.rows]
    assert [x.relevance_score for x in bare.results] == [row.score for row in r.rows]
    assert all(x.document is None for x in bare.results)
    assert bare.method == "embedding" == bare.meta["method"] and bare.usage.total_tokens == r.tokens
    full = CohereRerankResponse.from_result(r, return_documents=True)
    assert [x.document.text for x in full.results] == [DOCS[row.index] for row in r.rows]
    assert full.id != bare.id  # one id per answer


def test_request_reads_string_and_object_documents_and_refuses_unknown_keys():
    req = validate(CohereRerankRequest, {"query": "q", "documents": ["a", {"text": "b", "title": "t"}],
                                         "model": "rerank-v3.5", "top_n": 1, "return_documents": True})
    assert req.texts() == ["a", "b"]
    with pytest.raises(GteError) as err:
        validate(CohereRerankRequest, {"query": "q", "documents": ["a"], "return_document": True})
    assert err.value.status_code == 422 and "return_document" in err.value.message
