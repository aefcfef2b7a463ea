"""The serverless routes' bodies and answers (Function Compute, Lambda: :mod:`gte_ui.frontends.serverless`).

Bodies are plain JSON objects whose values the service checks (its messages name the field); a
key the route does not take is a 422 naming it, as on the HTTP API. Answers are the results'
canonical ``to_dict()``, plus the articles' handler's own names on ``/similarity``.
"""

from __future__ import annotations

from typing import Any

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.textnorm import split_lines
from gte_ui.service.options import OPTION_NAMES, TextOptions, read_options
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


def text_options(body: dict[str, Any]) -> TextOptions:
    """Every text option the body names (prompt_name and instruction included), as REST reads them."""
    return read_options({name: body[name] for name in OPTION_NAMES if name in body})


def lines(body: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` the body has: a list as sent, or a string one item per line (blank
    lines dropped); absent: an empty list, which the service refuses with its own message."""
    value = next((body[k] for k in keys if k in body), None)
    if isinstance(value, str):
        return split_lines(value)
    return value if value is not None else []


def raw_scores(body: dict[str, Any]) -> bool:
    value = body.get("raw_scores", False)
    if not isinstance(value, bool):
        raise GteError(ErrorType.VALIDATION, "raw_scores must be true or false", "raw_scores 必须是布尔值")
    return value


def embed_texts(body: dict[str, Any]) -> tuple[Any, str]:
    """``/embed``'s texts and the field they came in: ``texts`` (the articles'), else ``input``
    (a string is one text)."""
    field = "texts" if "texts" in body else "input"
    texts = body.get(field)
    if isinstance(texts, str):
        texts = [texts]
    return (texts if texts is not None else []), field


def similarity_answer(r: PairResult) -> dict[str, Any]:
    """``/similarity``: the canonical pair fields plus the articles' handler's ``similarity`` (the
    score) and ``interpretation`` (the verdict), and ``status``."""
    return {**r.to_dict(), "similarity": r.score, "interpretation": r.verdict.zh, "status": "success"}


def health_answer(h: HealthResult, cold_start_s: float | None, invocations: int) -> dict[str, Any]:
    """``GET /health``: the one health result, plus this instance's cold-start time and invocations."""
    return {**h.to_dict(), "cold_start_s": cold_start_s, "invocations": invocations}
