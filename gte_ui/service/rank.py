"""Ranking: every candidate scored against one source text, best first."""

from __future__ import annotations

import time
from collections.abc import Sequence

from gte_ui.core.scoring import cosine_matrix, rank_order, to_percent, verdict
from gte_ui.service.embed import embed_clean, ms_since, prompt_for, unknown_of
from gte_ui.service.inspection import report_unknown
from gte_ui.service.options import TextOptions
from gte_ui.service.results import RankResult, RankRow
from gte_ui.service.served import Served
from gte_ui.service.validation import check_positive


def rank_labels(order: Sequence[int], first: tuple[str, str]) -> list[tuple[str, str]]:
    """Names of the texts in an unknown-token warning: ``first`` (the source, the query), then
    each candidate by its rank, as every ranked table shows them."""
    ranks = {int(i): r + 1 for r, i in enumerate(order)}
    return [first] + [(f"第 {ranks[i]} 名", f"rank {ranks[i]}") for i in range(len(order))]


def rank(model: Served, source: str, candidates: Sequence[str], top_k: int | None = None, *,
         options: TextOptions | None = None) -> RankResult:
    """Score every candidate against ``source`` and sort, best first (ties keep input order). A
    prompt in ``options`` (instruction models) goes before the source, the query side; candidates
    stay bare."""
    t0 = time.perf_counter()
    source = model.checks.text(source, "source")
    cands = model.checks.texts(candidates, "candidates", model.settings.max_candidates)
    top_k = check_positive(top_k, "top_k")
    prompt = prompt_for(model, options)
    res, known = embed_clean(model, [source] + cands, t0, options, prompt=prompt, prompted=1)
    scores = cosine_matrix(res.vectors[1:], res.vectors[:1])[:, 0]
    seen: set[str] = set()
    duplicate = []
    for c in cands:
        duplicate.append(c in seen)
        seen.add(c)
    order = rank_order(scores)
    ratios, warnings = report_unknown(model, unknown_of(model, res, known), rank_labels(order, ("源句子", "the source")))
    if top_k is not None:
        order = order[:top_k]
    bands = model.bands
    rows = [RankRow(rank=r + 1, index=int(i), text=cands[i], score=float(scores[i]),
                    percent=to_percent(scores[i]), verdict=verdict(float(scores[i]), bands),
                    tokens=res.token_counts[i + 1], truncated=res.truncated[i + 1],
                    duplicate=duplicate[i], unknown_token_ratio=ratios[i + 1])
            for r, i in enumerate(order)]
    return RankResult(source=source, source_tokens=res.token_counts[0],
                      source_truncated=res.truncated[0], rows=rows, total=len(cands),
                      elapsed_ms=ms_since(t0), scores=[float(s) for s in scores], model=model.name,
                      source_unknown_token_ratio=ratios[0], warnings=warnings, prompt=prompt)
