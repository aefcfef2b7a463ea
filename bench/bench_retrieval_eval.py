"""Retrieval evaluation given cached vectors (issue 29's goal: 1,000 queries over 100k documents
in ≤ 60 s): exact search (float32 matmul + argpartition, chunked over queries) and the metrics
(pytrec_eval) — the part of ``evaluate --task retrieval`` that runs after the vectors exist.

    python bench/bench_retrieval_eval.py                       # 1,000 × 100k × 1024-d
    python bench/bench_retrieval_eval.py --docs 20000 --dim 384   # quicker

Vectors are synthetic unit vectors (random normal, normalised); each query is a noisy copy of
one to three "relevant" documents, so the metrics are neither 0 nor 1 and the ranking work is a
real one. Timed, once, after a warm-up on 10 queries: ``search_run`` (exact search and the run dict)
and ``score_stage`` (pytrec_eval, the means, the recall curve, the per-query rows) — together
what :func:`gte_ui.evaluation.retrieval.evaluate_vectors` does. Peak RSS is reported too.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gte_ui.evaluation.retrieval import RetrievalData, exact_search, score_stage, search_run  # noqa: E402


def synthetic(n_queries: int, n_docs: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    docs = rng.standard_normal((n_docs, dim), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    relevant = [rng.choice(n_docs, size=rng.integers(1, 4), replace=False) for _ in range(n_queries)]
    queries = np.stack([docs[r].mean(axis=0) for r in relevant])
    queries += rng.standard_normal(queries.shape, dtype=np.float32) * np.float32(4.0 / np.sqrt(dim))  # noise norm 4
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    data = RetrievalData(corpus_ids=[f"d{i}" for i in range(n_docs)], corpus_texts=[""] * n_docs,
                         query_ids=[f"q{i}" for i in range(n_queries)], query_texts=[""] * n_queries,
                         qrels={f"q{i}": {f"d{j}": 1 for j in r} for i, r in enumerate(relevant)}, name="synthetic")
    return data, queries.astype(np.float32), docs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--top-k", type=int, default=100)
    args = ap.parse_args()
    data, q, d = synthetic(args.queries, args.docs, args.dim)
    exact_search(q[:10], d, args.top_k)  # warm-up: BLAS threads, page-in
    t0 = time.perf_counter()
    run = search_run(data, q, d, args.top_k)  # exact search + the run dict pytrec_eval reads
    search_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    stage = score_stage("synthetic", "embedding", None, data, run, search_s, args.top_k)
    metrics_s = time.perf_counter() - t0
    total_s = search_s + metrics_s
    out = {"queries": args.queries, "docs": args.docs, "dim": args.dim, "top_k": args.top_k,
           "search_s": round(search_s, 2), "metrics_s": round(metrics_s, 2),
           "search_plus_metrics_s": round(total_s, 2), "goal_s": 60, "within_goal": total_s <= 60,
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "ndcg_at_10": round(stage.metrics["ndcg_at_10"], 4), "recall_at_100": round(stage.metrics["recall_at_100"], 4)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
