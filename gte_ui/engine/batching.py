"""Dynamic batching: concurrent requests share one model call, and none waits behind a big one.

Each caller thread submits its texts and blocks on a future. One worker thread gathers waiting
requests for ``wait_ms`` (or until ``max_batch`` texts or ``max_tokens`` tokens: long passages fill
a call with fewer texts than sentences do), embeds the union of distinct texts in one ``encode``
call, and hands every caller its own rows. Gradio's ``batch=True`` has no waiting window and REST
handlers run in separate threads, so the window lives here, below both.

Fairness: a request is served in slices of at most a quarter of a call (``max_batch`` texts,
``max_tokens`` tokens), and the worker serves the waiting requests round robin, one slice each per
call: a 1-text request that arrives while a maximal one (256 texts of 512 tokens) runs waits for
the slice under way and its own call, not for the whole request (measured in
docs/performance.md, "Fairness"). Many small requests still fill a whole call together.

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
from dataclasses import dataclass, field

import numpy as np

from gte_ui.engine.encoder import Encoded
from gte_ui.engine.memory import release_free_memory
from gte_ui.core.errors import ErrorType, GteError

log = logging.getLogger(__name__)


@dataclass
class _Request:
    texts: list[str]
    future: Future
    weights: list[int]  # tokens the model runs for each text (1 each when not weighed)
    taken: int = 0  # texts handed to the model so far (slices are taken in order)
    parts: list[Encoded] = field(default_factory=list)  # what the slices served so far returned
    failed: bool = False
    last_call: int = -2  # the call that last took texts of it


#: a request's slice is at most this share of a call, so a call holds room for others
SLICE_PARTS = 4
#: tokens served since memory was last handed back to the system, above which an idle worker does
#: it (after a maximal request the process kept 1.8 GB it no longer used: docs/performance.md)
TRIM_AFTER_TOKENS = 32_768


class DynamicBatcher:
    """Gather concurrent ``submit`` calls into ``encode`` calls, serving requests round robin.

    Args:
        encode: embeds a list of texts (normally ``Encoder.encode``).
        max_batch: most texts gathered into one call (the encoder still micro-batches them).
        wait_ms: how long to wait for more requests after the first one arrives.
        max_queue: texts allowed to wait; beyond that new requests are refused (429).
        max_tokens: most tokens gathered into one call, as weighed by ``weigh`` (normally
            ``Encoder.run_weights``: one number per text, counted in the caller's thread). A
            request bigger than one call is served in slices, interleaved with other requests.
    """

    def __init__(self, encode: Callable[[Sequence[str]], Encoded], *, max_batch: int = 128,
                 wait_ms: float = 5.0, max_queue: int = 1024, max_tokens: int | None = None,
                 weigh: Callable[[Sequence[str]], list[int]] | None = None) -> None:
        if (max_tokens is None) != (weigh is None):
            raise ValueError("max_tokens and weigh go together")
        self._encode = encode
        self.max_batch = max_batch
        self.max_tokens = max_tokens
        self._weigh = weigh
        #: most texts and tokens of one request in one call (see SLICE_PARTS)
        self.slice_texts = max(1, max_batch // SLICE_PARTS)
        self.slice_tokens = max(1, max_tokens // SLICE_PARTS) if max_tokens is not None else None
        self.wait_s = wait_ms / 1000.0
        self.max_queue = max_queue
        self._queue: deque[_Request] = deque()  # requests with texts not yet taken, in serving order
        self._pending = 0  # texts waiting in the queue
        self._cond = threading.Condition()
        self._closed = False
        self._since_trim = 0  # tokens served since memory was last handed back
        self._calls = 0  # calls composed so far
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
        if not texts:
            return self._encode(texts)
        future: Future = Future()
        weights = list(self._weigh(texts)) if self._weigh is not None else [1] * len(texts)  # outside the lock
        with self._cond:
            if self._closed:
                raise GteError(ErrorType.OVERLOADED, "the server is shutting down", "服务正在关闭")
            if self._pending and self._pending + len(texts) > self.max_queue:
                raise GteError(
                    ErrorType.OVERLOADED,
                    f"server busy: {self._pending} texts are already waiting (limit {self.max_queue}); "
                    "retry shortly",
                    f"服务繁忙：已有 {self._pending} 条文本在排队（上限 {self.max_queue}），请稍后重试")
            self._queue.append(_Request(texts, future, weights))
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
    def _full(self, size: int, tokens: int) -> bool:
        return size >= self.max_batch or (self.max_tokens is not None and tokens >= self.max_tokens)

    def _take_batch(self) -> list[tuple[_Request, int, int]]:
        """Slices ``(request, start, end)`` for one model call: the requests in serving order, as
        many of each one's texts as the call still holds; a request left with texts goes to the
        back of the queue, behind those that waited while it ran."""
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed and not self._queue:
                return []
            deadline = time.monotonic() + self.wait_s
            while True:  # the gathering window: wait for company unless one call is already full
                size = sum(len(r.texts) - r.taken for r in self._queue)
                tokens = sum(sum(r.weights[r.taken:]) for r in self._queue)
                remaining = deadline - time.monotonic()
                if self._full(size, tokens) or remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining)
            token_limit = self.max_tokens if self.max_tokens is not None else float("inf")
            slice_limit = self.slice_tokens if self.slice_tokens is not None else float("inf")
            batch: list[tuple[_Request, int, int]] = []
            size = tokens = 0
            for req in list(self._queue):
                start = end = req.taken
                own = 0  # this request's tokens in the call
                while end < len(req.texts) and size < self.max_batch and end - start < self.slice_texts:
                    weight = req.weights[end]
                    if size and (tokens + weight > token_limit or (own and own + weight > slice_limit)):
                        break
                    size += 1
                    tokens += weight
                    own += weight
                    end += 1
                if end == start:
                    break  # the call is full: the rest wait for the next, in the same order
                batch.append((req, start, end))
            # Requests that finish in this call run without the slice of a big one that had the
            # previous call: their caller waits for their own texts only. The big one still gets
            # every other call, so a stream of small requests cannot starve it.
            if any(end == len(r.texts) for r, _, end in batch):
                batch = [(r, start, end) for r, start, end in batch
                         if end == len(r.texts) or r.last_call != self._calls - 1]
            for req, start, end in batch:
                req.taken = end
                req.last_call = self._calls
                self._queue.remove(req)
                if end < len(req.texts):
                    self._queue.append(req)  # the rest of a big request goes behind the others
            self._calls += 1
            size = sum(end - start for _, start, end in batch)
            self._pending -= size
            self._since_trim += sum(sum(r.weights[start:end]) for r, start, end in batch)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                return
            self._serve(batch)
            with self._cond:
                idle = not self._queue
                trim = idle and self._since_trim >= TRIM_AFTER_TOKENS
                if trim:
                    self._since_trim = 0
            if trim:
                release_free_memory()

    def _serve(self, batch: list[tuple[_Request, int, int]]) -> None:
        batch = [(req, start, end) for req, start, end in batch if not req.failed]
        if not batch:
            return
        # The same text from several callers is embedded once.
        unique: dict[str, int] = {}
        for req, start, end in batch:
            for t in req.texts[start:end]:
                unique.setdefault(t, len(unique))
        try:
            enc = self._encode(list(unique))
        except Exception as exc:
            if len(batch) == 1:
                log.warning("request of %d texts failed: %s", len(unique), type(exc).__name__)
                self._fail(batch[0][0], exc)
                return
            # One caller's bad input must not fail the others: retry each slice on its own.
            for one in batch:
                self._serve([one])
            return
        self.batches += 1
        for observe in self.observers:
            observe(len(unique), len(batch))
        for req, start, end in batch:
            rows = [unique[t] for t in req.texts[start:end]]
            req.parts.append(Encoded(
                vectors=np.ascontiguousarray(enc.vectors[rows]),
                token_counts=[enc.token_counts[r] for r in rows],
                truncated=[enc.truncated[r] for r in rows],
                chunks=[enc.chunks[r] for r in rows]))
            if end == len(req.texts):
                self.requests += 1
                req.future.set_result(_join(req.parts))
                req.parts = []

    def _fail(self, req: _Request, exc: Exception) -> None:
        """A request whose slice failed fails whole; its texts not yet taken stop waiting."""
        req.failed = True
        req.parts = []
        with self._cond:
            if req in self._queue:
                self._queue.remove(req)
                self._pending -= len(req.texts) - req.taken
        req.future.set_exception(exc)


def _join(parts: list[Encoded]) -> Encoded:
    """One request's slices back in one :class:`Encoded`, in its texts' order."""
    if len(parts) == 1:
        return parts[0]
    return Encoded(vectors=np.concatenate([p.vectors for p in parts]), token_counts=[n for p in parts for n in p.token_counts],
                   truncated=[t for p in parts for t in p.truncated], chunks=[c for p in parts for c in p.chunks])
