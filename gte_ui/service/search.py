"""Search an index: the query embedded by the index's own model, top-k with scores and verdicts,
the best-matching tokens of each hit (the alignment capability), and an optional rerank stage
(:mod:`gte_ui.service.two_stage`). Every front end (``POST /v1/search``, the Gradio ``/search``
endpoint, ``gte-ui search``, the 检索 Search tab) calls :func:`search`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.scoring import Verdict, to_percent, verdict
from gte_ui.core.settings import Settings
from gte_ui.engine.vector_index import (
    IndexCatalog,
    IndexManifest,
    StoreOptions,
    VectorIndex,
)
from gte_ui.service import embedding_map
from gte_ui.service.options import DEFAULT_OPTIONS, TextOptions
from gte_ui.service.service import EmbeddingService
from gte_ui.service.two_stage import movement, rerank_hits

MAX_TOP_K = 100  # hits per search (the rerank stage scores each one)
HIGHLIGHTS = 5  # best-matching tokens shown per hit


def catalog_from_settings(settings: Settings) -> IndexCatalog:
    """The folder of indexes the settings name (``--index-dir``) with their store options: one
    catalog per folder in a process, so the HTTP routes, the Gradio endpoint and the Search tab
    share each opened index (its memory map is mapped once)."""
    return _catalog(settings.index_dir, StoreOptions(hnsw_m=settings.hnsw_m, hnsw_ef_search=settings.hnsw_ef_search,
                                                     milvus_uri=settings.milvus_uri))


def settings_for_index(settings: Settings, manifest: IndexManifest, argv: Sequence[str]) -> Settings:
    """A command line's settings for working on ``manifest``'s index: without ``--model`` in
    ``argv``, the model that built it (so ``search`` / ``map --index`` need no model flag)."""
    if not any(a == "--model" or a.startswith("--model=") or a == "-m" for a in argv) and manifest.model_source:
        return settings.replace(model=manifest.model_source)
    return settings


@functools.lru_cache(maxsize=16)
def _catalog(index_dir: str, opts: StoreOptions) -> IndexCatalog:
    return IndexCatalog(index_dir, opts)


def check_top_k(top_k: object) -> int:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise GteError(ErrorType.VALIDATION, f"top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}",
                       f"top_k 必须是 1 到 {MAX_TOP_K} 之间的整数，收到 {top_k!r}")
    return top_k


def model_for_index(service: EmbeddingService, manifest: IndexManifest, model: str | None = None) -> EmbeddingService:
    """The loaded model that built ``manifest``'s vectors; ``model`` (a request's) must be it.

    Raises:
        GteError: MODEL_MISMATCH (409) naming both models when the index was built with a model
            this server does not serve under that name, or with another width / pooling.
    """
    candidates = [service.for_model(model)] if model else service.models()
    for s in candidates:
        if (s.info.fingerprint or s.info.path) == manifest.fingerprint and s.dim == manifest.dim \
                and s.info.pooling == manifest.pooling:
            return s
    asked = candidates[0].name if model else ", ".join(s.name for s in candidates)
    raise GteError(ErrorType.MODEL_MISMATCH,
                   f"index {manifest.name!r} was built with model {manifest.model!r} ({manifest.dim}-d, "
                   f"{manifest.pooling} pooling); it cannot be searched with {asked!r}: vectors of different "
                   f"models are not comparable. Serve {manifest.model!r} or rebuild the index with this model",
                   f"索引 {manifest.name!r} 由模型 {manifest.model!r} 构建，不能用 {asked!r} 检索（不同模型的向量不可比）；"
                   f"请加载 {manifest.model!r} 或用当前模型重建索引")


def manifest_warnings(service: EmbeddingService, manifest: IndexManifest) -> list[str]:
    """Differences that keep vectors comparable but not identical (precision, max length)."""
    out = []
    if service.info.precision != manifest.precision:
        out.append(f"索引以 {manifest.precision} 构建，查询以 {service.info.precision} 编码，分数略有偏差 / index built "
                   f"in {manifest.precision}, queries embedded in {service.info.precision}: scores differ slightly")
    if service.max_length != manifest.max_length:
        out.append(f"索引最大长度 {manifest.max_length}，当前 {service.max_length} / index built with max length "
                   f"{manifest.max_length}, queries read up to {service.max_length} tokens")
    return out


@dataclass
class Highlight:
    """A document token that carries the match: its best cosine with any query token."""

    token: str
    score: float
    query_token: str

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "score": round(self.score, 4), "query_token": self.query_token}


@dataclass
class SearchHit:
    """One document found. ``rank`` is the final order (the reranker's when it ran);
    ``retrieval_rank`` the embedding search's."""

    rank: int
    retrieval_rank: int
    row: int
    id: str
    title: str
    text: str
    score: float  # cosine of query and document
    verdict: Verdict
    rerank_score: float | None = None
    highlights: list[Highlight] = field(default_factory=list)

    @property
    def embed_text(self) -> str:
        """What the models read: ``title text`` when there is a title (as the index embedded it)."""
        return f"{self.title} {self.text}" if self.title else self.text

    @property
    def moved(self) -> str:
        """``↑3`` (moved up three places by the reranker), ``↓1`` or ``—``."""
        return movement(self.retrieval_rank, self.rank)

    def to_dict(self) -> dict[str, Any]:
        d = {"rank": self.rank, "retrieval_rank": self.retrieval_rank, "row": self.row, "id": self.id,
             "title": self.title, "text": self.text, "score": round(self.score, 6), "percent": to_percent(self.score),
             "verdict": self.verdict.en, "verdict_zh": self.verdict.zh}
        if self.rerank_score is not None:
            d.update(rerank_score=round(self.rerank_score, 6), moved=self.moved)
        if self.highlights:
            d["highlights"] = [h.to_dict() for h in self.highlights]
        return d


@dataclass
class SearchResult:
    index: str
    model: str
    query: str
    hits: list[SearchHit]
    rows: int  # documents in the index
    store: str
    embed_ms: float  # the query's embedding (reported apart: the search itself is search_ms)
    search_ms: float
    rerank_ms: float = 0.0
    reranker: str | None = None  # the cross-encoder that ordered the hits, when one did
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "model": self.model, "query": self.query, "rows": self.rows,
                "store": self.store, "reranker": self.reranker, "hits": [h.to_dict() for h in self.hits],
                "timing_ms": {"embed": round(self.embed_ms, 2), "search": round(self.search_ms, 2),
                              "rerank": round(self.rerank_ms, 2)},
                "warnings": self.warnings}


def highlights(service: EmbeddingService, query: str, text: str, n: int = HIGHLIGHTS) -> list[Highlight]:
    """The ``n`` document tokens with the highest best-cosine against the query's tokens."""
    al = service.align(query, text)
    best = np.asarray(al.matrix).max(axis=0)  # per document token, its best query token's cosine
    order = np.argsort(-best, kind="stable")[:n]
    return [Highlight(al.tokens_b[j], float(best[j]), al.tokens_a[al.best_a[j]]) for j in order]


def retrieve(s: EmbeddingService, index: VectorIndex, query: str, top_k: int,
             options: TextOptions | None = None) -> tuple[list[SearchHit], float, float, list[str]]:
    """Stage 1: the query through ``s`` (the index's model: :func:`model_for_index`), top-k by the
    index's store."""
    t0 = time.perf_counter()
    res = s.embed([query], what="query", options=options)
    t1 = time.perf_counter()
    scores, rows = index.search(res.vectors, top_k)
    t2 = time.perf_counter()
    records = index.records(rows[0].tolist())
    bands = s.bands
    hits = [SearchHit(rank=r + 1, retrieval_rank=r + 1, row=rec.row, id=rec.id, title=rec.title, text=rec.text,
                      score=float(sc), verdict=verdict(float(sc), bands))
            for r, (rec, sc) in enumerate(zip(records, scores[0].tolist()))]
    _, warnings = s.unknown_report([res.texts[0]])
    return hits, (t1 - t0) * 1000, (t2 - t1) * 1000, warnings + manifest_warnings(s, index.manifest)


def search(service: EmbeddingService, catalog: IndexCatalog, index: object, query: object, top_k: object = 10, *,
           rerank: bool = False, highlight: bool = False, model: str | None = None,
           options: TextOptions | None = None) -> SearchResult:
    """Top ``top_k`` documents of the index named ``index`` for ``query``.

    Args:
        model: the model a request names; it must be the one that built the index (409 if not).
        rerank: reorder the hits with the ``--reranker`` cross-encoder (422 when none is loaded);
            each hit then says how it moved.
        highlight: each hit's best-matching tokens (one fp32 forward pass per hit).
        options: text options for the query: none given, the index's own (its manifest);
            others than the index's are a 422.
    Raises:
        GteError: 404 unknown index, 409 another model, 422 a bad ``top_k`` / query / options.
    """
    if not isinstance(index, str) or not index:
        raise GteError(ErrorType.VALIDATION, "index must be the name of an index", "index 必须是索引名")
    top_k = check_top_k(top_k)
    idx = catalog.open(index)
    if model:
        model_for_index(service, idx.manifest, model)
    options = index_options(idx, options)
    s = model_for_index(service, idx.manifest)
    text = s.check_text(query, "query")
    hits, embed_ms, search_ms, warnings = retrieve(s, idx, text, top_k, options)
    result = SearchResult(index=idx.name, model=s.name, query=text, hits=hits, rows=idx.manifest.rows,
                          store=idx.manifest.store, embed_ms=embed_ms, search_ms=search_ms, warnings=warnings)
    if rerank:  # the one --reranker sits beside the default model and serves every index
        rerank_hits(service, result, options)
    if highlight:
        for h in result.hits:
            h.highlights = highlights(s, text, h.embed_text)
    return result


def index_options(idx: VectorIndex, options: TextOptions | None) -> TextOptions:
    """The text options a query of ``idx`` is read with: the index's own when none are asked;
    others than the index's are a 422 (its vectors were made with those)."""
    options = options or DEFAULT_OPTIONS
    if not options.norm.key() and idx.manifest.text_norm:  # none asked: the index's own
        flags = idx.manifest.text_norm.split("+")
        options = replace(options, t2s="t2s" in flags, nfkc="nfkc" in flags,
                          collapse_whitespace="collapse_whitespace" in flags)
    if options.norm.key() != idx.manifest.text_norm:
        raise GteError(ErrorType.VALIDATION,
                       f"index {idx.name!r} was embedded with text options {idx.manifest.text_norm!r}; the query asks "
                       f"for {options.norm.key()!r}: use the index's options",
                       f"索引 {idx.name!r} 的文本选项为 {idx.manifest.text_norm!r}，查询为 {options.norm.key()!r}，请保持一致")
    return options


def index_map(service: EmbeddingService, catalog: IndexCatalog, index: object, *, queries: Sequence[str] = (),
              method: str = "pca", clusters: int = embedding_map.DEFAULT_CLUSTERS, model: str | None = None,
              seed: int = 0) -> embedding_map.EmbeddingMap:
    """The embedding map (向量地图) of the index named ``index`` from its stored vectors (a sample of
    ``--map-max-points`` rows, nothing re-embedded); ``queries`` are embedded by the index's own model
    with the index's text options and drawn over it.

    Raises:
        GteError: 404 unknown index, 409 ``model`` is not the index's, 422 bad method / clusters.
    """
    if not isinstance(index, str) or not index:
        raise GteError(ErrorType.VALIDATION, "index must be the name of an index", "index 必须是索引名")
    idx = catalog.open(index)
    owner = model_for_index(service, idx.manifest, model)
    return embedding_map.map_index(idx, service=owner, queries=queries, method=method, clusters=clusters,
                                   max_points=owner.settings.map_max_points, seed=seed,
                                   options=index_options(idx, None))


def list_indexes(catalog: IndexCatalog) -> list[dict[str, Any]]:
    """Every published index's manifest (what ``GET /v1/indexes`` and ``index list`` show)."""
    return [m.public_dict() for m in catalog.manifests()]
