"""The serverless routes' bodies and answers (Function Compute, Lambda: :mod:`gte_ui.frontends.serverless`).

Bodies are plain JSON objects whose values the service checks (its messages name the field); a
key the route does not take is a 422 naming it, as on the HTTP API. Answers are the results'
canonical ``to_dict()``, plus the articles' handler's own names on ``/similarity``.
"""

from __future__ import annotations

from typing import Any

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.service.options import OPTION_NAMES
from gte_ui.service.results import HealthResult, PairResult

#: the keys each POST route takes beside the text options and ``model``
ROUTE_FIELDS: dict[str, tuple[str, ...]] = {
    "/similarity": ("sentence_a", "sentence_b"),
    "/rank": ("source", "candidates", "top_k"),
    "/embed": ("texts", "input"),
    "/rerank": ("query", "docs", "documents", "top_n", "raw_scores"),
}


def check_fields(route: str, body: dict[str, Any]) -> None:
    """A key ``route`` does not take is a 422 naming it and the keys it does take."""
    known = (*ROUTE_FIELDS[route], *OPTION_NAMES, "model")
    unknown = sorted(k for k in body if k not in known)
    if unknown:
        raise GteError(ErrorType.VALIDATION,
                       f"{route} does not take {', '.join(unknown)} (it takes: {', '.join(known)})",
                       f"{route} 不接受字段 {', '.join(unknown)}（可用：{', '.join(known)}）")


def similarity_answer(r: PairResult) -> dict[str, Any]:
    """``/similarity``: the canonical pair fields plus the articles' handler's ``similarity`` (the
    score) and ``interpretation`` (the verdict), and ``status``."""
    return {**r.to_dict(), "similarity": r.score, "interpretation": r.verdict.zh, "status": "success"}


def health_answer(h: HealthResult, cold_start_s: float | None, invocations: int) -> dict[str, Any]:
    """``GET /health``: the one health result, plus this instance's cold-start time and invocations."""
    return {**h.to_dict(), "cold_start_s": cold_start_s, "invocations": invocations}
