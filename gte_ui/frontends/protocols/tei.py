"""text-embeddings-inference's wire shapes, once, for the HTTP routes and the gRPC servicer.

TEI serves one model per URL; this server loads several (``--model``, ``--models``,
``--reranker``). A :class:`TeiTarget` is one of them seen as a TEI server: an embedding model
(``/embed``, ``/embed_all``, ``/tokenize``…) or the cross-encoder (``/rerank``, ``/predict``…).
The HTTP front end gives each its own base URL (``/tei/{name}``) and the bare root to the
default model; gRPC picks it with the ``x-tei-model`` metadata.

Requests mirror TEI's ``router/src/http/types.rs``; answers are built from the service's results.
TEI's own routes ignore keys TEI does not define, as serde does there (a client of a newer TEI
keeps working). The shapes that also take this project's text options (``/rerank``,
``/similarity``, the root's ``/embed``) accept TEI's fields by name and refuse any other key
(422 naming it): a misspelt option would change the answer. A TEI option this server cannot
honour (``normalize: false``, left truncation, sparse vectors) is a clear error in TEI's
``{"error", "error_type"}`` shape, never a silent difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.frontends.protocols.common import (
    Answer,
    TextHandlingFields,
    TextOptionsFields,
    prompt_header,
    warnings_header,
)
from gte_ui.service import tokens
from gte_ui.service.results import EmbedResult, RankResult, RerankResult
from gte_ui.service.service import EmbeddingService

Kind = Literal["embedding", "reranker"]

#: the metadata key a gRPC call names its model with (absent: the default embedding model)
GRPC_MODEL_KEY = "x-tei-model"


def package_version() -> str:
    try:
        return version("gte-ui")
    except PackageNotFoundError:  # a checkout run without installing
        return "dev"


# ------------------------------------------------------------------ which model answers
@dataclass(frozen=True)
class TeiTarget:
    """One loaded model seen as a TEI server: its name, its kind, the service that owns it."""

    name: str
    kind: Kind
    service: EmbeddingService


def tei_targets(service: EmbeddingService) -> dict[str, TeiTarget]:
    """Every loaded model by name: the embedding models in load order, then the cross-encoder."""
    found = {s.name: TeiTarget(s.name, "embedding", s) for s in service.models()}
    if service.reranker is not None and service.reranker.info.name not in found:
        found[service.reranker.info.name] = TeiTarget(service.reranker.info.name, "reranker", service)
    return found


def resolve_target(service: EmbeddingService, name: str | None) -> TeiTarget:
    """The model called ``name`` (None: the default embedding model), or a 404 listing them."""
    if not name:
        return TeiTarget(service.name, "embedding", service)
    targets = tei_targets(service)
    if name not in targets:
        loaded = ", ".join(targets)
        raise GteError(ErrorType.UNKNOWN_MODEL, f"model {name!r} is not loaded here; loaded: {loaded}",
                       f"未加载模型 {name!r}；已加载：{loaded}")
    return targets[name]


def not_embedding() -> GteError:
    """TEI's answer when an embedding route is asked of a reranker (core/src/infer.rs)."""
    return GteError(ErrorType.MODEL_TYPE, "Model is not an embedding model", "该模型不是嵌入模型")


def not_splade() -> GteError:
    """TEI's answer to ``/embed_sparse`` on a dense model (core/src/infer.rs: ``Backend error:``
    + this, status 424): no model this server loads has SPLADE pooling."""
    return GteError(ErrorType.MODEL_TYPE, "Backend error: Model is not an embedding model with SPLADE pooling",
                    "该模型不是 SPLADE 池化的稀疏嵌入模型")


def embedder(target: TeiTarget) -> EmbeddingService:
    if target.kind != "embedding":
        raise not_embedding()
    return target.service


# ------------------------------------------------------------------ /info
class EmbeddingModelType(BaseModel):
    pooling: str


class ClassifierModelType(BaseModel):
    id2label: dict[str, str]
    label2id: dict[str, int]


class Info(BaseModel):
    """TEI's ``GET /info`` (router/src/lib.rs ``Info``), with this server's facts."""

    model_id: str
    model_sha: str | None = None
    model_dtype: str
    served_model_name: str
    model_type: dict[Kind, EmbeddingModelType | ClassifierModelType]
    max_concurrent_requests: int
    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int | None
    max_client_batch_size: int
    auto_truncate: bool = True
    tokenization_workers: int = 1
    version: str
    sha: str | None = None
    docker_label: str | None = None

    @classmethod
    def of(cls, target: TeiTarget) -> Info:
        s = target.service
        settings = s.settings
        if target.kind == "reranker":
            id2label = tokens.labels(s)
            kind: dict[Any, Any] = {"reranker": ClassifierModelType(
                id2label=id2label, label2id={v: int(k) for k, v in id2label.items()})}
            dtype, max_input = s.reranker.info.precision, s.reranker.max_length
            client_batch = settings.max_candidates
        else:
            kind = {"embedding": EmbeddingModelType(pooling=s.info.pooling)}
            dtype, max_input = s.info.precision, s.max_length
            client_batch = settings.max_texts
        return cls(model_id=target.name, model_dtype=_DTYPES.get(dtype, dtype), served_model_name=target.name,
                   model_type=kind, max_concurrent_requests=settings.max_queue, max_input_length=max_input,
                   max_batch_tokens=s.max_batch_tokens or max_input * settings.batch_size,
                   max_batch_requests=settings.batch_size * 4, max_client_batch_size=client_batch,
                   version=package_version())


_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "int8"}


# ------------------------------------------------------------------ requests
class TruncationFields(BaseModel):
    """TEI's truncation fields, which every TEI request may carry beside its inputs."""

    truncate: bool | None = Field(None, description="TEI: cut inputs over max_input_length (this server "
                                  "always does; auto_truncate is true)")
    truncation_direction: Literal["Left", "Right", "left", "right"] = "Right"

    @field_validator("truncation_direction")
    @classmethod
    def _right_only(cls, value: str) -> str:
        if value.lower() != "right":
            raise ValueError("truncation_direction Left is not supported: this server keeps the start of "
                             "each text (Right)")
        return value


class TeiFields(TruncationFields):
    """A TEI-only request: keys TEI does not define are ignored, as TEI does."""

    model_config = ConfigDict(extra="ignore")


def inputs_list(inputs: str | list[str]) -> list[str]:
    return [inputs] if isinstance(inputs, str) else inputs


class EmbedRequest(TeiFields):
    """TEI's ``/embed``: ``{"inputs": str | [str], "normalize", "prompt_name", "dimensions"}``."""

    inputs: str | list[str]
    normalize: bool = True
    prompt_name: str | None = None
    dimensions: int | None = Field(None, ge=1)


class EmbedAllRequest(TeiFields):
    """``/embed_all`` (and ``/embed_sparse``, which refuses): TEI's ``{"inputs", "prompt_name"}``."""

    inputs: str | list[str]
    prompt_name: str | None = None


class TokenizeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    inputs: str | list[str]
    add_special_tokens: bool = True
    prompt_name: str | None = None


class DecodeRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ids: list[int] | list[list[int]]
    skip_special_tokens: bool = True

    def batch(self) -> list[list[int]]:
        return [self.ids] if self.ids and isinstance(self.ids[0], int) else self.ids  # type: ignore[list-item]


class PredictRequest(TeiFields):
    """TEI's ``/predict``: a pair ``["query", "text"]``, or a batch of pairs ``[[q, t], …]``."""

    inputs: str | list[str] | list[list[str]]
    raw_scores: bool = False

    def pairs(self) -> tuple[list[list[str]], bool]:
        """The pairs, and whether the request was a batch (the answer nests one level deeper)."""
        if isinstance(self.inputs, str):
            return [[self.inputs]], False
        if self.inputs and isinstance(self.inputs[0], str):
            return [list(self.inputs)], False  # type: ignore[arg-type]
        return [list(p) for p in self.inputs], True  # type: ignore[union-attr]


class VertexRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    instances: list[dict[str, Any]] = Field(..., min_length=1)


class TeiSimilarityInputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_sentence: str
    sentences: list[str]


class TeiSimilarityRequest(TextOptionsFields, TruncationFields):
    """TEI's ``/similarity`` body: one source, many sentences; plus the text options."""

    inputs: TeiSimilarityInputs
    parameters: dict[str, Any] | None = Field(None, description="huggingface_hub's (empty) parameters; "
                                               "a non-empty one is a 422")

    @field_validator("parameters")
    @classmethod
    def _no_parameters(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value:
            raise ValueError(f"unsupported parameters: {', '.join(sorted(value))}; send options as top-level fields")
        return value


class TeiEmbedRequest(TextOptionsFields, TruncationFields):
    """The root's ``/embed``: TEI's ``{"inputs", "normalize", "dimensions"…}``, or the articles'
    inference suite's ``{"texts": [...]}``: exactly one of the two; plus the text options."""

    inputs: str | list[str] | None = None
    texts: list[str] | None = Field(None, description="the articles' inference-suite shape")
    normalize: bool = True
    dimensions: int | None = Field(None, ge=1, description="keep the first N dimensions and re-normalise")

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
        return inputs_list(self.inputs), "inputs"  # type: ignore[arg-type]


class TeiRerankRequest(TextHandlingFields, TruncationFields):
    """TEI's ``/rerank`` body; plus the text options."""

    query: str
    texts: list[str]
    raw_scores: bool = False
    return_text: bool = False
    truncate: bool | None = Field(True, description="false: a pair over the reranker's token limit is refused "
                                  "(413) instead of truncated")


def check_embed_flags(normalize: bool | None, dimensions: int | None = None) -> None:
    """``normalize: false`` asks for raw pooled vectors, which this server never keeps: say so."""
    if normalize is False:
        raise GteError(ErrorType.VALIDATION, "normalize: false is not supported: this server's vectors are "
                       "always L2-normalised (leave it out or send true)", "不支持 normalize: false，向量总是归一化的")


# ------------------------------------------------------------------ answers
class SimpleToken(BaseModel):
    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None


def token_lists(found: list[list[tokens.Token]]) -> list[list[SimpleToken]]:
    """TEI's ``/tokenize``: one token list per input, always nested."""
    return [[SimpleToken(id=t.id, text=t.text, special=t.special, start=t.start, stop=t.stop) for t in row]
            for row in found]


class PredictionOut(BaseModel):
    score: float
    label: str


def predictions(found: list[list[tokens.Prediction]]) -> list[list[PredictionOut]]:
    return [[PredictionOut(score=p.score, label=p.label) for p in row] for row in found]


class Rank(BaseModel):
    index: int
    score: float
    text: str | None = None


def ranks(r: RerankResult, return_text: bool) -> list[Rank]:
    """TEI's ``/rerank``: best first, ``text`` only when asked for."""
    return [Rank(index=row.index, score=row.score, text=row.text if return_text else None) for row in r.rows]


def rerank_answer(r: RerankResult, return_text: bool, truncate: bool | None) -> Answer:
    """TEI's ``/rerank``: a bare list best first; ``truncate: false`` with a pair over the limit is
    the result's 413 rule; the method (and the warnings, 中文 / English) travel in headers."""
    if truncate is False:
        r.refuse_truncated("texts")
    body = [x.model_dump(exclude_none=True) for x in ranks(r, return_text)]
    return Answer(body, {"X-Rerank-Method": r.method, **warnings_header(r.warnings)})


def vectors(r: EmbedResult) -> list[list[float]]:
    """TEI's ``/embed`` and the inference suite's ``/embed``: a list of vectors, in input order."""
    return r.vectors.tolist()


def vectors_answer(r: EmbedResult) -> Answer:
    """The root's ``/embed``: the vectors, and the prompt used (if any) in ``X-Prompt``."""
    return Answer(vectors(r), prompt_header(r.prompt))


def scores(r: RankResult) -> list[float]:
    """TEI's ``/similarity``: one score per sentence, in the order sent."""
    return list(r.scores)


def scores_answer(r: RankResult) -> Answer:
    """The root's ``/similarity`` in TEI's shape: the scores, the prompt used in ``X-Prompt``."""
    return Answer(scores(r), prompt_header(r.prompt))


def token_vectors(states: list[np.ndarray]) -> list[list[list[float]]]:
    """TEI's ``/embed_all``: per input, one vector per token (special tokens included)."""
    return [s.tolist() for s in states]
