"""One evaluation job for every front end: read the data, limit it, run it, write the files.

The Evaluate tab and ``gte-ui evaluate`` both call these functions; what differs between them
(a progress bar in the browser or on stderr, a temporary folder or ``--out``) comes in as
arguments, so the two can never score the same file differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gte_ui.evaluation import rerank as rerank_eval
from gte_ui.evaluation import retrieval
from gte_ui.service.options import TextOptions

Progress = Callable[[float, str], None]


@dataclass
class RetrievalJob:
    """What a retrieval evaluation produced: the report, the data it read, the files it wrote."""

    report: retrieval.RetrievalReport
    data: retrieval.RetrievalData
    files: list[Path] = field(default_factory=list)


def retrieval_job(service, source: str | Path | retrieval.RetrievalData, *, services: Sequence | None = None, split: str = "test",
                  limit: int | None = None, top_k: int = retrieval.DEFAULT_TOP_K, rerank: bool = True,
                  out: Path | None = None, max_bytes: int | None = None, name: str = "",
                  options: TextOptions | None = None, progress: Progress | None = None) -> RetrievalJob:
    """Evaluate retrieval on a BEIR folder / zip or FlagEmbedding lines.

    Args:
        service: the default service; its cross-encoder (``--reranker``) reranks every model's
            top ``top_k`` when ``rerank`` is on and one is loaded.
        services: the models to judge side by side (default: ``service`` alone).
        limit: the first N queries (the corpus stays whole).
        out: where ``retrieval_metrics.json`` and ``retrieval_per_query.csv`` go (None: nowhere).
        source: a path, or data already read (front ends that check the file before loading a model).
        max_bytes: bound on what is read (uploads); None for the CLI.
    """
    data = source if isinstance(source, retrieval.RetrievalData) else \
        retrieval.read_retrieval(source, split=split, name=name, max_bytes=max_bytes)
    data = data.limit(limit)
    reranker = service if rerank and service.reranker is not None else None
    report = retrieval.evaluate_retrieval(list(services or [service]), data, reranker=reranker, top_k=top_k,
                                          options=options, progress=progress)
    files = retrieval.write_results(report, out) if out is not None else []
    return RetrievalJob(report=report, data=data, files=files)


@dataclass
class RerankJob:
    results: list[rerank_eval.RerankEval]
    groups: rerank_eval.RerankGroups
    files: list[Path] = field(default_factory=list)


def rerank_job(service, source: str | Path | rerank_eval.RerankGroups, *, limit: int | None = None, out: Path | None = None,
               name: str = "", progress: Progress | None = None) -> RerankJob:
    """Evaluate reranking on query–doc–label rows, T2Reranking or FlagEmbedding JSON lines: the
    embedding model alone and with ``--reranker``, side by side."""
    groups = source if isinstance(source, rerank_eval.RerankGroups) else rerank_eval.read_groups(source, name=name)
    groups = groups.limit(limit)
    results = rerank_eval.compare(service, groups, progress)
    files = rerank_eval.write_results(results, out) if out is not None else []
    return RerankJob(results=results, groups=groups, files=files)
