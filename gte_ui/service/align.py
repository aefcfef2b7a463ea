"""Token-level looks at a match: which tokens carry it (greedy alignment) and every token's
last-layer state (TEI's ``embed_all``). Both read the model's fp32 weights, loaded once on first
use (:class:`~gte_ui.engine.inspection.TokenAligner`)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.engine.inspection import Alignment, TokenAligner
from gte_ui.engine.models.hub import transformer_folder
from gte_ui.service.served import Served


class LazyAligner:
    """One model's :class:`TokenAligner`, built on first use (its weights are a second copy)."""

    def __init__(self) -> None:
        self._aligner: TokenAligner | None = None
        self._lock = threading.Lock()

    def get(self, model: Served) -> TokenAligner:
        with self._lock:
            if self._aligner is None:
                folder = transformer_folder(Path(model.encoder.info.path))
                self._aligner = TokenAligner(folder, model.encoder.tokenizer, model.encoder.max_length)
            return self._aligner


def align(model: Served, a: str, b: str) -> Alignment:
    """Which tokens carry the match: last-layer token × token cosines of ``a`` and ``b`` and their
    greedy (BERTScore-style) matching."""
    a = model.checks.text(a, "sentence A")
    b = model.checks.text(b, "sentence B")
    result = model.aligner.get(model).align(a, b)
    if not result.tokens_a or not result.tokens_b:
        raise GteError(ErrorType.VALIDATION, "a sentence has no tokens the model reads", "句子中没有模型可读的词元")
    return result


def token_states(model: Served, text: str, *, what: str = "text") -> np.ndarray:
    """Last-layer states [tokens, dim] of every token of ``text`` (special tokens included,
    truncated at ``max_length``, fp32, not normalised): TEI's ``embed_all``."""
    text = model.checks.text(text, what)
    return model.aligner.get(model).token_states(text, keep_special=True)[1]
