"""Dynamic batching: concurrent requests share one model call.

Each caller thread submits its texts and blocks on a future. One worker thread takes the first
waiting request, keeps gathering for ``wait_ms`` (or until ``max_batch`` texts), embeds the union
of distinct texts in one ``encode`` call, and hands every caller its own rows. Gradio's
``batch=True`` has no waiting window and REST handlers run in separate threads, so the window
lives here, below both.

A bounded queue protects latency: when ``max_queue`` texts are already waiting, ``submit``
raises :class:`GteError` (OVERLOADED → HTTP 429) at once instead of letting requests pile up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from gte_ui.engine.encoder import Encoded
from gte_ui.core.errors import ErrorType, GteError

log = logging.getLogger(__name__)


@dataclass
class _Request:
    texts: list[str]
    future: Future


class DynamicBatcher:
    """Gather concurrent ``submit`` calls into one ``encode`` call.

    Args:
        encode: embeds a list of texts (normally ``Encoder.encode``).
        max_batch: most texts gathered into one call (the encoder still micro-batches them).
        wait_ms: how long to wait for more requests after the first one arrives.
        max_queue: texts allowed to wait; beyond that new requests are refused (429).
    """

    def __init__(self, encode: Callable[[Sequence[str]], Encoded], *, max_batch: int = 128,
                 wait_ms: float = 5.0, max_queue: int = 1024) -> None:
        self._encode = encode
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000.0
        self.max_queue = max_queue
        self._queue: deque[_Request] = deque()
        self._pending = 0  # texts waiting in the queue
        self._cond = threading.Condition()
        self._closed = False
        #: model calls made and requests served (tests and /health read these)
        self.batches = 0
        self.requests = 0
        #: called as ``observer(texts, requests)`` after each model call (the metrics' batch sizes)
        self.observers: list[Callable[[int, int], None]] = []
        self._worker = threading.Thread(target=self._run, name="gte-batcher", daemon=True)
        self._worker.start()

    # ----------------------------------------------------------- callers
    def __call__(self, texts: Sequence[str]) -> Encoded:
        return self.submit(texts)

    def submit(self, texts: Sequence[str]) -> Encoded:
        """Embed ``texts`` together with whatever else is waiting; blocks until done."""
        texts = list(texts)
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise GteError(ErrorType.OVERLOADED, "the server is shutting down", "服务正在关闭")
            if self._pending and self._pending + len(texts) > self.max_queue:
                raise GteError(
                    ErrorType.OVERLOADED,
                    f"server busy: {self._pending} texts are already waiting (limit {self.max_queue}); "
                    "retry shortly",
                    f"服务繁忙：已有 {self._pending} 条文本在排队（上限 {self.max_queue}），请稍后重试")
            self._queue.append(_Request(texts, future))
            self._pending += len(texts)
            self._cond.notify()
        return future.result()

    @property
    def pending(self) -> int:
        return self._pending

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout=5)

    # ----------------------------------------------------------- worker
    def _take_batch(self) -> list[_Request]:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed and not self._queue:
                return []
            batch = [self._queue.popleft()]
            size = len(batch[0].texts)
            deadline = time.monotonic() + self.wait_s
            while size < self.max_batch:
                if not self._queue:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                    continue
                if size + len(self._queue[0].texts) > self.max_batch:
                    break
                req = self._queue.popleft()
                batch.append(req)
                size += len(req.texts)
            self._pending -= size
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            self._serve(batch)

    def _serve(self, batch: list[_Request]) -> None:
        # The same text from several callers is embedded once.
        unique: dict[str, int] = {}
        for req in batch:
            for t in req.texts:
                unique.setdefault(t, len(unique))
        try:
            enc = self._encode(list(unique))
        except Exception as exc:
            if len(batch) == 1:
                log.warning("request of %d texts failed: %s", len(unique), type(exc).__name__)
                batch[0].future.set_exception(exc)
                return
            # One caller's bad input must not fail the others: retry each request on its own.
            for req in batch:
                self._serve([req])
            return
        self.batches += 1
        self.requests += len(batch)
        for observe in self.observers:
            observe(len(unique), len(batch))
        for req in batch:
            rows = [unique[t] for t in req.texts]
            req.future.set_result(Encoded(
                vectors=np.ascontiguousarray(enc.vectors[rows]),
                token_counts=[enc.token_counts[r] for r in rows],
                truncated=[enc.truncated[r] for r in rows],
                chunks=[enc.chunks[r] for r in rows]))
