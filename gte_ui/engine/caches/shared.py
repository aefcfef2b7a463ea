"""The shared cache tier: vectors in Redis, shared by every process and machine that points at it.

It sits behind the in-process LRU (:class:`~gte_ui.engine.caches.local.TieredCache`). Reads are one
``MGET`` per request for the texts the LRU missed; writes never touch the request's critical
path: they go onto a bounded queue that a writer thread flushes in pipelines (``SET … EX ttl``).

Redis being down, slow or full never fails a request. Every socket has a short timeout; the first
connection error opens a circuit breaker (one warning in the log, the URL without its password)
and requests stop asking Redis at all; the writer thread pings it every ``retry_s`` and closes
the breaker when it answers. A refused write (``maxmemory`` reached with ``noeviction``) is
counted and warned about once, reads go on.

Values are the exact float32 bytes behind a small header (token count, window count, the
truncation flag) and the entry's own key digest, optionally followed by an HMAC-SHA256 of key and
value (``--cache-secret``): 1024-d GTE-large is 12 + 16 + 4,096 (+ 32) bytes per text, plus a
39-byte key.

Nothing read from Redis is trusted: anyone who can write to it could otherwise serve every
replica NaNs (a similarity of ``null``, "100 %", "Different") or a forged vector. An entry is
used only when it names its own key (a value copied under another text's key is refused), has the
model's width, finite values and unit norm, and, with a secret, a valid signature; any other is
a miss (recomputed and written over), counted per reason in ``stats()["rejected"]`` and
``gte_cache_rejected_total``, and warned about once per reason in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Sequence
from urllib.parse import urlsplit

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gte_ui.engine.caches.local import CachedVector

log = logging.getLogger(__name__)

#: bumped when the value layout changes, so old entries are simply never read again
KEY_NAMESPACE = "gte:v2:"
#: token count, windows, truncated, signed; 12 bytes, then the key's 16-byte digest: floats stay aligned
_HEADER = struct.Struct("<IIBB2x")
_DIGEST = 16
_MAC = hashlib.sha256().digest_size
#: how far a vector's norm may be from 1 (float32 rounding is ~1e-7; a forged one is rarely this close)
NORM_TOLERANCE = 1e-3


class BadEntry(ValueError):
    """A shared-cache value that must not be served; ``reason`` is its metric label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def redact_url(url: str) -> str:
    """``redis://:secret@host:6379/0`` → ``redis://host:6379/0``: what logs and /health may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def shared_key(prefix: str, text: str) -> str:
    """The Redis key for ``text`` under the model/options ``prefix``: a fixed 39-byte string."""
    digest = hashlib.blake2b(prefix.encode("utf-8"), digest_size=16)
    digest.update(b"\x00")
    digest.update(text.encode("utf-8"))
    return KEY_NAMESPACE + digest.hexdigest()


def pack(key: str, item: CachedVector, secret: bytes | None = None) -> bytes:
    """The value stored under ``key``: header, the key's digest, the float32 bytes, and with a
    ``secret`` an HMAC-SHA256 over key and all of that."""
    body = _HEADER.pack(item.token_count, item.chunks, item.truncated, secret is not None) + \
        _key_digest(key) + np.ascontiguousarray(item.vector, dtype="<f4").tobytes()
    return body + _sign(secret, key, body) if secret is not None else body


def unpack(key: str, raw: bytes, *, dim: int | None = None, secret: bytes | None = None,
           unit_norm: bool = True) -> CachedVector:
    """The vector stored under ``key``, checked, or :class:`BadEntry` naming what is wrong."""
    if len(raw) < _HEADER.size + _DIGEST:
        raise BadEntry("size")
    tokens, chunks, truncated, signed = _HEADER.unpack_from(raw)
    if signed:
        raw, mac = raw[:-_MAC], raw[-_MAC:]
        if secret is not None and not hmac.compare_digest(mac, _sign(secret, key, raw)):
            raise BadEntry("signature")
    elif secret is not None:
        raise BadEntry("signature")  # with a secret set, only signed entries are served
    if raw[_HEADER.size:_HEADER.size + _DIGEST] != _key_digest(key):
        raise BadEntry("key")
    floats = len(raw) - _HEADER.size - _DIGEST
    if floats % 4 or (dim is not None and floats != 4 * dim) or not floats:
        raise BadEntry("width")
    if chunks < 1 or truncated > 1:
        raise BadEntry("header")
    vector = np.frombuffer(raw, dtype="<f4", offset=_HEADER.size + _DIGEST).astype(np.float32, copy=False)
    if not np.isfinite(vector).all():
        raise BadEntry("non_finite")
    wide = vector.astype(np.float64)
    if unit_norm and abs(float(wide @ wide) ** 0.5 - 1.0) > NORM_TOLERANCE:
        raise BadEntry("norm")
    return CachedVector(vector, tokens, bool(truncated), chunks)


def _key_digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8"), digest_size=_DIGEST).digest()


def _sign(secret: bytes, key: str, body: bytes) -> bytes:
    return hmac.new(secret, key.encode("utf-8") + b"\x00" + body, hashlib.sha256).digest()


class SharedCache:
    """Redis as a second cache tier.

    Args:
        url: ``redis://[:password@]host:port/db``, ``rediss://…`` or ``unix://…``.
        ttl_s: expiry of every entry in seconds (0: none).
        timeout_s: connect and read timeout of each Redis call.
        retry_s: how often a down Redis is pinged to see whether it is back.
        max_pending: writes allowed to wait for the writer thread; beyond that they are dropped
            (the vector is still served, only not shared).
        secret: signs every entry written and refuses every entry read without a valid
            signature (``--cache-secret``); None: entries are checked but not signed.
        dim: the vectors' width; entries of another width are refused (None: not checked).
    """

    def __init__(self, url: str, *, ttl_s: int = 7 * 86_400, timeout_s: float = 0.25,
                 retry_s: float = 2.0, max_pending: int = 10_000, batch: int = 256,
                 secret: str | bytes | None = None, dim: int | None = None) -> None:
        self.where = redact_url(url)
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else secret
        self.dim = dim
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self.max_pending = max_pending
        self.batch = batch
        # No client-side retries: a failed call opens the breaker instead of stalling a request.
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0), health_check_interval=0)
        self._pending: deque[tuple[str, bytes]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._writing = 0  # writes taken off the queue and not yet answered
        self.up = True
        self._full_warned = False
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self.writes = 0
        self.dropped = 0
        #: entries refused on read, per reason (see :func:`unpack`)
        self.rejected: dict[str, int] = {}
        self._writer = threading.Thread(target=self._run, name="gte-redis-writer", daemon=True)
        self._writer.start()
        try:  # say at startup whether it is there; never fatal
            self._client.ping()
        except (redis.RedisError, OSError) as exc:
            self._went_down(exc)

    # ------------------------------------------------------------ request path
    def get_many(self, keys: Sequence[str]) -> list[CachedVector | None]:
        """One ``MGET``; ``None`` for misses, and for everything while Redis is down."""
        if not keys:
            return []
        if not self.up:
            return [None] * len(keys)
        try:
            raws = self._client.mget(keys)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._went_down(exc)
            return [None] * len(keys)
        except redis.RedisError as exc:
            self.errors += 1
            log.debug("shared cache read failed: %s", type(exc).__name__)
            return [None] * len(keys)
        out: list[CachedVector | None] = []
        for key, raw in zip(keys, raws):
            item = None
            if raw is not None:
                try:
                    item = unpack(key, raw, dim=self.dim, secret=self._secret)
                except BadEntry as bad:
                    self._refused(key, bad.reason)  # a foreign, damaged or planted value: a miss
            out.append(item)
        found = sum(x is not None for x in out)
        with self._cond:  # request threads count concurrently
            self.hits += found
            self.misses += len(out) - found
        return out

    def put_many(self, items: Sequence[tuple[str, CachedVector]]) -> None:
        """Queue writes for the writer thread; returns at once."""
        if not items or not self.up:
            return
        with self._cond:
            room = self.max_pending - len(self._pending)
            if room < len(items):
                self.dropped += len(items) - max(room, 0)
                items = items[:max(room, 0)]
            self._pending.extend((k, pack(k, v, self._secret)) for k, v in items)
            self._cond.notify()

    # ------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed and self.up:
                    self._cond.wait()
                if not self.up and not self._closed:
                    self._cond.wait(self.retry_s)
                if self._closed and (not self._pending or not self.up):
                    return
                batch = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))] \
                    if self.up else []
                self._writing = len(batch)
            if not self.up:
                self._probe()
                continue
            try:
                self._write(batch)
            finally:
                with self._cond:
                    self._writing = 0

    def _write(self, batch: list[tuple[str, bytes]]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for key, value in batch:
            pipe.set(key, value, ex=self.ttl_s or None)
        try:
            results = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._went_down(exc)
            return
        failed = [r for r in results if isinstance(r, Exception)]
        self.writes += len(results) - len(failed)
        if failed:
            self.errors += len(failed)
            if not self._full_warned:
                self._full_warned = True
                log.warning("shared cache %s refused %d writes (%s); vectors are still served. If it "
                            "is full, give it maxmemory-policy allkeys-lru", self.where, len(failed),
                            str(failed[0]).split("\n")[0][:120])

    def _refused(self, key: str, reason: str) -> None:
        with self._cond:
            first = reason not in self.rejected
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
        if first:
            log.warning("shared cache %s: refused an entry (%s) under %s and recomputed it; someone "
                        "other than this app may be writing to it (counted in "
                        "gte_cache_rejected_total)", self.where, reason, key)

    def _probe(self) -> None:
        try:
            self._client.ping()
        except (redis.RedisError, OSError):
            return
        self.up = True
        log.warning("shared cache %s is back; using it again", self.where)

    def _went_down(self, exc: BaseException) -> None:
        with self._cond:
            self.errors += 1
            was_up, self.up = self.up, False
            self._pending.clear()  # stale by the time Redis is back; vectors are re-shared on use
            self._cond.notify()
        if was_up:
            log.warning("shared cache %s unreachable (%s); serving from the model and retrying every "
                        "%.0f s", self.where, type(exc).__name__, self.retry_s)

    # ------------------------------------------------------------ lifecycle, facts
    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until queued writes are sent (tests, shutdown). False if time ran out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._cond:
                if (not self._pending and not self._writing) or not self.up:
                    return not self._pending
            time.sleep(0.005)
        return False

    def close(self) -> None:
        """Send what is queued (if Redis is up), then stop the writer."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._writer.join(timeout=5)
        self._client.close()

    def stats(self) -> dict[str, object]:
        total = self.hits + self.misses
        return {"enabled": True, "url": self.where, "up": self.up, "hits": self.hits,
                "misses": self.misses, "hit_rate": round(self.hits / total, 4) if total else 0.0,
                "errors": self.errors, "writes": self.writes, "pending": len(self._pending),
                "dropped": self.dropped, "ttl_s": self.ttl_s, "signed": self._secret is not None,
                "rejected": dict(self.rejected)}
