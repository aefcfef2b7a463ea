"""Request and response bodies of the REST routes (pydantic), and the legacy ``/api/predict`` parser.

Limits (characters per text, texts per request) are enforced again by the service; the schemas
reject wrong types and shapes with messages that name the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.textnorm import TextNorm


class TextOptions(BaseModel):
    """Optional per-request text handling (all off by default)."""

    t2s: bool = Field(False, description="Traditional → Simplified Chinese (OpenCC) before embedding")
    nfkc: bool = Field(False, description="full-width → half-width (Unicode NFKC)")
    collapse_whitespace: bool = Field(False, description="runs of whitespace → one space")
    long_text: Literal["truncate", "chunk"] | None = Field(
        None, description="texts over the model's token limit: truncate, or chunk (sliding windows, "
        "averaged); default: the server's --long-text")
    prompt_name: str | None = Field(
        None, description="instruction models (Qwen3-Embedding, gte-Qwen2-instruct): one of the model's "
        "prompts (GET /health → prompts), put before the query side; 422 for a model without prompts")
    instruction: str | None = Field(
        None, description="instruction models: a task description, sent as 'Instruct: {task}\\nQuery:{text}' "
        "on the query side (documents stay bare); 422 for a model without prompts")

    def service_options(self) -> dict[str, Any]:
        return {"norm": TextNorm(t2s=self.t2s, nfkc=self.nfkc, collapse_whitespace=self.collapse_whitespace),
                "long_text": self.long_text, "prompt_name": self.prompt_name, "instruction": self.instruction}


# ------------------------------------------------------------------ OpenAI /v1/embeddings
class EmbeddingsRequest(TextOptions):
    """OpenAI's embeddings request. ``input`` is a string or a list of strings."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[str] = Field(..., description="text or list of texts to embed")
    model: str | None = Field(None, description="ignored: the loaded model answers (see /v1/models)")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="float: JSON numbers; base64: little-endian float32 bytes, as OpenAI")
    dimensions: int | None = Field(
        None, ge=1, description="keep the first N dimensions and re-normalise. Models trained for it "
        "(Qwen3-Embedding: 32 up to their width; GET /health → min_dimensions) keep their quality; GTE "
        "is not Matryoshka-trained, so quality drops as N shrinks: measure before relying on it")
    user: str | None = None

    def service_options(self) -> dict[str, Any]:
        return {**super().service_options(), "dimensions": self.dimensions}


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
    warnings: list[str] = Field(default_factory=list, description="e.g. truncating a model not trained for it")


# ------------------------------------------------------------------ /similarity (two shapes)
class PairRequest(TextOptions):
    """The Flask GTE service's body: two sentences."""

    model_config = ConfigDict(extra="forbid")
    sentence_a: str
    sentence_b: str


class PairResponse(BaseModel):
    sentence_a: str
    sentence_b: str
    similarity: float = Field(..., description="cosine similarity, [-1, 1]")
    percent: float
    verdict: str
    status: Literal["success"] = "success"
    prompt: str | None = Field(None, description="the prompt put before sentence_a (the query side), if any")


class TeiSimilarityInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_sentence: str
    sentences: list[str]


class TeiSimilarityRequest(TextOptions):
    """text-embeddings-inference's ``/similarity`` body: one source, many sentences."""

    model_config = ConfigDict(extra="ignore")
    inputs: TeiSimilarityInputs


class TeiEmbedRequest(TextOptions):
    """text-embeddings-inference's ``/embed`` body."""

    model_config = ConfigDict(extra="ignore")
    inputs: str | list[str]
    normalize: bool = True
    truncate: bool = True


# ------------------------------------------------------------------ legacy /api/predict
@dataclass(frozen=True)
class LegacyCall:
    """A parsed ``/api/predict`` body: either a ranking or a single vector."""

    mode: Literal["rank", "vector"]
    text: str
    candidates: str = ""


def parse_legacy(body: Any) -> LegacyCall:
    """Interpret the two shapes the Gradio-3-era articles post to ``/api/predict``.

    * ``{"data": [source, "cand1\\ncand2"]}`` → ranking (scores in candidate order);
    * ``{"data": [text, ""]}`` or ``{"data": [text, "", b1, b2, b3, b4]}`` → the text's vector.

    The four booleans were check boxes of the old demo's UI; they are accepted for compatibility
    (they must be JSON booleans) and do not change the answer.
    """
    if not isinstance(body, dict):
        raise GteError(ErrorType.VALIDATION, 'the body must be a JSON object like {"data": [...]}',
                       '请求体必须是 JSON 对象，例如 {"data": [...]}')
    if "data" not in body:
        raise GteError(ErrorType.VALIDATION, 'missing "data": send {"data": [text, candidates]}',
                       '缺少 "data" 字段')
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
        return LegacyCall("rank", data[0], data[1])
    return LegacyCall("vector", data[0])
