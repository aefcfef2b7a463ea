"""A bounded, thread-safe LRU cache of embeddings, with hit/miss counts.

Bounded both in entries and in bytes of vectors. Keys must include everything that changes a
vector (model, precision, max length, normalisation options) besides the text itself; the
service builds them with :func:`make_key`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CachedVector:
    vector: np.ndarray  # float32 [dim], read-only
    token_count: int
    truncated: bool
    chunks: int = 1


def make_key(model_key: str, text: str) -> tuple[str, str]:
    return (model_key, text)


class EmbeddingCache:
    """LRU of :class:`CachedVector`; ``max_entries == 0`` disables it."""

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 256 * 2**20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[Hashable, CachedVector] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> CachedVector | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: Hashable, item: CachedVector) -> None:
        if self.max_entries == 0 or item.vector.nbytes > self.max_bytes:
            return
        item.vector.setflags(write=False)  # shared between requests: nobody may change it
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.vector.nbytes
            self._data[key] = item
            self._bytes += item.vector.nbytes
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._data.popitem(last=False)
                self._bytes -= evicted.vector.nbytes

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        return self._bytes

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def stats(self) -> dict[str, float | int]:
        return {"entries": len(self._data), "bytes": self._bytes, "max_entries": self.max_entries,
                "max_bytes": self.max_bytes, "hits": self.hits, "misses": self.misses,
                "hit_rate": round(self.hit_rate, 4)}
