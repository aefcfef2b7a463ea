"""Reranking: documents scored against a query by the cross-encoder (or, without one, by the
embedding cosine), best first. (The refusal of a pair the reranker would cut, TEI's
``truncate: false``, is the result's own rule: :meth:`RerankResult.refuse_truncated`.)"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.scoring import cosine_matrix, rank_order
from gte_ui.engine.caches.local import CachedVector
from gte_ui.engine.reranker import sigmoid
from gte_ui.service.embed import embed_clean, ms_since, prompt_for, unknown_of
from gte_ui.service.inspection import report_unknown, report_unknown_texts
from gte_ui.service.options import DEFAULT_OPTIONS, TextOptions
from gte_ui.service.rank import rank_labels
from gte_ui.service.results import RerankResult, RerankRow
from gte_ui.service.served import Served
from gte_ui.service.validation import check_positive, check_rerank_work

RERANK_METHODS = ("auto", "cross-encoder", "embedding")


def _check_method(model: Served, method: str) -> bool:
    """Whether the cross-encoder scores (else the embedding cosine); 422 for a method that cannot run."""
    if method not in RERANK_METHODS:
        raise GteError(ErrorType.VALIDATION, f"method must be one of {', '.join(RERANK_METHODS)}, got {method!r}",
                       f"method 取值无效：{method!r}")
    if method == "cross-encoder" and model.reranker is None:
        raise GteError(ErrorType.VALIDATION, "no reranker is loaded: start the server with --reranker MODEL "
                       "(or ask for method \"embedding\")", "未加载重排模型：请用 --reranker 启动")
    return model.reranker is not None and method != "embedding"


def _check_prompt(cross: bool, options: TextOptions) -> None:
    if cross and options.prompted:
        raise GteError(ErrorType.VALIDATION,
                       "prompt_name / instruction are the embedding model's; the reranker reads the query "
                       "as sent (a decoder reranker's instruction is the server's --reranker-instruction): "
                       "leave them out, or ask for method \"embedding\"",
                       "prompt_name / instruction 只用于嵌入模型，重排模型不读取它们：请去掉，或使用 method \"embedding\"")


def _cross_scores(model: Served, query: str, docs: list[str], options: TextOptions) -> tuple[list[CachedVector], int]:
    """The cross-encoder's logit for each document (cached per normalised pair), and how many
    distinct documents the cache held."""
    # the texts the reranker reads: normalised, and the cache keys on exactly those
    read_query, *read_docs = options.norm.apply_all([query, *docs])
    prefix = (model.score_prefix, read_query)
    found, missing = model.scores.lookup(prefix, read_docs)
    cached = len(found)
    if missing:
        assert model.rerank_runner is not None
        pairs = [(read_query, d) for d in missing]
        check_rerank_work(model.reranker, pairs, model.settings.max_tokens_per_request)
        enc = model.rerank_runner(pairs)
        fresh = [(doc, CachedVector(np.array(enc.vectors[i], dtype=np.float32), enc.token_counts[i], enc.truncated[i]))
                 for i, doc in enumerate(missing)]
        found.update(fresh)
        model.scores.store(prefix, fresh)
    return [found[d] for d in read_docs], cached


def rerank(model: Served, query: str, documents: Sequence[str], *, top_n: int | None = None,
           raw_scores: bool = False, method: str = "auto", what: str = "documents",
           options: TextOptions | None = None) -> RerankResult:
    """Score ``documents`` against ``query`` and sort them, best first (ties keep input order).

    ``method``: "auto" (the cross-encoder when one is loaded, else the embedding cosine),
    "cross-encoder" (422 when none is loaded) or "embedding". ``top_n`` keeps the best n rows
    (``scores`` still holds every document's); ``raw_scores`` gives the cross-encoder's logits
    instead of their sigmoid; ``what`` names the documents in errors. Text options (繁→简, NFKC,
    whitespace) apply to the query and every document on both paths; on the embedding path the
    prompt goes before the query only and ``long_text`` applies as in rank; on the reranker path
    each pair is cut at the reranker's max length (``truncated`` says which) and a prompt is a 422.
    Rows' ``text`` and ``query`` are the caller's own (ends stripped), not the normalised forms.
    """
    t0 = time.perf_counter()
    options = options or DEFAULT_OPTIONS
    cross = _check_method(model, method)
    query = model.checks.text(query, "query")
    docs = model.checks.texts(documents, what, model.settings.max_candidates)
    top_n = check_positive(top_n, "top_n")
    _check_prompt(cross, options)
    cached = 0
    if cross:
        items, cached = _cross_scores(model, query, docs, options)
        logits = np.array([float(it.vector[0]) for it in items])
        scores = logits if raw_scores else sigmoid(logits)
        tokens = [it.token_count for it in items]
        truncated = [it.truncated for it in items]
        used = sum(min(n, model.reranker.max_length) for n in tokens)
        scorer = model.reranker.info.name
    else:  # what rank() embeds: normalised, the prompt before the query only
        res, known = embed_clean(model, [query] + docs, t0, options, prompt=prompt_for(model, options), prompted=1)
        scores = cosine_matrix(res.vectors[1:], res.vectors[:1])[:, 0].astype(np.float64)
        tokens, truncated = res.token_counts[1:], res.truncated[1:]
        cached = res.cached
        used = res.total_tokens
        scorer = model.encoder.info.name
    order = rank_order(np.asarray(scores, dtype=np.float64))
    # what the scoring model could not read: the query and each document (named by rank)
    labels = rank_labels(order, ("查询", "the query"))
    if cross:
        ratios, warnings = report_unknown_texts(model, [query, *docs], labels, tokenizer=model.reranker.tokenizer,
                                                name=scorer)
    else:
        ratios, warnings = report_unknown(model, unknown_of(model, res, known), labels)
    if top_n is not None:
        order = order[:top_n]
    rows = [RerankRow(rank=r + 1, index=int(i), text=docs[i], score=float(scores[i]), tokens=int(tokens[i]),
                      truncated=bool(truncated[i]), unknown_token_ratio=ratios[i + 1]) for r, i in enumerate(order)]
    return RerankResult(query=query, method="cross-encoder" if cross else "embedding", model=scorer,
                        raw_scores=bool(raw_scores and cross), scores=[float(x) for x in scores], rows=rows,
                        total=len(docs), tokens=int(used), cached=cached, elapsed_ms=ms_since(t0),
                        query_unknown_token_ratio=ratios[0], warnings=warnings)

