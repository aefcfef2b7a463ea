"""One typed result per operation, each with its one canonical serialisation (``to_dict``).

Every front end answers from these: the REST shapes, the named Gradio endpoints, the serverless
routes and the CLI's JSON are thin adapters that take ``to_dict()`` and, where a foreign API
fixes other names (the Flask service's ``similarity``, Gradio 3's ``data``), add those. Canonical
names: ``score``, ``percent``, ``verdict`` (中文) + ``verdict_en``, ``tokens`` and ``truncated``
(lists, one entry per text), ``elapsed_ms``. Numbers are plain floats, never rounded here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.scoring import Verdict, VerdictBands


@dataclass
class EmbedResult:
    """Vectors [n, dim] float32 (L2-normalised) in input order, with per-text facts."""

    vectors: np.ndarray
    texts: list[str]
    token_counts: list[int]
    truncated: list[bool]
    chunks: list[int]
    #: how many came from the cache: for tests and benchmarks, never in an answer (``to_dict``),
    #: since it would tell a visitor which texts anyone sent recently (issue 26; /metrics counts hits)
    cached: int
    elapsed_ms: float
    max_length: int | None = None  # tokens the model reads per text at most
    prompt: str | None = None  # put before every text (instruction models): shown for reproducibility
    dimensions: int | None = None  # vectors cut to this many dimensions and re-normalised
    model: str = ""  # the model that answered (its API name)
    unknown_token_ratio: list[float] = field(default_factory=list)  # per text: share of [UNK] tokens
    #: e.g. texts the vocabulary mostly does not know, truncating a model not trained for it
    warnings: list[str] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        """Tokens the model actually read (after truncation): the ``usage`` of an API call."""
        if self.max_length is None:
            return int(sum(self.token_counts))
        return int(sum(n if c > 1 else min(n, self.max_length)
                       for n, c in zip(self.token_counts, self.chunks)))

    def to_dict(self) -> dict[str, Any]:
        return {"dim": int(self.vectors.shape[1]), "vectors": self.vectors.tolist(),
                "tokens": list(self.token_counts), "truncated": list(self.truncated),
                "chunks": list(self.chunks), "total_tokens": self.total_tokens,
                "elapsed_ms": self.elapsed_ms, "model": self.model, "prompt": self.prompt,
                "unknown_token_ratio": list(self.unknown_token_ratio), "warnings": list(self.warnings)}


@dataclass
class PairResult:
    score: float  # cosine, [-1, 1]
    percent: float  # 0–100, what the gauge shows
    verdict: Verdict
    tokens_a: int
    tokens_b: int
    truncated_a: bool
    truncated_b: bool
    elapsed_ms: float
    bands: VerdictBands
    prompt: str | None = None  # put before sentence A (the query side); B is bare
    model: str = ""  # the model that answered (its API name)
    #: the verdict under SPEC's fixed 0.75 / 0.50 bands, when the bands in use are calibrated or set
    default_verdict: Verdict | None = None
    unknown_token_ratio: list[float] = field(default_factory=list)  # [A, B]: share of [UNK] tokens
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {"score": self.score, "percent": self.percent, **_verdict(self.verdict),
               "tokens": [self.tokens_a, self.tokens_b], "truncated": [self.truncated_a, self.truncated_b],
               "prompt": self.prompt, "elapsed_ms": self.elapsed_ms, "model": self.model,
               "bands": {"high": self.bands.high, "mid": self.bands.mid, "source": self.bands.source},
               "unknown_token_ratio": list(self.unknown_token_ratio), "warnings": list(self.warnings)}
        if self.default_verdict is not None:
            out["default_verdict"] = self.default_verdict.zh
            out["default_verdict_en"] = self.default_verdict.en
        return out


@dataclass
class RankRow:
    rank: int  # 1-based
    index: int  # position in the candidates as given (0-based)
    text: str
    score: float
    percent: float
    verdict: Verdict
    tokens: int
    truncated: bool
    duplicate: bool  # the same text appears earlier in the candidates
    unknown_token_ratio: float = 0.0  # share of the candidate's tokens the vocabulary does not know

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "index": self.index, "text": self.text, "score": self.score,
                "percent": self.percent, **_verdict(self.verdict), "tokens": self.tokens,
                "truncated": self.truncated, "duplicate": self.duplicate,
                "unknown_token_ratio": self.unknown_token_ratio}


@dataclass
class RankResult:
    source: str
    source_tokens: int
    source_truncated: bool
    rows: list[RankRow]  # best first, at most top_k
    total: int  # candidates scored
    elapsed_ms: float
    scores: list[float] = field(default_factory=list)  # every score, in candidate order
    prompt: str | None = None  # put before the source (the query side); candidates are bare
    model: str = ""
    source_unknown_token_ratio: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "source_tokens": self.source_tokens,
                "source_truncated": self.source_truncated, "total": self.total, "scores": list(self.scores),
                "ranking": [row.to_dict() for row in self.rows], "prompt": self.prompt, "elapsed_ms": self.elapsed_ms,
                "model": self.model, "source_unknown_token_ratio": self.source_unknown_token_ratio,
                "warnings": list(self.warnings)}


@dataclass
class MatrixResult:
    texts: list[str]
    scores: np.ndarray  # [n, n]
    token_counts: list[int]
    truncated: list[bool]
    elapsed_ms: float
    prompt: str | None = None  # put before every text (all are compared alike)
    unknown_token_ratio: list[float] = field(default_factory=list)  # per text: share of [UNK] tokens
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"texts": list(self.texts), "scores": np.asarray(self.scores, dtype=float).tolist(),
                "tokens": list(self.token_counts), "truncated": list(self.truncated),
                "prompt": self.prompt, "elapsed_ms": self.elapsed_ms,
                "unknown_token_ratio": list(self.unknown_token_ratio), "warnings": list(self.warnings)}


@dataclass
class RerankRow:
    rank: int  # 1-based
    index: int  # position in the documents as given (0-based)
    text: str
    score: float  # sigmoid(logit) in [0, 1], the raw logit when asked, or the cosine (method "embedding")
    tokens: int  # tokens of query + document (cross-encoder) or of the document (embedding)
    truncated: bool
    unknown_token_ratio: float = 0.0  # share of the document's tokens the scoring model's vocabulary lacks

    def to_dict(self, text: bool = True) -> dict[str, Any]:
        return {"rank": self.rank, "index": self.index, "score": self.score, "tokens": self.tokens,
                "truncated": self.truncated, "unknown_token_ratio": self.unknown_token_ratio,
                **({"text": self.text} if text else {})}


@dataclass
class RerankResult:
    """Documents scored against a query, best first.

    ``method`` says what scored them: ``"cross-encoder"`` (the ``--reranker``) or ``"embedding"``
    (no reranker loaded, or asked for: the cosine of the embedding model).
    """

    query: str
    method: str  # "cross-encoder" | "embedding"
    model: str  # the model that scored
    raw_scores: bool  # scores are raw logits (cross-encoder only)
    scores: list[float]  # every document's score, in document order
    rows: list[RerankRow]  # best first, at most top_n
    total: int  # documents scored
    tokens: int  # tokens the model read (usage)
    cached: int  # scores that came from the cache: like EmbedResult's, never in an answer
    elapsed_ms: float
    query_unknown_token_ratio: float = 0.0
    #: e.g. a query or documents the scoring model's vocabulary mostly does not know
    warnings: list[str] = field(default_factory=list)

    def to_dict(self, return_documents: bool = True) -> dict[str, Any]:
        return {"query": self.query, "method": self.method, "model": self.model, "raw_scores": self.raw_scores,
                "scores": list(self.scores), "results": [r.to_dict(return_documents) for r in self.rows],
                "total": self.total, "total_tokens": self.tokens,
                "elapsed_ms": self.elapsed_ms, "query_unknown_token_ratio": self.query_unknown_token_ratio,
                "warnings": list(self.warnings)}

    def refuse_truncated(self, what: str = "texts") -> None:
        """The rule behind TEI's ``truncate: false``: a pair over the reranker's limit is refused
        (413, naming the first such document) instead of answered from its truncated head."""
        over = next((row for row in sorted(self.rows, key=lambda x: x.index) if row.truncated), None)
        if over is not None:
            raise GteError(ErrorType.TOO_LONG, f"{what}[{over.index}] with the query has {over.tokens} tokens, over "
                           "the reranker's limit; send truncate: true to cut it",
                           f"{what}[{over.index}] 与查询合计 {over.tokens} 个词元，超过上限")


@dataclass(frozen=True)
class LoadedModel:
    """One loaded embedding model as clients may see it (its API name, never its folder)."""

    name: str
    dim: int
    max_length: int
    device: str
    precision: str
    backend: str
    memory_estimate: int | None  # bytes, when loaded through from_settings
    default: bool  # the model a request without ``model`` gets

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "max_length": self.max_length, "device": self.device,
                "precision": self.precision, "backend": self.backend, "memory_estimate": self.memory_estimate,
                "default": self.default}


@dataclass
class HealthResult:
    """Readiness, the one answer every front end's health adapts (HTTP ``/health``, serverless
    ``GET /health``, the CLI's ``health`` reads the HTTP one).

    What it may show is docs/security.md's rule: the default model's public facts (no path), the
    cache, batcher and reranker counters, the loaded models; never library versions.
    """

    facts: dict[str, Any]  # the default model's ModelInfo.public_dict(): model, dim, device, backend, …
    counters: dict[str, Any]  # cache (local, shared), forward_calls, texts_encoded, batcher, reranker, uptime_s
    models: list[LoadedModel]  # every loaded model, the default first
    status: str = "ok"
    ready: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "ready": self.ready, **self.facts, **self.counters,
                "models": [m.to_dict() for m in self.models]}


def _verdict(v: Verdict) -> dict[str, str]:
    return {"verdict": v.zh, "verdict_en": v.en}
