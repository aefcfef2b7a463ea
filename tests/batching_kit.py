"""The dynamic batcher's tests' kit: the real encoder behind a gate the test opens."""

from __future__ import annotations

import threading


class GatedEncode:
    """The real encoder behind a gate, so a test can hold the worker busy deterministically."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[int] = []

    def __call__(self, texts):
        self.entered.set()
        self.gate.wait(timeout=30)
        self.calls.append(len(texts))
        return self.encoder.encode(texts)
