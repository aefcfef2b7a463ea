"""Scoring as pure functions over numpy arrays: cosine, ranking, matrix, verdicts, correlation.

No torch, no Gradio: everything here is testable on plain arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VerdictBands:
    """Cosine thresholds: score > high -> 高度相似, > mid -> 中等相似, else 差异较大.

    SPEC's defaults (0.75 / 0.50) suit a model whose cosines spread over [0, 1]; raw GTE cosines
    crowd near the top, so bands are per model and can come from calibration.
    """

    high: float = 0.75
    mid: float = 0.50
    source: str = "default"  # "default", "settings" or a calibration file

    def __post_init__(self) -> None:
        if not -1.0 <= self.mid < self.high <= 1.0:
            raise ValueError(f"need -1 <= mid < high <= 1, got mid={self.mid}, high={self.high}")


@dataclass(frozen=True)
class Verdict:
    level: int  # 2 high, 1 moderate, 0 different
    zh: str
    en: str

    @property
    def label(self) -> str:
        return f"{self.zh} {self.en}"


VERDICTS = (
    Verdict(0, "差异较大", "Different"),
    Verdict(1, "中等相似", "Moderately similar"),
    Verdict(2, "高度相似", "Highly similar"),
)


def verdict(score: float, bands: VerdictBands = VerdictBands()) -> Verdict:
    """The plain-words reading of one cosine score."""
    if score > bands.high:
        return VERDICTS[2]
    if score > bands.mid:
        return VERDICTS[1]
    return VERDICTS[0]


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise rows; zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def cosine_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine: res[i] = cos(a[i], b[i]) for a, b [n, dim] -> [n], clipped to [-1, 1]."""
    return np.clip((normalize_rows(a) * normalize_rows(b)).sum(-1), -1.0, 1.0)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors [dim], clipped to [-1, 1] against rounding."""
    return float(cosine_pairs(a, b))


def cosine_matrix(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """res[i, j] = cos(a[i], b[j]) for a [n, dim] and b [m, dim] (b defaults to a): [n, m]."""
    a = normalize_rows(a)
    b = a if b is None else normalize_rows(b)
    return np.clip(a @ b.T, -1.0, 1.0)


def rank_order(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Indices that sort ``scores`` high to low; ties keep input order (stable)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def to_percent(score: float) -> float:
    """A cosine as the 0–100 % the gauge shows (negative cosines read as 0 %)."""
    return round(max(0.0, min(1.0, float(score))) * 100.0, 2)


def spearman(predicted: Sequence[float], gold: Sequence[float]) -> float:
    """Spearman rank correlation (scipy), as C-MTEB reports it (× 100 there)."""
    from scipy.stats import spearmanr  # scipy: only evaluation needs it, serving never loads it

    return _correlation(spearmanr, predicted, gold)


def pearson(predicted: Sequence[float], gold: Sequence[float]) -> float:
    """Pearson correlation (scipy)."""
    from scipy.stats import pearsonr  # scipy: only evaluation needs it, serving never loads it

    return _correlation(pearsonr, predicted, gold)


def _correlation(statistic, predicted: Sequence[float], gold: Sequence[float]) -> float:
    if len(predicted) != len(gold):
        raise ValueError(f"length mismatch: {len(predicted)} predictions, {len(gold)} labels")
    if len(predicted) < 2:
        raise ValueError("need at least 2 pairs for a correlation")
    return float(statistic(predicted, gold).statistic)
