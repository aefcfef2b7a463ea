"""Judge several loaded models on the same data: one table, one CSV, rank agreement.

Each model is evaluated by exactly the single-model path (:func:`gte_ui.evaluation.metrics.evaluate`),
so a row of the comparison reproduces that model's own evaluation to the last digit. Precision
variants of one model (fp32 and int8 loaded under two names) are models here too: the table then
shows what int8 costs on the user's own data. Speed is the pairs' sentences per second of each
model's own pass (embedded without the cache on a sample of the file's texts); memory is the estimate made
before loading (:mod:`gte_ui.engine.memory`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scipy.stats import kendalltau

from gte_ui.core import csvsafe
from gte_ui.core.pairs import LabelledPairs
from gte_ui.evaluation.metrics import EvalResult, evaluate


#: texts timed per model for the speed column (enough for a stable figure, quick on a CPU)
SPEED_SAMPLE = 128


@dataclass
class ModelRow:
    """One model's line of the comparison."""

    model: str
    precision: str
    result: EvalResult
    seconds: float
    sentences_per_s: float
    memory_bytes: int | None

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "precision": self.precision, **self.result.to_dict(),
                "seconds": self.seconds, "sentences_per_s": self.sentences_per_s,
                "memory_bytes": self.memory_bytes}


@dataclass
class Comparison:
    name: str
    rows: list[ModelRow]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "models": [r.to_dict() for r in self.rows]}


def compare_models(services: Sequence, pairs: LabelledPairs,
                   progress: Callable[[float, str], None] | None = None) -> Comparison:
    """Evaluate every service on ``pairs``, one after the other (so timings do not compete)."""
    rows = []
    for k, service in enumerate(services):
        def step(frac: float, desc: str, k: int = k, name: str = service.name) -> None:
            if progress is not None:
                progress((k + frac) / len(services), f"{name}: {desc}")

        t0 = time.perf_counter()
        result = evaluate(service, pairs, step)
        seconds = time.perf_counter() - t0
        rows.append(ModelRow(model=service.name, precision=service.info.precision, result=result,
                             seconds=round(seconds, 3), sentences_per_s=_speed(service, pairs),
                             memory_bytes=service.memory_estimate))
    return Comparison(name=pairs.name, rows=rows)


def _speed(service, pairs: LabelledPairs, sample: int = SPEED_SAMPLE) -> float:
    """Sentences per second on (up to) ``sample`` of the file's texts, embedded without the cache
    (the evaluation itself may have found them cached)."""
    texts = list(dict.fromkeys([*pairs.a, *pairs.b]))[:sample]
    t0 = time.perf_counter()
    service.embed_corpus(texts, [f"text {i + 1}" for i in range(len(texts))])
    seconds = time.perf_counter() - t0
    return round(len(texts) / seconds, 2) if seconds > 0 else 0.0


def rank_agreement(scores_by_model: dict[str, Sequence[float]]) -> dict[tuple[str, str], float]:
    """Kendall's τ between every two models' scores of the same candidates (1: same order)."""
    out = {}
    for (a, sa), (b, sb) in itertools.combinations(scores_by_model.items(), 2):
        tau = kendalltau(sa, sb).statistic
        out[(a, b)] = float(tau) if tau == tau else 1.0  # NaN: constant scores, so no disagreement
    return out


def write_comparison_csv(comparison: Comparison, path: Path) -> Path:
    """One CSV row per model: every metric, speed and memory."""
    fields = ["model", "precision", "n", "spearman", "pearson", "auc", "accuracy", "f1",
              "sentences_per_s", "seconds", "memory_bytes"]
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csvsafe.dict_writer(f, fields, extrasaction="ignore")
        w.writeheader()
        for row in comparison.rows:
            w.writerow(row.to_dict())
    return path
