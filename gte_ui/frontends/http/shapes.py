"""Every foreign HTTP shape, as request models and thin named adapters over the service's results.

Each response adapter takes one typed result (:mod:`gte_ui.service.results`) and returns the
shape a known client expects; where that shape is ours to choose it carries the canonical
``to_dict()`` fields. The table of shapes → adapters → fields is docs/api.md.

Limits (characters per text, texts per request) are enforced again by the service; the schemas
reject wrong types and shapes with messages that name the field.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.protocols.tei import check_embed_flags
from gte_ui.service.options import OPTION_NAMES, TextOptions, read_options
from gte_ui.service.results import EmbedResult, PairResult, RankResult


class TextHandlingFields(BaseModel):
    """Optional per-request text handling (all off by default), shared by every request shape.

    The switches are strict JSON booleans (``"yes"`` or ``1`` is a 422 naming the field), as the
    serverless body and the service's :class:`TextOptions` take them.
    """

    t2s: bool = Field(False, strict=True, description="Traditional → Simplified Chinese (OpenCC) first")
    nfkc: bool = Field(False, strict=True, description="full-width → half-width (Unicode NFKC)")
    collapse_whitespace: bool = Field(False, strict=True, description="runs of whitespace → one space")
    long_text: Literal["truncate", "chunk"] | None = Field(
        None, description="texts over the model's token limit: truncate, or chunk (sliding windows, "
        "averaged); default: the server's --long-text")
    prompt_name: str | None = Field(
        None, description="instruction models (Qwen3-Embedding, gte-Qwen2-instruct): one of the model's "
        "prompts (GET /health → prompts), put before the query side; 422 for a model without prompts")
    instruction: str | None = Field(
        None, description="instruction models: a task description, sent as 'Instruct: {task}\\nQuery:{text}' "
        "on the query side (documents stay bare); 422 for a model without prompts")

    def text_options(self) -> TextOptions:
        return read_options({name: getattr(self, name) for name in OPTION_NAMES})


class TextOptionsFields(TextHandlingFields):
    """The text options and the model that answers: every embedding operation's request."""

    model: str | None = Field(None, description="which loaded model answers (GET /v1/models lists them); "
                              "default: the first loaded")


# ------------------------------------------------------------------ OpenAI /v1/embeddings
class EmbeddingsRequest(TextOptionsFields):
    """OpenAI's embeddings request. ``input`` is a string or a list of strings."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[str] = Field(..., description="text or list of texts to embed")
    model: str | None = Field(None, description="which loaded model answers (GET /v1/models). With one "
                              "model loaded any name is accepted, as OpenAI clients always send one")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="float: JSON numbers; base64: little-endian float32 bytes, as OpenAI")
    dimensions: int | None = Field(
        None, ge=1, description="keep the first N dimensions and re-normalise. Models trained for it "
        "(Qwen3-Embedding: 32 up to their width; GET /health → min_dimensions) keep their quality; GTE "
        "is not Matryoshka-trained, so quality drops as N shrinks: measure before relying on it")
    user: str | None = None


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: Usage
    prompt: str | None = Field(None, description="the prompt put before every input, if any (reproducibility)")
    unknown_token_ratio: list[float] = Field(
        default_factory=list, description="per input: the share of its tokens the vocabulary maps to [UNK]")
    warnings: list[str] = Field(default_factory=list, description="e.g. an input the vocabulary mostly does "
                                "not know, truncating a model not trained for it")

    @classmethod
    def from_result(cls, r: EmbedResult, model: str, encoding_format: str = "float") -> EmbeddingsResponse:
        """OpenAI ``/v1/embeddings``: vectors (float or base64) and the tokens actually read."""
        items = [EmbeddingItem(index=i, embedding=_encode_vector(v, encoding_format))
                 for i, v in enumerate(r.vectors)]
        return cls(data=items, model=model, usage=Usage(prompt_tokens=r.total_tokens, total_tokens=r.total_tokens),
                   prompt=r.prompt, unknown_token_ratio=list(r.unknown_token_ratio), warnings=list(r.warnings))


def _encode_vector(v: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode("ascii")
    return v.tolist()


# ------------------------------------------------------------------ /similarity (two shapes)
class PairRequest(TextOptionsFields):
    """The Flask GTE service's body: two sentences."""

    model_config = ConfigDict(extra="forbid")
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


class TeiSimilarityInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_sentence: str
    sentences: list[str]


class TeiSimilarityRequest(TextOptionsFields):
    """text-embeddings-inference's ``/similarity`` body: one source, many sentences."""

    model_config = ConfigDict(extra="ignore")
    inputs: TeiSimilarityInputs


def tei_scores(r: RankResult) -> list[float]:
    """TEI ``/similarity``: one score per sentence, in the order sent."""
    return list(r.scores)


class TeiEmbedRequest(TextOptionsFields):
    """text-embeddings-inference's ``/embed`` body ``{"inputs"}``, or the articles' inference
    suite's ``{"texts": [...]}``: exactly one of the two."""

    model_config = ConfigDict(extra="ignore")
    inputs: str | list[str] | None = None
    texts: list[str] | None = Field(None, description="the articles' inference-suite shape")
    normalize: bool = True
    truncate: bool = True

    @field_validator("normalize")
    @classmethod
    def _normalised_only(cls, value: bool) -> bool:
        check_embed_flags(value)
        return value

    @model_validator(mode="after")
    def _one_of(self) -> TeiEmbedRequest:
        if (self.inputs is None) == (self.texts is None):
            raise ValueError('send either "inputs" (TEI) or "texts", exactly one')
        return self

    def text_list(self) -> tuple[list[str], str]:
        """The texts and the field they came in (for error messages)."""
        if self.texts is not None:
            return self.texts, "texts"
        return ([self.inputs] if isinstance(self.inputs, str) else self.inputs), "inputs"


def tei_vectors(r: EmbedResult) -> list[list[float]]:
    """TEI ``/embed`` and the inference suite's ``/embed``: a list of vectors, in input order."""
    return r.vectors.tolist()


# ------------------------------------------------------------------ legacy /api/predict
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


# ------------------------------------------------------------------ rerank (three shapes)
# Each takes the text options (TextHandlingFields): t2s / nfkc / collapse_whitespace normalise the
# query and the documents before scoring; on the reranker path long_text has no effect (pairs are
# truncated at the reranker's max length) and prompt_name / instruction are a 422 (they are the
# embedding model's); see EmbeddingService.rerank.
class ArticleRerankRequest(TextHandlingFields):
    """The articles' inference suite: ``{"query", "docs"}`` → ``{"scores"}`` in ``docs`` order."""

    model_config = ConfigDict(extra="forbid")
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


class TeiRerankRequest(TextHandlingFields):
    """text-embeddings-inference's ``/rerank`` body."""

    model_config = ConfigDict(extra="ignore")
    query: str
    texts: list[str]
    raw_scores: bool = False
    return_text: bool = False
    truncate: bool = Field(True, description="false: a pair over the reranker's token limit is refused (413) "
                           "instead of truncated")


class TeiRank(BaseModel):
    index: int
    score: float
    text: str | None = None


class CohereDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str


class SearchRequest(TextHandlingFields):
    """``POST /v1/search``: an index's top-k for a query (docs/api.md, "Search")."""

    model_config = ConfigDict(extra="forbid")
    index: str = Field(description="an index in --index-dir (GET /v1/indexes lists them)")
    query: str
    top_k: int = Field(10, strict=True, description="hits, 1-100")
    rerank: bool = Field(False, strict=True, description="reorder the hits with the --reranker cross-encoder")
    highlight: bool = Field(False, strict=True, description="each hit's best-matching tokens")
    model: str | None = Field(None, description="must be the model that built the index (409 if not)")


class CohereRerankRequest(TextHandlingFields):
    """Cohere / Jina / Xinference ``/v1/rerank`` (and Cohere's ``/v2/rerank``) body."""

    model_config = ConfigDict(extra="ignore")
    query: str
    documents: list[str | CohereDocument]
    model: str | None = Field(None, description="ignored: the loaded reranker answers")
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


class CohereRerankResult(BaseModel):
    index: int
    relevance_score: float
    document: CohereDocument | None = None


class CohereUsage(BaseModel):
    total_tokens: int


class CohereRerankResponse(BaseModel):
    id: str
    results: list[CohereRerankResult]
    model: str
    method: Literal["cross-encoder", "embedding"]
    usage: CohereUsage
    meta: dict[str, Any]


class MapRequest(BaseModel):
    """``POST /v1/map``: the embedding map (向量地图) of ``texts``, ``queries`` drawn over them.
    More than ``--map-max-points`` texts are sampled, and the answer says so."""

    model_config = ConfigDict(extra="forbid")
    texts: list[str] | None = Field(None, description="the corpus, at least 3 texts (or `index`)")
    index: str | None = Field(None, description="instead of texts: a corpus index's name (`GET /v1/indexes`), "
                              "mapped from its stored vectors with its own model")
    labels: list[str] | None = Field(None, description="one per text: colour by these instead of k-means clusters")
    queries: list[str] = Field(default_factory=list, description="drawn as stars over the corpus (at most 200)")
    method: Literal["pca", "umap"] = "pca"
    clusters: int = Field(8, ge=1, le=50, description="k-means clusters when no labels are given")
    model: str | None = None
