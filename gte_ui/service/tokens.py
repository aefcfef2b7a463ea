"""Token-level capabilities beside embed and rerank: tokenise, decode, classify pairs.

What TEI's ``/tokenize``, ``/decode`` and ``/predict`` (and their gRPC twins) answer, written once
here for every front end. Each works on one of the server's models: an embedding model
(:class:`EmbeddingService`) or its cross-encoder (``which="reranker"``). Inputs go through the
service's own checks (types, characters, count limits); nothing here touches a front end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.engine.reranker import read_reranker_config
from gte_ui.service.options import read_options
from gte_ui.service.service import EmbeddingService

Which = Literal["embedding", "reranker"]


@dataclass(frozen=True)
class Token:
    """One token of a text: its id, its text, whether the tokenizer added it (``[CLS]``), and for
    the text's own tokens its character span ``text[start:stop]`` (None for special tokens)."""

    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None


@dataclass(frozen=True)
class Prediction:
    """One label's score for a text or a pair (the sigmoid of the logit unless raw)."""

    score: float
    label: str


def _tokenizer(service: EmbeddingService, which: Which):
    if which == "reranker":
        return require_reranker(service).tokenizer
    return service.encoder.tokenizer


def require_reranker(service: EmbeddingService):
    """The loaded cross-encoder, or TEI's own error for a model that is not one."""
    if service.reranker is None:
        raise GteError(ErrorType.MODEL_TYPE, "Model is not a classifier model", "该模型不是分类（重排）模型")
    return service.reranker


def tokenize(service: EmbeddingService, texts: Sequence[str], *, add_special_tokens: bool = True,
             prompt_name: str | None = None, which: Which = "embedding", what: str = "inputs") -> list[list[Token]]:
    """Every text's tokens, as the model reads them (before truncation). ``prompt_name`` (an
    instruction model's prompt) is put before each text first, and the spans count it."""
    texts = service.check_texts(texts, what)
    if which == "embedding":
        prompt = service.prompt_for(read_options({"prompt_name": prompt_name}))
        texts = [(prompt or "") + t for t in texts]
    elif prompt_name:
        raise GteError(ErrorType.VALIDATION, "prompt_name is the embedding model's; the reranker has no prompts",
                       "重排模型没有 prompt_name")
    tok = _tokenizer(service, which)
    enc = tok(texts, add_special_tokens=add_special_tokens, truncation=False, verbose=False,
              return_offsets_mapping=True, return_special_tokens_mask=True)
    out = []
    for text, ids, offsets, special in zip(texts, enc["input_ids"], enc["offset_mapping"],
                                           enc["special_tokens_mask"]):
        names = tok.convert_ids_to_tokens(ids)
        out.append([Token(id=int(i), text=name, special=True, start=None, stop=None) if s else
                    Token(id=int(i), text=text[a:b], special=False, start=int(a), stop=int(b))
                    for i, name, (a, b), s in zip(ids, names, offsets, special)])
    return out


def decode(service: EmbeddingService, ids: Sequence[Sequence[int]], *, skip_special_tokens: bool = True,
           which: Which = "embedding") -> list[str]:
    """Each id sequence back to text. Ids must be the vocabulary's (0 … size-1)."""
    tok = _tokenizer(service, which)
    limit = service.settings.max_texts
    if not ids:
        raise GteError(ErrorType.EMPTY, "no ids given", "没有提供 ids")
    if len(ids) > limit:
        raise GteError(ErrorType.TOO_MANY, f"{len(ids):,} id sequences given; the limit is {limit:,}",
                       f"ids 序列数量 {len(ids):,} 超过上限 {limit:,}")
    size = len(tok)
    for n, seq in enumerate(ids):
        if len(seq) > service.settings.max_chars:
            raise GteError(ErrorType.TOO_LONG, f"ids[{n}] has {len(seq):,} ids; the limit is "
                           f"{service.settings.max_chars:,}", f"ids[{n}] 过长")
        bad = next((i for i in seq if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < size), None)
        if bad is not None:
            raise GteError(ErrorType.VALIDATION, f"ids[{n}] holds {bad!r}, not a token id of this model "
                           f"(0 to {size - 1})", f"ids[{n}] 含无效的词元 id {bad!r}")
    return [tok.decode(list(seq), skip_special_tokens=skip_special_tokens) for seq in ids]


def labels(service: EmbeddingService) -> dict[str, str]:
    """The cross-encoder's ``id2label`` (``{"0": "LABEL_0"}`` for a one-logit head)."""
    reranker = require_reranker(service)
    if reranker.info.kind == "cross-encoder":
        found = read_reranker_config(Path(reranker.info.path)).get("id2label") or {}
        if found:
            return {str(k): str(v) for k, v in found.items()}
    return {"0": "LABEL_0"}


def predict(service: EmbeddingService, pairs: Sequence[Sequence[str]], *, raw_scores: bool = False,
            what: str = "inputs") -> list[list[Prediction]]:
    """The cross-encoder's score for each ``[query, text]`` pair, in order. Pairs sharing a query
    go through :meth:`EmbeddingService.rerank` together (its cache and dynamic batcher)."""
    require_reranker(service)
    if not pairs:
        raise GteError(ErrorType.EMPTY, f"no {what} given", f"没有提供 {what}")
    if len(pairs) > service.settings.max_candidates:
        raise GteError(ErrorType.TOO_MANY, f"{len(pairs):,} {what} given; the limit is "
                       f"{service.settings.max_candidates:,}", f"{what} 数量超过上限")
    for n, pair in enumerate(pairs):
        if len(pair) != 2:
            raise GteError(ErrorType.VALIDATION, f"{what}[{n}] has {len(pair)} text(s): this server's classifier "
                           "is a cross-encoder, which scores pairs [query, text]",
                           f"{what}[{n}] 必须是 [查询, 文本] 文本对")
    # the budget is the whole request's, whatever its queries (each group is checked again in rerank)
    service.check_rerank_work([(service.check_text(q, f"{what}[{n}][0]"), service.check_text(t, f"{what}[{n}][1]"))
                               for n, (q, t) in enumerate(pairs)])
    groups: dict[str, list[int]] = {}
    for n, (query, _) in enumerate(pairs):
        groups.setdefault(query, []).append(n)
    scores: list[float] = [0.0] * len(pairs)
    for query, members in groups.items():
        r = service.rerank(query, [pairs[n][1] for n in members], raw_scores=raw_scores, method="cross-encoder",
                           what=what)
        for n, score in zip(members, r.scores):
            scores[n] = score
    label = labels(service)
    first = label.get("0", "LABEL_0")
    return [[Prediction(score=s, label=first)] for s in scores]
