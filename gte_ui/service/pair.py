"""Pairwise similarity: the cosine of two texts, with its verdict."""

from __future__ import annotations

import time

from gte_ui.core.scoring import VerdictBands, cosine, to_percent, verdict
from gte_ui.service.embed import embed_clean, ms_since, prompt_for, unknown_of
from gte_ui.service.inspection import report_unknown
from gte_ui.service.options import TextOptions
from gte_ui.service.results import PairResult
from gte_ui.service.served import Served


def pair(model: Served, a: str, b: str, *, options: TextOptions | None = None) -> PairResult:
    """Cosine similarity of two texts, with its verdict. A prompt in ``options`` (instruction
    models) goes before A, the query side; B stays bare."""
    t0 = time.perf_counter()
    a = model.checks.text(a, "sentence A")
    b = model.checks.text(b, "sentence B")
    prompt = prompt_for(model, options)
    res, known = embed_clean(model, [a, b], t0, options, prompt=prompt, prompted=1)
    score = cosine(res.vectors[0], res.vectors[1])
    ratios, warnings = report_unknown(model, unknown_of(model, res, known), [("句子 A", "sentence A"), ("句子 B", "sentence B")])
    bands = model.bands  # once: a concurrent set_bands must not split verdict and gauge
    return PairResult(score=score, percent=to_percent(score), verdict=verdict(score, bands),
                      tokens_a=res.token_counts[0], tokens_b=res.token_counts[1],
                      truncated_a=res.truncated[0], truncated_b=res.truncated[1],
                      elapsed_ms=ms_since(t0), bands=bands, model=model.name,
                      default_verdict=None if bands.source == "default" else verdict(score, VerdictBands()),
                      unknown_token_ratio=ratios, warnings=warnings, prompt=prompt)
