"""The one service every front end calls: UI callbacks, HTTP routes, the CLI and serverless.

:class:`EmbeddingService` is a facade: it holds one model's parts (encoder, caches, batcher,
reranker, bands) and hands each call, in one line, to the module that does it: loading and the
model list (:mod:`.registry`), checks (:mod:`.validation`), the cache (:mod:`.cache`), and one
module per capability (:mod:`.embed`, :mod:`.pair`, :mod:`.rank`, :mod:`.matrix`,
:mod:`.rerank`, :mod:`.align`, :mod:`.compare`, :mod:`.inspection`). Those read the parts
directly, so a request enters the service once. Results are the typed ones of
:mod:`gte_ui.service.results`; anything the caller did wrong is a :class:`~gte_ui.core.errors.GteError`
that front ends turn into a UI warning or an HTTP status.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gte_ui.core.bands import save_bands
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.scoring import VerdictBands
from gte_ui.core.settings import Settings
from gte_ui.engine.caches.local import EmbeddingCache
from gte_ui.engine.caches.shared import SharedCache
from gte_ui.engine.decoder_reranker import DecoderReranker
from gte_ui.engine.encoder import Encoded, Encoder, ModelInfo
from gte_ui.engine.inspection import Alignment
from gte_ui.engine.prompts import Prompts
from gte_ui.engine.reranker import Reranker
from gte_ui.service import (
    align,
    compare,
    embed,
    inspection,
    matrix,
    pair,
    rank,
    registry,
    rerank,
    validation,
)
from gte_ui.service.cache import TieredCache, shared_from_settings
from gte_ui.service.inspection import UnknownTally, unknown_warning
from gte_ui.service.options import TextOptions
from gte_ui.service.registry import ModelRegistry, default_bands
from gte_ui.service.results import (
    EmbedResult,
    MatrixResult,
    PairResult,
    RankResult,
    RankRow,
    RerankResult,
    RerankRow,
)
from gte_ui.service.validation import TextChecks, refuse_over_budget

__all__ = [
    "EmbedResult",
    "EmbeddingService",
    "MatrixResult",
    "PairResult",
    "RankResult",
    "RankRow",
    "RerankResult",
    "RerankRow",
    "TextOptions",
    "UnknownTally",
    "default_bands",
    "refuse_over_budget",
    "shared_from_settings",
    "unknown_warning",
]


class EmbeddingService:
    """One served model (the default one also lists the others): its parts, and every operation.

    Args:
        encoder: the loaded :class:`Encoder` (or Ray Serve's remote one).
        settings: limits and verdict bands.
        runner: what embeds the cache misses; defaults to ``encoder.encode``. The dynamic
            batcher plugs in here so concurrent requests share forward passes.
        shared: the Redis tier behind the local cache (``--cache-url``), or None.
        reranker / rerank_runner: the cross-encoder and what scores its pairs (its batcher).
    """

    def __init__(self, encoder: Encoder, settings: Settings | None = None,
                 runner: Callable[[Sequence[str]], Encoded] | None = None,
                 bands: VerdictBands | None = None, name: str | None = None,
                 shared: SharedCache | None = None, reranker: Reranker | DecoderReranker | None = None,
                 rerank_runner: Callable[[Sequence[tuple[str, str]]], Encoded] | None = None) -> None:
        self.encoder = encoder
        #: what requests call this model (``model`` in every API); the default model's when alone
        self.name = name or encoder.info.name
        self.settings = settings or Settings()
        self.checks = TextChecks(self.settings)
        self.registry = ModelRegistry(self)
        self.memory_estimate: int | None = None  # bytes, when loaded through from_settings
        self.cache = EmbeddingCache(self.settings.cache_size, self.settings.cache_bytes)
        #: the second tier (Redis), behind ``cache``; None unless --cache-url
        self.shared = shared
        if shared is not None and shared.dim is None:
            shared.dim = encoder.dim  # entries of another width are refused, never served
        self.vectors = TieredCache(self.cache, shared)
        self.runner = runner or encoder.encode
        #: the verdict bands every caller's verdicts use (one immutable object, swapped whole)
        self.bands = bands or default_bands(self.settings)
        self._bands_lock = threading.Lock()
        info = encoder.info
        # Everything that changes a vector. The model is named by its content hash (the same on
        # every machine) when known, so processes sharing a Redis share only identical models.
        int8 = f"{self.settings.int8_mode}/{self.settings.int8_engine}" if info.precision == "int8" else "-"
        self.vector_prefix = (f"{info.fingerprint or info.path}|{self.settings.revision or '-'}|"
                              f"{info.precision}|{int8}|{info.backend}|{info.pooling}|{encoder.max_length}")
        #: tokens the model read for cache misses (the metrics' tokens embedded)
        self.tokens_embedded = 0
        #: the cross-encoder, or None: rerank then answers from the embedding cosine and says so
        self.reranker = reranker
        self.rerank_runner = rerank_runner or (reranker.score if reranker is not None else None)
        # its own cache (scores of (query, document) pairs), so reranking never evicts vectors
        self.rerank_cache = EmbeddingCache(self.settings.cache_size, self.settings.cache_bytes)
        self.scores = TieredCache(self.rerank_cache)
        self.score_prefix = ""
        if reranker is not None:
            r = reranker.info
            self.score_prefix = f"{r.path}|{r.precision}|{r.backend}|{reranker.max_length}|{r.instruction or ''}"
        self.aligner = align.LazyAligner()
        self.started = time.time()

    # ------------------------------------------------------------ loading and the model list
    @classmethod
    def from_settings(cls, settings: Settings, *, batching: bool = True,
                      folders: dict[str, Path] | None = None) -> EmbeddingService:
        """Load the model and every ``--models`` entry beside it (:func:`.registry.load_models`)."""
        return registry.load_models(settings, cls, batching=batching, folders=folders)

    def close(self) -> None:
        self.registry.close()

    def add_model(self, other: EmbeddingService) -> None:
        self.registry.add(other)

    def models(self) -> list[EmbeddingService]:
        return self.registry.models()

    def for_model(self, name: str | None) -> EmbeddingService:
        return self.registry.for_model(name)

    def observe_batches(self, observe: Callable[[int, int], None]) -> bool:
        """Call ``observe(texts, requests)`` after every merged forward pass of the dynamic batcher
        (for metrics). Returns False when this service runs without a batcher."""
        observers = getattr(self.runner, "observers", None)
        if observers is None:
            return False
        observers.append(observe)
        return True

    # ------------------------------------------------------------ facts
    @property
    def info(self) -> ModelInfo:
        return self.encoder.info

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def prompts(self) -> Prompts:
        """The model's instruction prompts (empty for models without them)."""
        return self.encoder.prompts

    @property
    def max_length(self) -> int:
        """Tokens the model reads per text (per window when chunking)."""
        return self.encoder.max_length

    @property
    def max_batch_tokens(self) -> int | None:
        """Padded tokens one forward pass may hold (TEI's ``--max-batch-tokens``)."""
        return self.encoder.max_batch_tokens

    def stats(self) -> dict[str, object]:
        batcher = {k: getattr(self.runner, k) for k in ("batches", "requests", "pending", "replicas", "retries")
                   if hasattr(self.runner, k)}
        shared = self.shared.stats() if self.shared is not None else {
            "enabled": False, "up": False, "hits": 0, "misses": 0, "errors": 0}
        return {"cache": {"local": self.cache.stats(), "shared": shared}, "forward_calls": self.encoder.forward_calls,
                "texts_encoded": self.encoder.texts_encoded, "batcher": batcher,
                "reranker": self.reranker_facts(), "uptime_s": round(time.time() - self.started, 1)}

    def reranker_facts(self) -> dict[str, object]:
        """What reranks: the cross-encoder's facts and counters, or the embedding fallback."""
        if self.reranker is None:
            return {"loaded": False, "method": "embedding",
                    "note": "no --reranker: rerank answers from the embedding model's cosine"}
        batcher = {k: getattr(self.rerank_runner, k) for k in ("batches", "requests", "pending")
                   if hasattr(self.rerank_runner, k)}
        # "method" names the rerank stage the API's `method` selects; the model's kind is in the facts
        return {"loaded": True, "method": "cross-encoder", **self.reranker.info.public_dict(),
                "forward_calls": self.reranker.forward_calls, "pairs_scored": self.reranker.pairs_scored,
                "cache": self.rerank_cache.stats(), "batcher": batcher}

    def set_bands(self, bands: VerdictBands, *, save: bool = True) -> Path | None:
        """Replace the server-wide verdict bands; with ``save``, first store them as this model's
        calibration file in ``Settings.calibration_dir`` (so a restart keeps them). Returns the
        file written, or None. This changes every user's verdicts: front ends decide who may call
        it (``Settings.calibration_allowed``); the lock keeps two concurrent saves from leaving
        the file and the bands in use from different calls."""
        if not isinstance(bands, VerdictBands):  # VerdictBands itself checks -1 <= mid < high <= 1
            raise GteError(ErrorType.VALIDATION, f"verdict bands must be VerdictBands, got {type(bands).__name__}",
                           "判定阈值类型无效")
        with self._bands_lock:
            path = save_bands(self.settings.model, bands, self.settings.calibration_dir) if save else None
            self.bands = bands
        return path

    # ------------------------------------------------------------ checks (gte_ui.service.validation)
    def check_text(self, text: object, what: str = "text") -> str:
        return self.checks.text(text, what)

    def check_texts(self, texts: object, what: str = "texts", limit: int | None = None) -> list[str]:
        return self.checks.texts(texts, what, limit)

    def check_dimensions(self, dimensions: object) -> int | None:
        return validation.check_dimensions(dimensions, self.dim, self.info.min_dimensions)

    def dimension_warning(self, dimensions: int | None) -> str | None:
        return validation.dimension_warning(dimensions, self.dim, self.info.min_dimensions)

    def check_work(self, texts: list[str], options: TextOptions | None = None) -> None:
        """The ``--max-tokens-per-request`` 413 for a capability that embeds through
        :meth:`embed_corpus` on a request's behalf (the embedding map)."""
        embed.check_request_work(self, texts, embed.long_text_mode(self, options))

    def check_rerank_work(self, pairs: Sequence[tuple[str, str]]) -> None:
        validation.check_rerank_work(self.reranker, pairs, self.settings.max_tokens_per_request)

    def prompt_for(self, options: TextOptions | None) -> str | None:
        return embed.prompt_for(self, options)

    # ------------------------------------------------------------ unknown tokens (gte_ui.service.inspection)
    def unknown_report(self, texts: Sequence[str], labels: Sequence[tuple[str, str]] | None = None, *,
                       tokenizer=None, model: str | None = None) -> tuple[list[float], list[str]]:
        return inspection.report_unknown_texts(self, texts, labels, tokenizer=tokenizer, name=model)

    def unknown_share(self, texts: Sequence[str], *, tokenizer=None, model: str | None = None) -> tuple[float, list[str]]:
        """For a data set (evaluation): the share of all its (distinct) texts' tokens the
        vocabulary does not know, and a warning when it is above ``--unknown-warn``."""
        tally = self.unknown_tally(tokenizer=tokenizer, model=model)
        tally.add(list(dict.fromkeys(texts)))
        return tally.share, tally.warnings()

    def unknown_tally(self, *, tokenizer=None, model: str | None = None) -> UnknownTally:
        """A running :meth:`unknown_share` for input that comes in chunks (``embed`` on the CLI)."""
        # the tokens the model reads of each text, as every request's report counts them
        reads = None if tokenizer is not None else getattr(self.encoder, "room", self.encoder.max_length)
        return UnknownTally(tokenizer or self.encoder.tokenizer, model or self.name, reads, self.settings.unknown_warn)

    # ------------------------------------------------------------ operations: one line each
    def align(self, a: str, b: str) -> Alignment:
        return align.align(self, a, b)

    def token_states(self, text: str, *, what: str = "text") -> np.ndarray:
        return align.token_states(self, text, what=what)

    def embed(self, texts: Sequence[str], *, limit: int | None = None, what: str = "texts",
              options: TextOptions | None = None, dimensions: int | None = None) -> EmbedResult:
        return embed.embed(self, texts, limit=limit, what=what, options=options, dimensions=dimensions)

    def embed_corpus(self, texts: Sequence[str], names: Sequence[str], *,
                     options: TextOptions | None = None) -> EmbedResult:
        return embed.embed_corpus(self, texts, names, options=options)

    def warm_cache(self, texts: Sequence[str], *, what: str = "texts", options: TextOptions | None = None,
                   progress: Callable[[int, int], None] | None = None, chunk: int = 64) -> int:
        return embed.warm_cache(self, texts, what=what, options=options, progress=progress, chunk=chunk)

    def pair(self, a: str, b: str, *, options: TextOptions | None = None) -> PairResult:
        return pair.pair(self, a, b, options=options)

    def rank(self, source: str, candidates: Sequence[str], top_k: int | None = None, *,
             options: TextOptions | None = None) -> RankResult:
        return rank.rank(self, source, candidates, top_k, options=options)

    def matrix(self, texts: Sequence[str], *, options: TextOptions | None = None) -> MatrixResult:
        return matrix.matrix(self, texts, options=options)

    def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None,
               raw_scores: bool = False, method: str = "auto", what: str = "documents",
               options: TextOptions | None = None) -> RerankResult:
        return rerank.rerank(self, query, documents, top_n=top_n, raw_scores=raw_scores, method=method,
                             what=what, options=options)

    def compare_pairs(self, a: str, b: str, *, options: TextOptions | None = None) -> list[tuple[str, PairResult]]:
        return compare.compare_pairs(self.models(), a, b, options=options)

    def compare_ranks(self, source: str, candidates: Sequence[str], *,
                      options: TextOptions | None = None) -> dict[str, RankResult]:
        return compare.compare_ranks(self.models(), source, candidates, options=options)
