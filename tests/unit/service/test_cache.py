"""One cache for vectors and reranker scores: the local LRU in front of the shared Redis tier."""

from __future__ import annotations

import numpy as np

from gte_ui.engine.caches.local import CachedVector, EmbeddingCache
from gte_ui.engine.caches.shared import SharedCache
from gte_ui.service.cache import TieredCache


def _item(x: float) -> CachedVector:
    v = np.zeros(4, np.float32)
    v[0] = x
    v[1] = np.sqrt(1 - x * x)  # unit length: the shared tier refuses anything else
    return CachedVector(v, 3, False)


def test_lookup_reports_distinct_misses_in_order_and_store_fills_the_local_tier():
    cache = TieredCache(EmbeddingCache(10))
    found, missing = cache.lookup("p", ["b", "a", "b"])
    assert found == {} and missing == ["b", "a"]
    cache.store("p", [("b", _item(0.6))])
    found, missing = cache.lookup("p", ["a", "b"])
    assert list(found) == ["b"] and missing == ["a"] and found["b"].vector[0] == np.float32(0.6)
    assert cache.lookup("other prefix", ["b"])[1] == ["b"]  # the prefix is part of the key


def test_a_shared_hit_is_copied_into_the_local_tier(redis_server):
    shared = SharedCache(redis_server.url)
    shared.dim = 4
    writer = TieredCache(EmbeddingCache(10), shared)
    writer.store("p", [("x", _item(0.8))])
    assert shared.flush()
    reader_local = EmbeddingCache(10)
    reader = TieredCache(reader_local, shared)
    found, missing = reader.lookup("p", ["x", "y"])
    assert missing == ["y"] and found["x"].vector[0] == np.float32(0.8)
    assert len(reader_local) == 1 and reader.lookup("p", ["x"])[0]  # the next lookup is local
    shared.close()


def test_vectors_and_rerank_scores_go_through_the_same_cache(tiny_service):
    """Both tiers of one service are TieredCaches: the embedding path's vectors and the
    embedding-fallback rerank read the same vector cache."""
    tiny_service.embed(["苹果", "香蕉"])
    assert isinstance(tiny_service.vectors, TieredCache) and isinstance(tiny_service.scores, TieredCache)
    r = tiny_service.rerank("苹果", ["香蕉"], method="embedding")
    assert r.cached == 2 and len(tiny_service.cache) == 2
