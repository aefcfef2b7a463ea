"""Token-level looks at what the model sees: unknown tokens, and which tokens carry a match.

* :func:`unknown_tokens` — per text, the share of tokens the vocabulary maps to ``[UNK]`` and the
  characters behind them. A score between two texts that are mostly ``[UNK]`` means nothing
  (Chinese into an English-only model, rare characters, emoji), so callers warn above a threshold.
* :class:`TokenAligner` — BERTScore-style greedy matching: the cosine of every token of A with
  every token of B on the last layer's token states, each token's best partner, and the greedy
  precision / recall / F1. The serving backends may compute only the CLS token's state in the last
  layer (and int8 runs in ONNX Runtime), so the aligner loads the model's fp32 weights once, on
  first use, through transformers' ``AutoModel``: exact, at the memory cost of one fp32 copy.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gte_ui.core.scoring import cosine_matrix
from gte_ui.engine.tokenizer import HEAD_CHARS_PER_TOKEN, HEAD_GROWTH, UnknownTokens, count_unknown, cut_head


def unknown_tokens(tokenizer, texts: Sequence[str], max_length: int | None = None) -> list[UnknownTokens]:
    """Count unknown tokens in each text (within the first ``max_length`` tokens the model reads).

    With ``max_length``, only a head of each text is tokenised (see
    :func:`~gte_ui.engine.tokenizer.cut_head`): the share is of the tokens the model reads, and a
    20,000-character text costs what its head costs."""
    unk = tokenizer.unk_token_id
    if max_length is not None:
        texts = [cut_head(t, HEAD_CHARS_PER_TOKEN * HEAD_GROWTH * max_length) for t in texts]
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=False,
                    return_offsets_mapping=True, verbose=False)
    return [count_unknown(text, ids[:max_length], offsets[:max_length], unk)
            for text, ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"])]


@dataclass
class Alignment:
    """Token × token cosines of two texts and their greedy matching.

    ``matrix[i, j]`` = cos(state of A's token i, state of B's token j) on the last layer, special
    tokens left out; ``best_b[i]`` is the index in B of A's token i's best match, ``best_a[j]`` the
    reverse. ``precision`` = mean over B's tokens of their best cosine in A; ``recall`` = mean over
    A's tokens of their best cosine in B (BERTScore's convention, A the reference); ``f1`` their
    harmonic mean.
    """

    tokens_a: list[str]
    tokens_b: list[str]
    matrix: np.ndarray
    best_b: list[int]
    best_a: list[int]
    precision: float
    recall: float
    f1: float

    def to_dict(self) -> dict:
        return {"tokens_a": self.tokens_a, "tokens_b": self.tokens_b,
                "matrix": np.asarray(self.matrix, dtype=float).tolist(), "best_b": self.best_b,
                "best_a": self.best_a, "precision": self.precision, "recall": self.recall, "f1": self.f1}


def greedy_alignment(states_a: np.ndarray, states_b: np.ndarray, tokens_a: list[str],
                     tokens_b: list[str]) -> Alignment:
    """BERTScore-style greedy matching of two token-state matrices [n, dim] and [m, dim]."""
    sim = cosine_matrix(states_a, states_b)
    recall_each = sim.max(axis=1)
    precision_each = sim.max(axis=0)
    p, r = float(precision_each.mean()), float(recall_each.mean())
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return Alignment(tokens_a=tokens_a, tokens_b=tokens_b, matrix=sim,
                     best_b=[int(j) for j in sim.argmax(axis=1)], best_a=[int(i) for i in sim.argmax(axis=0)],
                     precision=p, recall=r, f1=f1)


class TokenAligner:
    """Last-layer token states of the model in ``folder``, loaded in fp32 on first use."""

    def __init__(self, folder: Path, tokenizer, max_length: int) -> None:
        self.folder = folder
        self.tokenizer = tokenizer
        self.max_length = max_length
        self._model = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self):
        with self._lock:
            if self._model is None:
                from transformers import AutoModel  # heavy; only when alignment is first asked for

                self._model = AutoModel.from_pretrained(str(self.folder), dtype=torch.float32).eval()
        return self._model

    def token_states(self, text: str, keep_special: bool = False) -> tuple[list[str], np.ndarray]:
        """The text's tokens (special tokens left out unless ``keep_special``) and their
        last-layer states [n, dim]."""
        enc = self.tokenizer(text, truncation=True, max_length=self.max_length, return_tensors="pt",
                             return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask")[0].bool()
        model = self._load()
        with torch.inference_mode():
            hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state[0]
        keep = torch.ones_like(special) if keep_special else ~special
        ids = enc["input_ids"][0][keep].tolist()
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        return tokens, hidden[keep].float().numpy()

    def align(self, a: str, b: str) -> Alignment:
        tokens_a, states_a = self.token_states(a)
        tokens_b, states_b = self.token_states(b)
        return greedy_alignment(states_a, states_b, tokens_a, tokens_b)
