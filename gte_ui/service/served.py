"""What every capability module reads of one served model: its parts, as plain attributes.

:class:`~gte_ui.service.service.EmbeddingService` has these attributes; the capability modules
(pair, rank, embed, matrix, align, rerank, compare) take it typed as :class:`Served`, so they read
its parts directly and never call back into the facade (a request enters the service once), and
none of them imports the facade (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from gte_ui.core.scoring import VerdictBands
from gte_ui.core.settings import Settings
from gte_ui.engine.caches.local import EmbeddingCache
from gte_ui.engine.caches.shared import SharedCache
from gte_ui.engine.encoder import Encoded
from gte_ui.service.cache import TieredCache
from gte_ui.service.validation import TextChecks


class Served(Protocol):
    """One loaded embedding model (and the reranker beside it) with its caches and limits."""

    name: str  # what requests call this model
    encoder: Any  # Encoder, or Ray Serve's RemoteEncoder
    settings: Settings
    checks: TextChecks
    bands: VerdictBands  # swapped whole by set_bands
    runner: Callable[[Sequence[Any]], Encoded]  # the dynamic batcher, or encoder.encode
    cache: EmbeddingCache  # the vectors' local tier
    shared: SharedCache | None  # the vectors' shared tier
    vectors: TieredCache  # both tiers of vectors
    vector_prefix: str  # everything that changes a vector, besides mode, normalisation and text
    tokens_embedded: int
    reranker: Any  # Reranker | DecoderReranker | None
    rerank_runner: Callable[[Sequence[tuple[str, str]]], Encoded] | None
    scores: TieredCache  # the reranker's scores of (query, document) pairs
    score_prefix: str
    aligner: Any  # align.LazyAligner: the fp32 token states, loaded on first use
    registry: Any  # registry.ModelRegistry: the default model's lists every model; others' list themselves
    memory_estimate: int | None
