"""A sliding window of what each client used: the key prompt's wrong tries, the upload quotas."""

from __future__ import annotations

import collections
import time


class RateWindow:
    """At most ``limit`` units per client in any ``window_s`` seconds (a sliding log per client)."""

    def __init__(self, limit: float, window_s: float, max_clients: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self._log: dict[str, collections.deque[tuple[float, float]]] = {}

    def retry_after(self, client: str, amount: float = 1.0, now: float | None = None) -> float:
        """Seconds until ``amount`` more fits for ``client`` (0: it fits now)."""
        now = time.monotonic() if now is None else now
        entries = self._entries(client, now)
        used = sum(a for _, a in entries)
        if used + amount <= self.limit:
            return 0.0
        if amount > self.limit:
            return self.window_s
        for t, a in entries:  # the oldest entries leave the window first
            used -= a
            if used + amount <= self.limit:
                return max(t + self.window_s - now, 0.001)
        return self.window_s

    def take(self, client: str, amount: float = 1.0, now: float | None = None) -> float:
        """Count ``amount`` for ``client`` when it fits: 0, else the seconds to wait (nothing counted)."""
        now = time.monotonic() if now is None else now
        wait = self.retry_after(client, amount, now)
        if not wait:
            if client not in self._log and len(self._log) >= self.max_clients:
                self._prune(now)
            self._log.setdefault(client, collections.deque()).append((now, amount))
        return wait

    def _entries(self, client: str, now: float) -> collections.deque[tuple[float, float]]:
        entries = self._log.get(client, collections.deque())
        while entries and entries[0][0] <= now - self.window_s:
            entries.popleft()
        if not entries:
            self._log.pop(client, None)
        return entries

    def _prune(self, now: float) -> None:
        for client in list(self._log):
            self._entries(client, now)
        while len(self._log) >= self.max_clients:  # still full: forget the quietest first
            self._log.pop(next(iter(self._log)))

