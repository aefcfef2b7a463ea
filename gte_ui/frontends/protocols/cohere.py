"""Cohere's rerank shapes (``POST /v1/rerank``, ``/v2/rerank`` for Cohere's ``ClientV2``), which
Jina and Xinference share, built from :class:`RerankResult`.

The request takes the fields those clients send and the project's text options; any other key is
a 422 naming it. ``model`` is accepted and ignored: the loaded ``--reranker`` answers.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gte_ui.frontends.protocols.common import TextHandlingFields
from gte_ui.service.results import RerankResult


class CohereDocument(BaseModel):
    """A document as an object: its ``text`` is scored; other keys (a title, an id) are its data."""

    model_config = ConfigDict(extra="ignore")
    text: str


class CohereRerankRequest(TextHandlingFields):
    """Cohere / Jina / Xinference ``/v1/rerank`` (and Cohere's ``/v2/rerank``) body."""

    query: str
    documents: list[str | CohereDocument]
    model: str | None = Field(None, description="ignored: the loaded reranker answers")
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


class CohereRerankResult(BaseModel):
    index: int
    relevance_score: float
    document: CohereDocument | None = None


class CohereUsage(BaseModel):
    total_tokens: int


class CohereRerankResponse(BaseModel):
    id: str
    results: list[CohereRerankResult]
    model: str
    method: Literal["cross-encoder", "embedding"]
    usage: CohereUsage
    meta: dict[str, Any]

    @classmethod
    def from_result(cls, r: RerankResult, return_documents: bool) -> CohereRerankResponse:
        """Best first, ``document`` only when asked for; the warnings in Cohere's own ``meta.warnings``
        (its clients read them)."""
        results = [CohereRerankResult(index=row.index, relevance_score=row.score,
                                      document=CohereDocument(text=row.text) if return_documents else None)
                   for row in r.rows]
        return cls(id=uuid.uuid4().hex, results=results, model=r.model, method=r.method,
                   usage=CohereUsage(total_tokens=r.tokens),
                   meta={"api_version": {"version": "2"}, "billed_units": {"search_units": 1}, "method": r.method,
                         **({"warnings": r.warnings} if r.warnings else {})})
