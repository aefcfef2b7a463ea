"""The one cache of model outputs: the local LRU in front of the shared (Redis) tier.

Vectors of texts and reranker scores of (query, document) pairs are both
:class:`~gte_ui.engine.caches.local.CachedVector` rows keyed by a prefix (everything that changes
the output: model, precision, max length, normalisation…) and the text the model read; both go
through :class:`TieredCache`, so lookups and stores are written once.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from gte_ui.core.settings import Settings
from gte_ui.engine.caches.local import CachedVector, EmbeddingCache, make_key
from gte_ui.engine.caches.shared import SharedCache, shared_key


class TieredCache:
    """``local`` (always; size 0 disables it) in front of ``shared`` (optional).

    Keys are ``(prefix, text)``; the shared tier hashes them (:func:`shared_key`). A shared hit is
    copied into the local tier; a store goes to both (the shared write is queued, never awaited).
    """

    def __init__(self, local: EmbeddingCache, shared: SharedCache | None = None) -> None:
        self.local = local
        self.shared = shared

    def lookup(self, prefix: Hashable, texts: Sequence[str]) -> tuple[dict[str, CachedVector], list[str]]:
        """What the tiers hold for the distinct ``texts`` (by text), and the distinct texts they
        lack, in first-seen order."""
        found: dict[str, CachedVector] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            hit = self.local.get(make_key(prefix, text))
            if hit is None:
                missing.append(text)
            else:
                found[text] = hit
        if missing and self.shared is not None:
            still: list[str] = []
            for text, hit in zip(missing, self.shared.get_many([shared_key(prefix, t) for t in missing])):
                if hit is None:
                    still.append(text)
                else:
                    found[text] = hit
                    self.local.put(make_key(prefix, text), hit)
            missing = still
        return found, missing

    def store(self, prefix: Hashable, items: Sequence[tuple[str, CachedVector]]) -> None:
        """Keep each ``(text, item)`` in both tiers."""
        for text, item in items:
            self.local.put(make_key(prefix, text), item)
        if self.shared is not None and items:
            self.shared.put_many([(shared_key(prefix, text), item) for text, item in items])


def shared_from_settings(settings: Settings) -> SharedCache | None:
    """The Redis tier ``--cache-url`` asks for (None without one). Never fails: a Redis that is
    not there yet is warned about and retried (see :class:`SharedCache`)."""
    if not settings.cache_url:
        return None
    return SharedCache(settings.cache_url, ttl_s=settings.cache_ttl,
                       timeout_s=settings.cache_timeout_ms / 1000.0, secret=settings.cache_secret)
