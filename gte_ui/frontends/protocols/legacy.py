"""The seeds' and the articles' shapes, kept working as they were documented: Gradio 3's
``POST /api/predict`` (a ranking or one vector), the Flask GTE service's ``POST /similarity
{"sentence_a", "sentence_b"}`` and the inference suite's ``POST /rerank {"query", "docs"}``
(its ``/embed {"texts"}`` is TEI's ``/embed`` answer: :func:`gte_ui.frontends.protocols.tei.vectors`).
Each answer is built from the service's result; the shapes' own names (``similarity``, ``status``,
``data``) ride beside the canonical ``to_dict()`` fields, never instead of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.protocols.common import TextHandlingFields, TextOptionsFields
from gte_ui.service.results import EmbedResult, PairResult, RankResult, RerankResult


# ------------------------------------------------------------------ Flask /similarity
class PairRequest(TextOptionsFields):
    """The Flask GTE service's body: two sentences."""

    sentence_a: str
    sentence_b: str


class PairResponse(BaseModel):
    """The Flask GTE service's answer (``similarity``, ``status``) plus the canonical pair fields."""

    sentence_a: str
    sentence_b: str
    similarity: float = Field(..., description="cosine similarity, [-1, 1] (the Flask service's name for score)")
    score: float = Field(..., description="the same cosine under its canonical name")
    percent: float
    verdict: str = Field(..., description="高度相似 / 中等相似 / 差异较大")
    verdict_en: str
    tokens: list[int] = Field(..., description="tokens of sentence A and B before truncation")
    truncated: list[bool]
    elapsed_ms: float
    status: Literal["success"] = "success"
    prompt: str | None = Field(None, description="the prompt put before sentence_a (the query side), if any")
    model: str = Field(..., description="the model that answered (its API name)")
    bands: dict[str, Any] = Field(..., description="the verdict bands used: high, mid, source")
    default_verdict: str | None = Field(None, description="with calibrated or set bands: the verdict under the "
                                        "fixed 0.75 / 0.50 bands, beside the calibrated one")
    default_verdict_en: str | None = None
    unknown_token_ratio: list[float] = Field(..., description="[A, B]: the share of tokens the vocabulary "
                                             "maps to [UNK]")
    warnings: list[str] = Field(default_factory=list, description="e.g. a sentence the vocabulary mostly does "
                                "not know")

    @classmethod
    def from_result(cls, sentence_a: str, sentence_b: str, r: PairResult) -> PairResponse:
        return cls(sentence_a=sentence_a, sentence_b=sentence_b, similarity=r.score, **r.to_dict())


# ------------------------------------------------------------------ Gradio 3 /api/predict
def legacy_rank(r: RankResult) -> dict[str, list[float]]:
    """Gradio 3 ``/api/predict`` ranking: ``{"data": scores in candidate order}``."""
    return {"data": list(r.scores)}


def legacy_vector(r: EmbedResult) -> dict[str, list[float]]:
    """Gradio 3 ``/api/predict`` vector: ``{"data": the one text's vector}``."""
    return {"data": r.vectors[0].tolist()}


@dataclass(frozen=True)
class LegacyCall:
    """A parsed ``/api/predict`` body: either a ranking or a single vector."""

    mode: Literal["rank", "vector"]
    text: str
    candidates: str = ""
    model: str | None = None  # which loaded model answers (None: the default)


def parse_legacy(body: Any) -> LegacyCall:
    """Interpret the two shapes the Gradio-3-era articles post to ``/api/predict``.

    * ``{"data": [source, "cand1\\ncand2"]}`` → ranking (scores in candidate order);
    * ``{"data": [text, ""]}`` or ``{"data": [text, "", b1, b2, b3, b4]}`` → the text's vector.

    The four booleans were check boxes of the old demo's UI; they are accepted for compatibility
    (they must be JSON booleans) and do not change the answer. An optional top-level ``"model"``
    names the loaded model that answers, as on every other route.
    """
    if not isinstance(body, dict):
        raise GteError(ErrorType.VALIDATION, 'the body must be a JSON object like {"data": [...]}',
                       '请求体必须是 JSON 对象，例如 {"data": [...]}')
    if "data" not in body:
        raise GteError(ErrorType.VALIDATION, 'missing "data": send {"data": [text, candidates]}',
                       '缺少 "data" 字段')
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise GteError(ErrorType.VALIDATION, f'"model" must be a string, got {type(model).__name__}',
                       '"model" 必须是字符串')
    data = body["data"]
    if not isinstance(data, list):
        raise GteError(ErrorType.VALIDATION, f'"data" must be a list, got {type(data).__name__}',
                       '"data" 必须是列表')
    if len(data) not in (2, 6):
        raise GteError(ErrorType.VALIDATION,
                       f'"data" must have 2 items [text, candidates] or 6 [text, "", false, false, false, '
                       f'false]; got {len(data)}', f'"data" 应包含 2 或 6 项，实际 {len(data)} 项')
    for i in (0, 1):
        if not isinstance(data[i], str):
            raise GteError(ErrorType.VALIDATION,
                           f'"data"[{i}] must be a string, got {type(data[i]).__name__}',
                           f'"data"[{i}] 必须是字符串')
    for i, flag in enumerate(data[2:], start=2):
        if not isinstance(flag, bool):
            raise GteError(ErrorType.VALIDATION, f'"data"[{i}] must be true or false, got {flag!r}',
                           f'"data"[{i}] 必须是 true 或 false')
    if data[1].strip():
        if len(data) == 6:
            raise GteError(ErrorType.VALIDATION,
                           'a ranking takes 2 items [source, "cand1\\ncand2"]; the 6-item form is for '
                           'vectors and needs "" as its second item', "排序请求只能包含 2 项")
        return LegacyCall("rank", data[0], data[1], model)
    return LegacyCall("vector", data[0], model=model)


# ------------------------------------------------------------------ the inference suite's /rerank
# It takes the text options (TextHandlingFields): t2s / nfkc / collapse_whitespace normalise the
# query and the documents before scoring; on the reranker path long_text has no effect (pairs are
# truncated at the reranker's max length) and prompt_name / instruction are a 422 (they are the
# embedding model's); see EmbeddingService.rerank.
class ArticleRerankRequest(TextHandlingFields):
    """The articles' inference suite: ``{"query", "docs"}`` → ``{"scores"}`` in ``docs`` order."""

    query: str
    docs: list[str]
    raw_scores: bool = Field(False, description="raw logits instead of their sigmoid (cross-encoder only)")


class ArticleRerankResponse(BaseModel):
    scores: list[float] = Field(..., description="one score per document, in docs order")
    method: Literal["cross-encoder", "embedding"] = Field(
        ..., description="cross-encoder: the --reranker; embedding: no reranker loaded, cosine of the embedder")
    model: str
    warnings: list[str] = Field(default_factory=list, description="e.g. a query or documents the scoring "
                                "model's vocabulary mostly does not know (中文 / English)")

    @classmethod
    def from_result(cls, r: RerankResult) -> ArticleRerankResponse:
        """Scores in ``docs`` order, what scored them, and the warnings."""
        return cls(scores=r.scores, method=r.method, model=r.model, warnings=r.warnings)
