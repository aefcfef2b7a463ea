"""Evaluate reranking on labelled query–document groups, the way C-MTEB's T2Reranking does.

Input: rows ``query, doc, label`` (TSV/CSV, header or not; C-MTEB's T2Reranking layout) or JSON
lines ``{"query", "positive": [...], "negative": [...]}`` (T2Reranking's own files) or
``{"query", "pos": [...], "neg": [...]}`` (FlagEmbedding's): positives label 1, negatives 0. Output, per method — the embedding model's cosine alone, and the
``--reranker`` cross-encoder when one is loaded — side by side:

* **MRR@10**: the mean over queries of 1 / rank of the first relevant document in the top 10 (0
  if none). Relevant: label ≥ 1 for 0/1 labels; for graded labels, the group's highest label.
* **nDCG@10** with the labels as gains (``sklearn.metrics.ndcg_score``).
* **mean per-query Spearman** of score vs label (``scipy.stats.spearmanr``), over the queries whose
  labels (and scores) are not all equal — the articles' inference suite's measure.

``python -m gte_ui evaluate FILE --task rerank [--reranker MODEL] [--out FOLDER]``
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.scoring import spearman
from gte_ui.core.tables import (
    cells,
    find_column,
    number,
    read_text,
    sniff_encoding,
    text_rows,
)
from gte_ui.evaluation.retrieval import read_flag_records

QUERY_NAMES = ("query", "question", "查询", "问题", "q")
DOC_NAMES = ("doc", "document", "passage", "text", "docs", "文档", "段落", "candidate")
LABEL_NAMES = ("label", "score", "relevance", "rel", "标签", "分数", "gold")


@dataclass
class RerankGroups:
    """Documents and labels grouped by query, in file order."""

    queries: list[str]
    docs: list[list[str]]
    labels: list[list[float]]
    name: str = ""

    @property
    def pairs(self) -> int:
        return sum(len(d) for d in self.docs)

    def limit(self, n: int | None) -> RerankGroups:
        """The first ``n`` queries (all when ``n`` is None or 0)."""
        if not n:
            return self
        return RerankGroups(self.queries[:n], self.docs[:n], self.labels[:n], self.name)


@dataclass
class RerankEval:
    method: str  # "embedding" | "cross-encoder"
    model: str
    queries: int  # groups scored
    mrr_at_10: float
    ndcg_at_10: float
    spearman: float  # mean per-query Spearman
    spearman_queries: int  # queries it is defined for
    seconds: float
    per_query: list[dict] = field(default_factory=list, repr=False)
    unknown_token_share: float = 0.0  # share of the data's tokens the scoring model's vocabulary lacks
    warnings: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, object]:
        d = asdict(self)
        d.pop("per_query")
        return d


def _bad(en: str, zh: str) -> GteError:
    return GteError(ErrorType.VALIDATION, en, zh)


def read_groups(source: str | Path | bytes, name: str = "") -> RerankGroups:
    """Parse query–document–label rows (TSV/CSV) or T2Reranking JSON lines into groups.

    Raises:
        GteError: unreadable layout, a non-numeric label, fewer than 1 query with 2 documents.
    """
    text, name = read_text(source, name)
    groups: dict[str, tuple[list[str], list[float]]] = {}
    if text.lstrip().startswith("{"):
        # FlagEmbedding's {query, pos, neg} or T2Reranking's {query, positive, negative}: one reader
        for query, pos, neg in read_flag_records(text, name):
            docs, labels = groups.setdefault(query, ([], []))
            docs.extend(pos + neg)
            labels.extend([1.0] * len(pos) + [0.0] * len(neg))
    else:
        rows = text_rows(text, name)
        head = rows[0][1]
        q, d, lab = find_column(head, QUERY_NAMES), find_column(head, DOC_NAMES), find_column(head, LABEL_NAMES)
        if q is not None and d is not None and lab is not None:
            body = rows[1:]
        elif len(head) >= 3:
            q, d, lab, body = 0, 1, 2, rows
        else:
            raise _bad(f"cannot find query, doc and label columns in {name} (first row: {head[:4]})",
                       "找不到查询、文档和标签列")
        for line, row in body:
            query, doc, label = cells(row, (q, d, lab), name, line)
            docs, labels = groups.setdefault(query, ([], []))
            docs.append(doc)
            labels.append(number(label, name, line))
    kept = {k: v for k, v in groups.items() if k and len(v[0]) >= 2}
    if not kept:
        raise _bad(f"{name}: no query has 2 or more documents to rank ({len(groups)} queries, "
                   f"{sum(len(v[0]) for v in groups.values())} documents in all); reranking orders each query's "
                   "own documents — to search one shared corpus instead, use --task retrieval",
                   "没有包含 2 个以上文档的查询；如需在共享语料中检索，请用 --task retrieval")
    return RerankGroups(list(kept), [v[0] for v in kept.values()], [v[1] for v in kept.values()], name=name)


def looks_like_groups(path: str | Path) -> bool:
    """True for a file whose header names query and doc columns, or T2Reranking JSON lines (in any
    encoding :mod:`gte_ui.core.tables` reads: a UTF-16 or GB18030 header counts too)."""
    try:
        with open(path, encoding=sniff_encoding(path), errors="replace") as f:
            first = f.readline().strip()
    except OSError:
        return False
    if first.startswith("{"):
        return '"query"' in first
    head = first.replace("\t", ",").split(",")
    return find_column(head, QUERY_NAMES) is not None and find_column(head, DOC_NAMES) is not None


def query_metrics(scores: np.ndarray, labels: np.ndarray, binary: bool, k: int = 10) -> dict[str, float | None]:
    """MRR@k, nDCG@k and Spearman of one query's documents (None where undefined)."""
    from sklearn.metrics import ndcg_score  # scikit-learn: loaded only when evaluating

    order = np.argsort(-scores, kind="stable")
    relevant = labels >= 1.0 if binary else labels >= labels.max()
    hits = np.flatnonzero(relevant[order][:k])
    mrr = 1.0 / (hits[0] + 1) if hits.size else 0.0
    ndcg = float(ndcg_score(labels[None, :], scores[None, :], k=k)) if labels.max() > 0 else None
    rho = None
    if np.ptp(labels) > 0 and np.ptp(scores) > 0:
        rho = spearman(scores, labels)
    return {"mrr": float(mrr), "ndcg": ndcg, "spearman": rho}


def evaluate_rerank(service, groups: RerankGroups, method: str = "auto",
                    progress: Callable[[float, str], None] | None = None) -> RerankEval:
    """Score every group with ``service.rerank`` (``method`` "embedding" or "cross-encoder")."""
    t0 = time.perf_counter()
    binary = all(set(lab) <= {0.0, 1.0} for lab in groups.labels)
    per_query, model, used = [], "", method
    for i, (query, docs, labels) in enumerate(zip(groups.queries, groups.docs, groups.labels)):
        r = service.rerank(query, docs, method=method)
        model, used = r.model, r.method
        m = query_metrics(np.asarray(r.scores, dtype=np.float64), np.asarray(labels, dtype=np.float64), binary)
        per_query.append({"query": query, **m})
        if progress:
            progress((i + 1) / len(groups.queries), f"{r.method}")
    ndcgs = [q["ndcg"] for q in per_query if q["ndcg"] is not None]
    rhos = [q["spearman"] for q in per_query if q["spearman"] is not None]
    texts = groups.queries + [d for docs in groups.docs for d in docs]
    reader = {"tokenizer": service.reranker.tokenizer, "model": model} if used == "cross-encoder" else {}
    share, warnings = service.unknown_share(texts, **reader)
    return RerankEval(method=used, model=model, queries=len(per_query), unknown_token_share=share, warnings=warnings,
                      mrr_at_10=float(np.mean([q["mrr"] for q in per_query])),
                      ndcg_at_10=float(np.mean(ndcgs)) if ndcgs else float("nan"),
                      spearman=float(np.mean(rhos)) if rhos else float("nan"), spearman_queries=len(rhos),
                      seconds=round(time.perf_counter() - t0, 2), per_query=per_query)


def compare(service, groups: RerankGroups, progress: Callable[[float, str], None] | None = None) -> list[RerankEval]:
    """The embedding model alone, and with the reranker when one is loaded: side by side."""
    results = [evaluate_rerank(service, groups, "embedding", progress)]
    if service.reranker is not None:
        results.append(evaluate_rerank(service, groups, "cross-encoder", progress))
    return results


def summary_markdown(results: list[RerankEval], groups: RerankGroups) -> str:
    lines = [f"### {groups.name} · {len(groups.queries)} queries, {groups.pairs} documents",
             "| 方法 Method | 模型 Model | MRR@10 | nDCG@10 | 平均 Spearman (per query) | 耗时 Time |",
             "|---|---|---|---|---|---|"]
    for r in results:
        label = "嵌入 Embedding" if r.method == "embedding" else "重排 Cross-encoder"
        lines.append(f"| {label} | `{r.model}` | **{r.mrr_at_10 * 100:.2f}** | {r.ndcg_at_10 * 100:.2f} | "
                     f"{r.spearman * 100:.2f} ({r.spearman_queries} q) | {r.seconds:.1f} s |")
    lines += [f"\n⚠️ {w}" for r in results for w in r.warnings]
    if len(results) == 1:
        lines.append("\n⚠️ 未加载重排模型：只有嵌入模型的结果 / no --reranker loaded: the embedding model alone.")
    lines.append("\n(× 100, as C-MTEB reports them. MRR counts the top-labelled documents as relevant.)")
    return "\n".join(lines)


def write_results(results: list[RerankEval], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rerank_metrics.json"
    path.write_text(json.dumps([r.metrics() | {"per_query": r.per_query} for r in results], ensure_ascii=False,
                               indent=2), encoding="utf-8")
    return [path]
