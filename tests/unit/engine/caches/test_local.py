"""The embedding cache: bounded by entries and bytes, LRU order, counts, read-only vectors."""

from __future__ import annotations

import numpy as np
import pytest

from gte_ui.engine.caches.local import CachedVector, EmbeddingCache


def item(value: float, dim: int = 4) -> CachedVector:
    return CachedVector(np.full(dim, value, dtype=np.float32), 3, False)


def test_hits_misses_and_lru_eviction():
    cache = EmbeddingCache(max_entries=2)
    cache.put("a", item(1))
    cache.put("b", item(2))
    assert cache.get("a").vector[0] == 1  # a is now most recent
    cache.put("c", item(3))  # evicts b, the least recently used
    assert cache.get("b") is None
    assert cache.get("c") is not None
    assert (cache.hits, cache.misses, len(cache)) == (2, 1, 2)
    assert cache.stats()["hit_rate"] == pytest.approx(2 / 3, abs=1e-4)


def test_byte_bound():
    cache = EmbeddingCache(max_entries=100, max_bytes=64)  # 4 vectors of 4 float32
    for i in range(10):
        cache.put(i, item(i))
    assert len(cache) == 4 and cache.nbytes == 64
    assert cache.get(9) is not None and cache.get(0) is None


def test_disabled_cache_stores_nothing():
    cache = EmbeddingCache(max_entries=0)
    cache.put("a", item(1))
    assert cache.get("a") is None and len(cache) == 0


def test_cached_vectors_are_read_only():
    cache = EmbeddingCache()
    cache.put("a", item(1))
    with pytest.raises(ValueError):
        cache.get("a").vector[0] = 5
