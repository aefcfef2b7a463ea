"""Retrieve → rerank, one capability: stage 1 ranks by embedding cosine (pasted candidates, or an
index's search), stage 2 reorders the top k with the ``--reranker`` cross-encoder. The Rerank tab
calls :func:`two_stage`; search (``/v1/search``, the Search tab, ``gte-ui search --rerank``) calls
:func:`rerank_hits`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.service.options import TextOptions
from gte_ui.service.results import RankResult, RerankResult
from gte_ui.service.service import EmbeddingService


class Retrieved(Protocol):
    """What stage 2 reorders: a search's answer (:class:`gte_ui.service.search.SearchResult`)."""

    query: str
    hits: list[Any]  # each with .embed_text, .rank, .rerank_score
    rerank_ms: float
    reranker: str | None


def movement(before: int, after: int) -> str:
    """``↑3`` (moved up three places), ``↓1`` or ``—`` (ranks are 1-based, smaller is better)."""
    return f"↑{before - after}" if after < before else (f"↓{after - before}" if after > before else "—")


@dataclass
class TwoStage:
    """Stage 1 (embedding retrieval over every candidate) and stage 2 (rerank of its top k)."""

    retrieved: RankResult  # stage 1, best first, top k rows
    reranked: RerankResult | None  # stage 2 over the retrieved texts; None without a reranker
    retrieve_ms: float
    rerank_ms: float
    kind: str = "cross-encoder"  # the reranker's kind: "cross-encoder" or "decoder yes/no"
    unknown_warn: float = 1.0  # --unknown-warn: rows above it are marked


def two_stage(service: EmbeddingService, query: str, documents: list[str], top_k: int,
              options: TextOptions | None = None) -> TwoStage:
    """Retrieve ``top_k`` of ``documents`` by embedding cosine, then rerank those with the
    cross-encoder (skipped, and said so, when no ``--reranker`` is loaded).

    ``options`` apply to both stages alike (繁→简 etc. normalise what each model reads), except
    the instruction, which is the embedding model's: stage 1 only. Rows keep the texts as typed.
    """
    if not isinstance(top_k, int) or top_k < 1:
        raise GteError(ErrorType.VALIDATION, f"top-k must be at least 1, got {top_k!r}", "Top-k 至少为 1")
    t0 = time.perf_counter()
    query = service.check_text(query, "query")  # named as the tab names it ("source" in rank's words)
    retrieved = service.rank(query, documents, top_k=top_k, options=options)
    retrieve_ms = (time.perf_counter() - t0) * 1000
    if service.reranker is None:
        return TwoStage(retrieved, None, retrieve_ms, 0.0, unknown_warn=service.settings.unknown_warn)
    t1 = time.perf_counter()
    reranked = service.rerank(query, [row.text for row in retrieved.rows], method="cross-encoder",
                              options=options.without_prompt() if options is not None else None)
    return TwoStage(retrieved, reranked, retrieve_ms, (time.perf_counter() - t1) * 1000, service.reranker.info.kind,
                    unknown_warn=service.settings.unknown_warn)


def rerank_hits(service: EmbeddingService, result: Retrieved, options: TextOptions | None = None) -> None:
    """Stage 2 over a search's hits, in place: the cross-encoder's order becomes ``rank``, each
    hit keeps its ``retrieval_rank`` and gets its ``rerank_score``.

    Raises:
        GteError: 422 when no ``--reranker`` is loaded (a search that asks to rerank is never
            silently answered in the embedding's order).
    """
    if not result.hits:
        return
    t0 = time.perf_counter()
    # the reranker reads the query and documents as the index's text options normalise them; the
    # embedding model's instruction is not its
    rr = service.rerank(result.query, [h.embed_text for h in result.hits],
                        method="cross-encoder", options=options.without_prompt() if options is not None else None)
    for row in rr.rows:
        hit = result.hits[row.index]
        hit.rank, hit.rerank_score = row.rank, row.score
    result.hits.sort(key=lambda h: h.rank)
    result.rerank_ms = (time.perf_counter() - t0) * 1000
    result.reranker = rr.model
