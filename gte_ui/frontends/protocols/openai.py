"""OpenAI's wire shapes: ``POST /v1/embeddings`` (Dify, RAGFlow, LangChain, LlamaIndex) and
``GET /v1/models``, built from :class:`EmbedResult` and the loaded models.

The request takes OpenAI's own fields (``input``, ``model``, ``encoding_format``, ``dimensions``,
``user``) and the project's text options; any other key is a 422 naming it.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.protocols.common import TextOptionsFields
from gte_ui.service.results import EmbedResult, LoadedModel


class EmbeddingsRequest(TextOptionsFields):
    """OpenAI's embeddings request. ``input`` is a string or a list of strings."""

    input: str | list[str] = Field(..., description="text or list of texts to embed")
    model: str | None = Field(None, description="which loaded model answers (GET /v1/models). With one "
                              "model loaded any name is accepted, as OpenAI clients always send one")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="float: JSON numbers; base64: little-endian float32 bytes, as OpenAI")
    dimensions: int | None = Field(
        None, ge=1, description="keep the first N dimensions and re-normalise. Models trained for it "
        "(Qwen3-Embedding: 32 up to their width; GET /health → min_dimensions) keep their quality; GTE "
        "is not Matryoshka-trained, so quality drops as N shrinks: measure before relying on it")
    user: str | None = Field(None, description="OpenAI's end-user id: accepted, not used")

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else self.input


def check_text_input(body: Any) -> None:
    """Token-id input (what LangChain sends unless told otherwise) is a 422 that says how to fix it."""
    if isinstance(body, dict) and _is_token_input(body.get("input")):
        raise GteError(ErrorType.VALIDATION, "token-id input is not supported: send text (a string "
                       "or a list of strings); LangChain's OpenAIEmbeddings needs "
                       "check_embedding_ctx_length=False for that", "不支持 token id 输入，请发送文本")


def _is_token_input(value: Any) -> bool:
    if isinstance(value, list) and value:
        first = value[0]
        return isinstance(first, int) or (isinstance(first, list) and bool(first) and isinstance(first[0], int))
    return False


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


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``: pass its ``id`` as ``model``."""

    id: str
    object: Literal["model"] = "model"
    owned_by: str = "gte-workbench"
    dimensions: int
    max_tokens: int
    precision: str
    default: bool


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]

    @classmethod
    def from_models(cls, models: list[LoadedModel]) -> ModelList:
        """OpenAI ``/v1/models``: every loaded model, the default first."""
        return cls(data=[ModelCard(id=m.name, dimensions=m.dim, max_tokens=m.max_length, precision=m.precision,
                                   default=m.default) for m in models])
