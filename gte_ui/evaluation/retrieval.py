"""Retrieval evaluation the way C-MTEB / BEIR score T2Retrieval, DuRetrieval, MMarcoRetrieval …

Input, either layout:

* **BEIR / C-MTEB**: a folder (or a .zip of one) with ``corpus.jsonl`` (``{_id, title, text}``),
  ``queries.jsonl`` (``{_id, text}``) and ``qrels/{split}.tsv`` (``query-id corpus-id score``, a
  header line). A document is ``title + " " + text`` when it has a title, as MTEB reads it.
* **FlagEmbedding** JSON lines ``{"query", "pos": [...], "neg": [...]}`` (BGE / GTE fine-tuning
  data; T2Reranking's ``positive`` / ``negative`` too): the corpus is every pos and neg,
  deduplicated; each query's positives are its relevant documents (relevance 1).

Method: the queries and the corpus are embedded with the model, the top ``k`` (100) documents of
each query are found by exact search (float32 inner product of unit vectors, so cosine; chunked
over queries), and the run is scored by ``pytrec_eval`` (trec_eval's own code): nDCG@10, MRR@10,
Recall@1/10/100, MAP@100, and recall at every cut of :data:`RECALL_CURVE_KS`. With a reranker,
the same top ``k`` are rescored by the cross-encoder: a second stage beside the first.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gte_ui.core import csvsafe
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.scoring import normalize_rows
from gte_ui.core.tables import (
    decode_text,
    delimited_rows,
    json_field,
    json_lines,
    string_io,
)
from gte_ui.engine.vector_index import exact_top_k
from gte_ui.service.options import DEFAULT_OPTIONS, TextOptions

#: the headline metrics, as C-MTEB reports them (key -> label)
METRICS = {"ndcg_at_10": "nDCG@10", "mrr_at_10": "MRR@10", "recall_at_1": "Recall@1",
           "recall_at_10": "Recall@10", "recall_at_100": "Recall@100", "map_at_100": "MAP@100"}
#: cuts of the recall@k curve
RECALL_CURVE_KS = (1, 2, 3, 5, 10, 20, 30, 50, 100)
#: documents retrieved per query (and reranked by the second stage)
DEFAULT_TOP_K = 100
#: queries scored per matrix product: 256 × 100k float32 scores is 100 MB
QUERY_CHUNK = 256
#: corpus texts whose tokens the unknown-token share reads at most (an even sample beyond)
UNKNOWN_SAMPLE = 5_000
#: FlagEmbedding's keys, and T2Reranking's
POSITIVE_KEYS = ("pos", "positive")
NEGATIVE_KEYS = ("neg", "negative")


def _bad(en: str, zh: str) -> GteError:
    return GteError(ErrorType.VALIDATION, en, zh)


@dataclass
class RetrievalData:
    """A corpus, queries and their judgements (``qrels[query_id][doc_id] = relevance``)."""

    corpus_ids: list[str]
    corpus_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]
    name: str = ""
    layout: str = "beir"  # "beir" | "flagembedding"
    notes: list[str] = field(default_factory=list)

    @property
    def judgements(self) -> int:
        return sum(len(v) for v in self.qrels.values())

    def limit(self, n: int | None) -> RetrievalData:
        """The first ``n`` queries (the corpus stays whole: fewer documents would be an easier task)."""
        if not n or n >= len(self.query_ids):
            return self
        keep = self.query_ids[:n]
        return replace(self, query_ids=keep, query_texts=self.query_texts[:n],
                       qrels={q: self.qrels[q] for q in keep})


# --------------------------------------------------------------------------- reading
def read_flag_records(text: str, name: str) -> list[tuple[str, list[str], list[str]]]:
    """``(query, positives, negatives)`` of each JSON line of FlagEmbedding (``pos`` / ``neg``) or
    T2Reranking (``positive`` / ``negative``) data.

    Raises:
        GteError: a line that is not JSON, no ``query`` string, lists that are not of strings,
            a line with neither kind of key (naming the keys it has).
    """
    records = []
    for n, rec in json_lines(text.splitlines(), name):
        if not isinstance(rec, dict) or not isinstance(rec.get("query"), str):
            raise _bad(f'{name} line {n}: expected {{"query", "pos", "neg"}} (FlagEmbedding) or '
                       '{"query", "positive", "negative"} (T2Reranking)', f"{name} 第 {n} 行格式错误：需要 query、pos、neg")
        if not any(k in rec for k in POSITIVE_KEYS + NEGATIVE_KEYS):
            raise _bad(f"{name} line {n} has no documents: expected the keys pos/neg (FlagEmbedding) or "
                       f"positive/negative (T2Reranking); it has {', '.join(rec)}",
                       f"{name} 第 {n} 行没有文档：需要 pos/neg 或 positive/negative 键")
        lists = []
        for keys in (POSITIVE_KEYS, NEGATIVE_KEYS):
            items: list[str] = []
            for key in keys:
                value = rec.get(key) or []
                if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                    raise _bad(f"{name} line {n}: {key!r} must be a list of strings",
                               f"{name} 第 {n} 行 {key} 必须是字符串列表")
                items.extend(value)
            lists.append(items)
        records.append((rec["query"].strip(), lists[0], lists[1]))
    return records


def from_flag_records(records: Sequence[tuple[str, list[str], list[str]]], name: str) -> RetrievalData:
    """FlagEmbedding lines as a retrieval task: the corpus is every pos and neg (deduplicated, in
    order of first appearance); a query that appears on several lines keeps all its positives."""
    doc_ids: dict[str, str] = {}
    query_ids: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for query, pos, neg in records:
        for doc in (*pos, *neg):
            doc = doc.strip()
            if doc:
                doc_ids.setdefault(doc, f"d{len(doc_ids)}")
        if not query:
            continue
        qid = query_ids.setdefault(query, f"q{len(query_ids)}")
        rel = qrels.setdefault(qid, {})
        for doc in pos:
            if doc.strip():
                rel[doc_ids[doc.strip()]] = 1
    judged = [q for q in query_ids if qrels[query_ids[q]]]
    if not judged:
        raise _bad(f"{name}: no query has a positive document (pos) to find",
                   f"{name}：没有任何查询带有正例文档（pos）")
    notes = []
    if len(judged) < len(query_ids):
        notes.append(f"{len(query_ids) - len(judged)} queries without positives are left out / "
                     f"{len(query_ids) - len(judged)} 个查询没有正例，未计入")
    return RetrievalData(corpus_ids=list(doc_ids.values()), corpus_texts=list(doc_ids),
                         query_ids=[query_ids[q] for q in judged], query_texts=judged,
                         qrels={query_ids[q]: qrels[query_ids[q]] for q in judged}, name=name,
                         layout="flagembedding", notes=notes)


def _jsonl_records(text: str, name: str, fields: tuple[str, ...]) -> Iterable[dict]:
    """Each JSON line of a BEIR file, refused (naming the line and the field) without ``fields``."""
    for n, rec in json_lines(text.splitlines(), name):
        for key in fields:
            json_field(rec, key, name, n)
        yield rec


def from_beir(corpus: str, queries: str, qrels: str, name: str, split: str) -> RetrievalData:
    """Parse the three BEIR files' texts."""
    ids, texts, seen, blank = [], [], set(), 0
    for rec in _jsonl_records(corpus, "corpus.jsonl", ("_id", "text")):
        did = str(rec["_id"])
        if did in seen:
            continue
        seen.add(did)
        title, body = str(rec.get("title") or "").strip(), str(rec["text"] or "").strip()
        if not (title or body):  # nothing to embed: never retrievable, as if absent
            blank += 1
            continue
        ids.append(did)
        texts.append(f"{title} {body}".strip() if title else body)
    query_text = {str(r["_id"]): str(r["text"] or "").strip()
                  for r in _jsonl_records(queries, "queries.jsonl", ("_id", "text"))}
    judged: dict[str, dict[str, int]] = {}
    for i, (n, row) in enumerate(delimited_rows(string_io(qrels), f"qrels/{split}.tsv", "\t")):
        if len(row) < 3:
            raise _bad(f"qrels/{split}.tsv line {n} has {len(row)} fields; expected query-id, corpus-id, score",
                       f"qrels/{split}.tsv 第 {n} 行应有 query-id、corpus-id、score 三列")
        try:
            score = int(float(row[2]))
        except ValueError as exc:
            if i == 0:  # the header
                continue
            raise _bad(f"qrels/{split}.tsv line {n}: score {row[2]!r} is not a number",
                       f"qrels/{split}.tsv 第 {n} 行的分数不是数字") from exc
        judged.setdefault(row[0].strip(), {})[row[1].strip()] = score
    notes = []
    unknown_q = [q for q in judged if q not in query_text or not query_text[q]]
    if unknown_q:
        notes.append(f"{len(unknown_q)} judged queries are not in queries.jsonl (or empty) and are left out / "
                     f"{len(unknown_q)} 个查询不在 queries.jsonl 中，未计入")
    qids = [q for q in judged if q in query_text and query_text[q] and any(s > 0 for s in judged[q].values())]
    if not qids:
        raise _bad(f"{name}: no query in qrels/{split}.tsv has a relevant document in queries.jsonl's queries",
                   f"{name}：qrels/{split}.tsv 中没有可评估的查询")
    if blank:
        notes.append(f"{blank} documents have neither title nor text and are left out / {blank} 篇文档为空，未计入")
    present = set(ids)
    missing = sum(1 for q in qids for d, s in judged[q].items() if s > 0 and d not in present)
    if missing:
        notes.append(f"{missing} relevant judgements name documents missing from corpus.jsonl: they count as "
                     f"never retrieved / {missing} 条相关标注指向语料中不存在的文档，按未检索到计")
    if not ids:
        raise GteError(ErrorType.EMPTY, f"{name}: corpus.jsonl has no documents", f"{name}：corpus.jsonl 没有文档")
    return RetrievalData(corpus_ids=ids, corpus_texts=texts, query_ids=qids,
                         query_texts=[query_text[q] for q in qids], qrels={q: judged[q] for q in qids},
                         name=name, layout="beir", notes=notes)


def _zip_members(path: Path, max_bytes: int | None) -> dict[str, bytes]:
    """The .jsonl / .tsv members of a zip, by their path inside it (a folder above them allowed).
    ``max_bytes`` bounds the uncompressed total, so a zip bomb is refused before it is inflated."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and i.filename.endswith((".jsonl", ".tsv"))]
            total = sum(i.file_size for i in infos)
            if max_bytes is not None and total > max_bytes:
                raise GteError(ErrorType.TOO_LARGE, f"{path.name} holds {total:,} bytes unpacked; the limit is "
                               f"{max_bytes:,}", f"{path.name} 解压后 {total:,} 字节，超过上限 {max_bytes:,}")
            return {i.filename: zf.read(i) for i in infos}
    except zipfile.BadZipFile as exc:
        raise _bad(f"{path.name} is not a valid zip file", f"{path.name} 不是有效的 zip 文件") from exc


def _pick(members: dict[str, bytes], suffix: str) -> tuple[str, bytes] | None:
    """The member whose path ends with ``suffix`` at a folder boundary, the shallowest first."""
    hits = sorted((k for k in members if k == suffix or k.endswith("/" + suffix)), key=lambda k: k.count("/"))
    return (hits[0], members[hits[0]]) if hits else None


def read_retrieval(source: str | Path, split: str = "test", name: str = "",
                   max_bytes: int | None = None) -> RetrievalData:
    """Read a BEIR folder, a .zip of one, or a FlagEmbedding .jsonl / .json file.

    ``max_bytes`` bounds what is read (uploads); None reads anything (the CLI).

    Raises:
        GteError: a missing file (naming what the layout needs), malformed lines, too large.
    """
    path = Path(source)
    name = name or path.name
    if not path.exists():
        raise GteError(ErrorType.VALIDATION, f"{name} does not exist", f"{name} 不存在")
    if path.is_dir():
        files = {"corpus.jsonl": path / "corpus.jsonl", "queries.jsonl": path / "queries.jsonl",
                 f"qrels/{split}.tsv": path / "qrels" / f"{split}.tsv"}
        absent = [k for k, p in files.items() if not p.is_file()]
        if absent:
            splits = sorted(p.stem for p in (path / "qrels").glob("*.tsv")) if (path / "qrels").is_dir() else []
            raise _bad(f"{name} is not a BEIR folder: {', '.join(absent)} missing"
                       + (f" (qrels has the splits: {', '.join(splits)}; choose one with --split)" if splits else ""),
                       f"{name} 不是 BEIR 目录：缺少 {', '.join(absent)}")
        total = sum(p.stat().st_size for p in files.values())
        if max_bytes is not None and total > max_bytes:
            raise GteError(ErrorType.TOO_LARGE, f"{name} holds {total:,} bytes; the limit is {max_bytes:,}",
                           f"{name} 共 {total:,} 字节，超过上限 {max_bytes:,}")
        texts = {k: decode_text(p.read_bytes(), k) for k, p in files.items()}
        return from_beir(texts["corpus.jsonl"], texts["queries.jsonl"], texts[f"qrels/{split}.tsv"], name, split)
    if path.suffix.lower() == ".zip":
        members = _zip_members(path, max_bytes)
        found = {k: _pick(members, k) for k in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv")}
        absent = [k for k, v in found.items() if v is None]
        if absent:
            splits = sorted(k.rsplit("/", 1)[-1][:-4] for k in members if "qrels/" in k)
            raise _bad(f"{name} is not a zipped BEIR folder: {', '.join(absent)} missing"
                       + (f" (qrels has the splits: {', '.join(splits)})" if splits else ""),
                       f"{name} 不是 BEIR 目录的 zip：缺少 {', '.join(absent)}")
        texts = {k: decode_text(v[1], k) for k, v in found.items()}
        return from_beir(texts["corpus.jsonl"], texts["queries.jsonl"], texts[f"qrels/{split}.tsv"], name, split)
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise GteError(ErrorType.TOO_LARGE, f"{name} is over {max_bytes:,} bytes", f"{name} 超过 {max_bytes:,} 字节")
    text = decode_text(path.read_bytes(), name)
    if not text.lstrip().startswith("{"):
        raise _bad(f"{name} is neither a BEIR folder (corpus.jsonl, queries.jsonl, qrels/{split}.tsv), a .zip "
                   'of one, nor FlagEmbedding JSON lines {"query", "pos", "neg"}',
                   f"{name} 既不是 BEIR 目录（或其 zip），也不是 FlagEmbedding 的 JSON 行")
    return from_flag_records(read_flag_records(text, name), name)


# --------------------------------------------------------------------------- search + metrics
def exact_search(queries: np.ndarray, corpus: np.ndarray, k: int,
                 chunk: int = QUERY_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best documents of each query by inner product (cosine for unit vectors), best
    first, ties by lower row: ``(indices [n_queries, k], scores [n_queries, k])``, ``chunk`` queries
    at a time (the index's own exact search, :func:`~gte_ui.engine.vector_index.exact_top_k`)."""
    scores, rows = exact_top_k(corpus, queries, k, chunk)
    return rows, scores


def score_run(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]],
              curve: Sequence[int] = RECALL_CURVE_KS) -> dict[str, dict[str, float]]:
    """Per query, the headline metrics and ``recall_at_{k}`` for ``curve``, by pytrec_eval.

    MRR@10 is trec_eval's reciprocal rank of the run cut to its ten best documents (MTEB's
    definition); a query the run misses entirely scores 0 on everything.
    """
    # pytrec_eval (trec_eval in C): loaded only when evaluating
    import pytrec_eval

    cuts = sorted({1, 10, 100, *curve})
    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map_cut.100",
                                                  "recall." + ",".join(map(str, cuts))}).evaluate(run)
    top10 = {q: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:10]) for q, docs in run.items()}
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    out = {}
    for q in qrels:
        got, rr = full.get(q, {}), mrr.get(q, {})
        row = {"ndcg_at_10": got.get("ndcg_cut_10", 0.0), "mrr_at_10": rr.get("recip_rank", 0.0),
               "map_at_100": got.get("map_cut_100", 0.0)}
        row.update({f"recall_at_{k}": got.get(f"recall_{k}", 0.0) for k in cuts})
        out[q] = row
    return out


@dataclass
class StageResult:
    """One model's scores at one stage ("embedding", or "rerank" of its top k by a cross-encoder)."""

    model: str
    stage: str
    reranker: str | None
    metrics: dict[str, float]
    recall_curve: dict[int, float]
    seconds: float
    per_query: list[dict] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        return self.model if self.stage == "embedding" else f"{self.model} + {self.reranker}"

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "stage": self.stage, "reranker": self.reranker, **self.metrics,
                "recall_curve": {str(k): v for k, v in self.recall_curve.items()}, "seconds": self.seconds}


@dataclass
class RetrievalReport:
    name: str
    layout: str
    queries: int
    documents: int
    judgements: int
    top_k: int
    stages: list[StageResult]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "layout": self.layout, "queries": self.queries, "documents": self.documents,
                "judgements": self.judgements, "top_k": self.top_k, "warnings": self.warnings,
                "results": [s.to_dict() for s in self.stages]}


def score_stage(model: str, stage: str, reranker: str | None, data: RetrievalData,
                run: dict[str, dict[str, float]], seconds: float, top_k: int) -> StageResult:
    """A run's metrics (means over the queries), its recall curve and its per-query rows."""
    # the curve stops where the ranking does: past top_k (or the whole corpus) it is flat by construction
    ks = [k for k in RECALL_CURVE_KS if k <= min(top_k, len(data.corpus_ids))] or [1]
    per = score_run(data.qrels, run, ks)
    n = len(data.query_ids)
    means = {key: float(sum(per[q][key] for q in data.query_ids) / n) for key in per[data.query_ids[0]]}
    curve = {k: means[f"recall_at_{k}"] for k in ks}
    headline = {key: means.get(key, 0.0) for key in METRICS}
    per_query = []
    for qid, text in zip(data.query_ids, data.query_texts):
        ranked = sorted(run.get(qid, {}).items(), key=lambda kv: -kv[1])
        first = next((r for r, (d, _) in enumerate(ranked, start=1) if data.qrels[qid].get(d, 0) > 0), None)
        per_query.append({"query_id": qid, "query": text, "model": model, "stage": stage,
                          **{k: round(per[qid][k], 6) for k in METRICS}, "first_relevant_rank": first,
                          "top_doc": ranked[0][0] if ranked else None})
    return StageResult(model=model, stage=stage, reranker=reranker, metrics=headline, recall_curve=curve,
                       seconds=round(seconds, 3), per_query=per_query)


def sample_evenly(texts: Sequence[str], n: int) -> list[str]:
    """``n`` of ``texts`` at even spacing (all when there are no more than ``n``)."""
    if len(texts) <= n:
        return list(texts)
    return [texts[int(i)] for i in np.linspace(0, len(texts) - 1, n)]


def embed_texts(service, texts: Sequence[str], what: str, options: TextOptions,
                progress: Callable[[float], None] | None = None, chunk: int = 512) -> np.ndarray:
    """Unit vectors of ``texts`` through the service's corpus path (no cache, no request limit)."""
    parts = []
    for start in range(0, len(texts), chunk):
        part = texts[start:start + chunk]
        names = [f"{what}[{start + i}]" for i in range(len(part))]
        parts.append(np.asarray(service.embed_corpus(part, names, options=options).vectors, dtype=np.float32))
        if progress is not None:
            progress(min(start + chunk, len(texts)) / len(texts))
    vectors = np.concatenate(parts) if parts else np.zeros((0, service.dim), np.float32)
    return normalize_rows(vectors)


def search_run(data: RetrievalData, query_vectors: np.ndarray, corpus_vectors: np.ndarray,
               top_k: int) -> dict[str, dict[str, float]]:
    """The exact-search run ``{query_id: {doc_id: score}}`` of the top ``top_k`` documents."""
    idx, scores = exact_search(query_vectors, corpus_vectors, top_k)
    ids = data.corpus_ids
    return {qid: {ids[j]: float(s) for j, s in zip(idx[i], scores[i])} for i, qid in enumerate(data.query_ids)}


def evaluate_vectors(model: str, data: RetrievalData, query_vectors: np.ndarray, corpus_vectors: np.ndarray,
                     top_k: int = DEFAULT_TOP_K) -> tuple[StageResult, dict[str, dict[str, float]]]:
    """The embedding stage from vectors at hand (embedded here, or cached: an index's): exact
    search and the metrics. Returns the stage and its run (what a reranker rescores)."""
    t0 = time.perf_counter()
    run = search_run(data, query_vectors, corpus_vectors, top_k)
    return score_stage(model, "embedding", None, data, run, time.perf_counter() - t0, top_k), run


def rerank_run(reranker_service, data: RetrievalData, run: dict[str, dict[str, float]],
               progress: Callable[[float], None] | None = None) -> dict[str, dict[str, float]]:
    """The cross-encoder's scores of each query's retrieved documents (batches of at most
    ``--max-candidates``: each pair is scored on its own, so batching changes nothing)."""
    text_of = dict(zip(data.corpus_ids, data.corpus_texts))
    step = reranker_service.settings.max_candidates
    out = {}
    for i, (qid, query) in enumerate(zip(data.query_ids, data.query_texts)):
        doc_ids = list(run.get(qid, {}))
        scores: list[float] = []
        for start in range(0, len(doc_ids), step):
            docs = [text_of[d] for d in doc_ids[start:start + step]]
            scores.extend(reranker_service.rerank(query, docs, method="cross-encoder", raw_scores=True).scores)
        out[qid] = dict(zip(doc_ids, scores))
        if progress is not None:
            progress((i + 1) / len(data.query_ids))
    return out


def evaluate_retrieval(services: Sequence, data: RetrievalData, *, reranker=None, top_k: int = DEFAULT_TOP_K,
                       options: TextOptions | None = None,
                       progress: Callable[[float, str], None] | None = None) -> RetrievalReport:
    """Every service's embedding stage, and (``reranker``: a service with a cross-encoder loaded)
    each model's top ``top_k`` reranked, side by side. Warns when a model cannot read the data
    (its unknown-token share over the corpus — an even sample of :data:`UNKNOWN_SAMPLE` texts
    of a big one — by :meth:`EmbeddingService.unknown_share`, the one every evaluation uses)."""
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= 1000:
        raise _bad(f"top_k must be an integer from 1 to 1000, got {top_k!r}", "top_k 必须是 1 到 1000 的整数")
    options = options or DEFAULT_OPTIONS
    stages, warnings = [], list(data.notes)
    steps = len(services) * (2 if reranker is not None else 1)
    done = 0

    def report(frac: float, desc: str) -> None:
        if progress is not None:
            progress(min((done + frac) / steps, 1.0), desc)

    vocabulary_sample = sample_evenly(data.corpus_texts, UNKNOWN_SAMPLE)
    for service in services:
        warnings += service.unknown_share(vocabulary_sample)[1]
        t0 = time.perf_counter()
        q_vec = embed_texts(service, data.query_texts, "query", options,
                            lambda f, n=service.name: report(0.1 * f, f"{n}: 查询 queries"))
        d_vec = embed_texts(service, data.corpus_texts, "document", options.without_prompt(),
                            lambda f, n=service.name: report(0.1 + 0.85 * f, f"{n}: 语料 corpus"))
        stage, run = evaluate_vectors(service.name, data, q_vec, d_vec, top_k)
        stage.seconds = round(time.perf_counter() - t0, 3)  # embedding included
        stages.append(stage)
        done += 1
        if reranker is not None:
            t0 = time.perf_counter()
            reranked = rerank_run(reranker, data, run,
                                  lambda f, n=service.name: report(f, f"{n}: 重排 rerank top {top_k}"))
            stages.append(score_stage(service.name, "rerank", reranker.reranker.info.name, data, reranked,
                                 time.perf_counter() - t0, top_k))
            done += 1
    return RetrievalReport(name=data.name, layout=data.layout, queries=len(data.query_ids),
                           documents=len(data.corpus_ids), judgements=data.judgements, top_k=top_k,
                           stages=stages, warnings=warnings)


# --------------------------------------------------------------------------- output
def summary_markdown(report: RetrievalReport) -> str:
    lines = [(f"### {report.name} · {report.queries:,} queries, {report.documents:,} documents "
             f"({report.layout}), top {report.top_k}"),
             "| 模型 Model | 阶段 Stage | " + " | ".join(METRICS.values()) + " | 耗时 Time |",
             "|---|---|" + "---|" * len(METRICS) + "---|"]
    best = {k: max(s.metrics[k] for s in report.stages) for k in METRICS}
    for s in report.stages:
        stage = "嵌入 Embedding" if s.stage == "embedding" else f"+ 重排 Rerank (`{s.reranker}`)"
        cells = [(f"**{s.metrics[k] * 100:.2f}**" if s.metrics[k] == best[k] else f"{s.metrics[k] * 100:.2f}")
                 for k in METRICS]
        lines.append(f"| `{s.model}` | {stage} | " + " | ".join(cells) + f" | {s.seconds:.1f} s |")
    if not any(s.stage == "rerank" for s in report.stages):
        lines.append("\n⚠️ 未加载重排模型：只有嵌入检索的结果 / no --reranker loaded: embedding retrieval alone.")
    lines.append("\n(× 100, as C-MTEB reports them; exact search, scored by pytrec_eval.)")
    lines += [f"\n⚠️ {w}" for w in report.warnings]
    return "\n".join(lines)


def summary_text(report: RetrievalReport) -> str:
    """The compact table the CLI prints (its warnings go to stderr: stdout keeps this shape)."""
    head = f"{'model':<28}{'stage':<10}" + "".join(f"{v:>11}" for v in METRICS.values())
    rows = [f"{report.name}: {report.queries} queries, {report.documents} documents, top {report.top_k}", head]
    for s in report.stages:
        rows.append(f"{s.model[:27]:<28}{s.stage:<10}" + "".join(f"{s.metrics[k] * 100:>11.2f}" for k in METRICS))
    return "\n".join(rows)


PER_QUERY_FIELDS = ["query_id", "query", "model", "stage", *METRICS, "first_relevant_rank", "top_doc"]


def write_results(report: RetrievalReport, folder: Path) -> list[Path]:
    """``retrieval_metrics.json`` (every stage's metrics and recall curve) and
    ``retrieval_per_query.csv`` (one row per query, model and stage)."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = folder / "retrieval_metrics.json"
    metrics.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    per_query = folder / "retrieval_per_query.csv"
    with open(per_query, "w", encoding="utf-8-sig", newline="") as f:
        w = csvsafe.dict_writer(f, PER_QUERY_FIELDS)
        w.writeheader()
        for s in report.stages:
            w.writerows(s.per_query)
    return [metrics, per_query]
