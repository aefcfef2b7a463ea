"""Retrieval evaluation (issue 29, item 3): BEIR / C-MTEB folders and FlagEmbedding lines, exact
search, pytrec_eval metrics, embedding vs + reranker, several models, one job for UI and CLI.

The issue's "done when": on a BEIR folder built here from STS-B (sentence 1 the query, its
paraphrase the relevant document, every sentence 2 the corpus), nDCG@10 / MRR@10 / Recall@10 of
``gte-ui evaluate --task retrieval`` with MiniLM equal those computed from sentence-transformers
vectors with exact search and pytrec_eval, to 1e-4.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.evaluation import jobs, retrieval
from gte_ui.evaluation import rerank as rerank_eval
from gte_ui.frontends import cli

STSB = Path(__file__).resolve().parents[2] / "data" / "stsb_en" / "sts-test.tsv"
ROWS = 300  # the first STS-B rows: 56 queries over 281 documents, quick on 2 cores


def stsb_rows(n: int = ROWS) -> list[tuple[float, str, str]]:
    with open(STSB, encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:n + 1]
    return [(float(r[5]), r[6].strip(), r[7].strip()) for r in rows]


def build_beir(folder: Path, n: int = ROWS) -> tuple[dict, dict, dict]:
    """corpus = every distinct sentence 2; queries = sentence 1 of the pairs scored ≥ 4, each with
    its own sentence 2 as the one relevant document. Returns (corpus, queries, qrels)."""
    corpus, queries, qrels = {}, {}, {}
    doc_id = {}
    for score, s1, s2 in stsb_rows(n):
        if s2 not in doc_id:
            doc_id[s2] = f"doc{len(doc_id)}"
            corpus[doc_id[s2]] = s2
    for score, s1, s2 in stsb_rows(n):
        if score >= 4.0 and s1 not in queries.values():
            qid = f"q{len(queries)}"
            queries[qid] = s1
            qrels[qid] = {doc_id[s2]: 1}
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        # BEIR's shape, title field included (empty: STS-B sentences have none)
        f.writelines(json.dumps({"_id": did, "title": "", "text": text}) + "\n" for did, text in corpus.items())
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, rel in qrels.items():
            f.writelines(f"{qid}\t{did}\t{s}\n" for did, s in rel.items())
    return corpus, queries, qrels


def reference_metrics(model_dir: Path, corpus: dict, queries: dict, qrels: dict) -> dict[str, float]:
    """sentence-transformers vectors, a full sort (no argpartition) and pytrec_eval directly."""
    import pytrec_eval
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu")
    d_ids, q_ids = list(corpus), list(queries)
    d = st.encode([corpus[i] for i in d_ids], normalize_embeddings=True, convert_to_numpy=True)
    q = st.encode([queries[i] for i in q_ids], normalize_embeddings=True, convert_to_numpy=True)
    scores = q.astype(np.float64) @ d.astype(np.float64).T
    run = {}
    for i, qid in enumerate(q_ids):
        order = np.argsort(-scores[i])[:100]
        run[qid] = {d_ids[j]: float(scores[i, j]) for j in order}
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10"}).evaluate(run)
    top10 = {qid: dict(sorted(r.items(), key=lambda kv: -kv[1])[:10]) for qid, r in run.items()}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    return {"ndcg_at_10": float(np.mean([ev[q]["ndcg_cut_10"] for q in q_ids])),
            "recall_at_10": float(np.mean([ev[q]["recall_10"] for q in q_ids])),
            "mrr_at_10": float(np.mean([rr[q]["recip_rank"] for q in q_ids]))}


@pytest.mark.slow
def test_cli_retrieval_equals_sentence_transformers_and_pytrec_eval(minilm_dir, tmp_path, capsys):
    corpus, queries, qrels = build_beir(tmp_path / "stsb-beir")
    assert len(queries) >= 50 and len(corpus) >= 250  # a real task, not a toy
    ref = reference_metrics(minilm_dir, corpus, queries, qrels)
    code = cli.main(["evaluate", str(tmp_path / "stsb-beir"), "--task", "retrieval", "--json",
                     "--out", str(tmp_path / "out"), "--model", str(minilm_dir), "--device", "cpu",
                     "--precision", "fp32"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["queries"] == len(queries) and report["documents"] == len(corpus)
    (stage,) = report["results"]
    assert stage["stage"] == "embedding"
    for key in ("ndcg_at_10", "mrr_at_10", "recall_at_10"):
        assert abs(stage[key] - ref[key]) < 1e-4, (key, stage[key], ref[key])
    assert 0.5 < stage["ndcg_at_10"] < 1.0  # MiniLM finds most paraphrases, not all
    assert stage["recall_at_1"] <= stage["recall_at_10"] <= stage["recall_at_100"]
    # the recall curve rises to recall@100
    curve = [stage["recall_curve"][k] for k in sorted(stage["recall_curve"], key=int)]
    assert curve == sorted(curve) and curve[-1] == pytest.approx(stage["recall_at_100"])
    # the per-query table: one row per query, the metrics' mean is the headline
    with open(tmp_path / "out" / "retrieval_per_query.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(queries)
    assert np.mean([float(r["ndcg_at_10"]) for r in rows]) == pytest.approx(stage["ndcg_at_10"], abs=1e-5)


def test_exact_search_matches_a_full_sort():
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((1000, 32)).astype(np.float32)
    qs = rng.standard_normal((300, 32)).astype(np.float32)
    idx, scores = retrieval.exact_search(qs, docs, 10, chunk=64)  # chunks that do not divide 300
    full = qs @ docs.T
    np.testing.assert_array_equal(idx, np.argsort(-full, axis=1)[:, :10])
    np.testing.assert_allclose(scores, np.sort(full, axis=1)[:, ::-1][:, :10], rtol=1e-6)
    idx, _ = retrieval.exact_search(qs[:2], docs[:5], 100)  # k above the corpus: all, sorted
    assert idx.shape == (2, 5) and sorted(idx[0]) == list(range(5))


FLAG_LINES = [
    {"query": "怎么办理护照", "pos": ["办理护照需要带身份证去出入境管理局"], "neg": ["今天天气很好", "护照丢了怎么办"]},
    {"query": "苹果手机怎么截图", "pos": ["同时按下电源键和音量加键即可截图"], "neg": ["苹果是一种水果", "今天天气很好"]},
    {"query": "北京有哪些大学", "pos": ["北京大学和清华大学都在北京", "北京师范大学"], "neg": ["上海的大学很多"]},
]


def write_flag(path: Path, lines=FLAG_LINES) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines) + "\n", encoding="utf-8")
    return path


def test_flagembedding_lines_become_a_corpus(tmp_path):
    data = retrieval.read_retrieval(write_flag(tmp_path / "train.jsonl"))
    assert data.layout == "flagembedding"
    # every pos and neg once: "今天天气很好" appears twice in the file
    assert len(data.corpus_texts) == 8 == len(set(data.corpus_texts))
    assert data.query_texts == [r["query"] for r in FLAG_LINES]
    rel = {data.corpus_texts[data.corpus_ids.index(d)] for d in data.qrels[data.query_ids[2]]}
    assert rel == {"北京大学和清华大学都在北京", "北京师范大学"}


def test_flagembedding_through_retrieval_and_rerank(tiny_service, tmp_path):
    path = write_flag(tmp_path / "train.jsonl")
    job = jobs.retrieval_job(tiny_service, path, top_k=5, out=tmp_path / "out")
    (stage,) = job.report.stages
    assert stage.stage == "embedding" and job.report.documents == 8 and job.report.queries == 3
    # recall@k can only grow with k, and top 5 of 8 documents misses what top 8 would not
    assert all(0.0 <= v <= 1.0 for v in stage.metrics.values())
    assert list(stage.recall_curve) == [1, 2, 3, 5]  # top 5: the curve stops there
    assert [p.name for p in job.files] == ["retrieval_metrics.json", "retrieval_per_query.csv"]
    # --task rerank reads the same lines (today's main refused them: "no query has 2 or more documents")
    groups = rerank_eval.read_groups(path)
    assert groups.queries == [r["query"] for r in FLAG_LINES]
    assert groups.labels[2] == [1.0, 1.0, 0.0] and groups.docs[2][-1] == "上海的大学很多"
    rr = jobs.rerank_job(tiny_service, path)
    assert rr.results[0].queries == 3 and 0 < rr.results[0].mrr_at_10 <= 1


def test_cli_rerank_reads_flagembedding(tiny_model_dir, tmp_path, capsys):
    path = write_flag(tmp_path / "train.jsonl")
    code = cli.main(["evaluate", str(path), "--task", "rerank", "--model", str(tiny_model_dir), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    (result,) = json.loads(capsys.readouterr().out)
    assert result["method"] == "embedding" and result["queries"] == 3


def test_reranker_stage_reorders_the_top_k(tiny_encoder, tiny_settings, tmp_path):
    """A second stage scored by the cross-encoder: its per-query order is the reranker's own."""
    from gte_ui.engine.reranker import Reranker
    from gte_ui.service.service import EmbeddingService
    from gte_ui.testing.toymodel import build_random_cross_encoder

    ce = build_random_cross_encoder(tmp_path / "ce", "tiny-bert", seed=1)
    settings = tiny_settings.replace(reranker=str(ce), max_candidates=3)  # 8 documents: batches of 3, 3, 2
    reranker = Reranker.load(settings)
    service = EmbeddingService(tiny_encoder, settings, reranker=reranker)
    data = retrieval.read_retrieval(write_flag(tmp_path / "train.jsonl"))
    job = jobs.retrieval_job(service, data, top_k=8)
    emb, rer = job.report.stages
    assert (emb.stage, rer.stage) == ("embedding", "rerank") and rer.reranker == reranker.info.name
    # the reranked first document of each query is the cross-encoder's best of the 8
    for row, qtext in zip(rer.per_query, data.query_texts):
        logits = reranker.score([(qtext, d) for d in data.corpus_texts]).vectors[:, 0]
        assert row["top_doc"] == data.corpus_ids[int(np.argmax(logits))]
    # rerank off: the embedding stage alone
    assert len(jobs.retrieval_job(service, data, top_k=8, rerank=False).report.stages) == 1


def test_several_models_side_by_side(tiny_service, tiny_model_dir, tmp_path):
    from gte_ui.engine.encoder import Encoder
    from gte_ui.service.service import EmbeddingService
    from gte_ui.testing.toymodel import build_random_bert

    other_dir = build_random_bert(tmp_path / "other", "tiny", seed=7)
    settings = tiny_service.settings.replace(model=str(other_dir))
    other = EmbeddingService(Encoder.load(settings), settings, name="other")
    tiny_service.add_model(other)
    data = retrieval.read_retrieval(write_flag(tmp_path / "train.jsonl"))
    report = jobs.retrieval_job(tiny_service, data, services=tiny_service.models(), top_k=8).report
    assert [s.model for s in report.stages] == [tiny_service.name, "other"]
    # each row is exactly that model's own evaluation
    alone = jobs.retrieval_job(other, data, top_k=8).report.stages[0]
    assert report.stages[1].metrics == alone.metrics


def test_zip_and_limit_and_splits(tiny_service, tmp_path):
    build_beir(tmp_path / "b", n=60)
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in (tmp_path / "b").rglob("*"):
            if p.is_file():
                zf.write(p, "stsb/" + p.relative_to(tmp_path / "b").as_posix())  # a folder inside
    data = retrieval.read_retrieval(archive)
    assert data.layout == "beir" and len(data.corpus_ids) == len({r[2] for r in stsb_rows(60)})
    assert len(data.limit(3).query_ids) == 3 and data.limit(3).corpus_ids == data.corpus_ids
    with pytest.raises(GteError, match="qrels/dev.tsv missing.*test"):
        retrieval.read_retrieval(archive, split="dev")
    with pytest.raises(GteError, match="unpacked; the limit"):
        retrieval.read_retrieval(archive, max_bytes=100)


@pytest.mark.parametrize("content, fragment", [
    ('{"query": "q", "positive_passages": ["a"]}\n', "no documents: expected the keys pos/neg"),
    ('{"query": "q", "pos": "a", "neg": []}\n', "'pos' must be a list of strings"),
    ('{"query": "q", "pos": [], "neg": ["a", "b"]}\n', "no query has a positive"),
    ("{nope\n", "line 1 is not JSON"),
    ("just text\n", "neither a BEIR folder"),
])
def test_bad_files_are_refused_with_a_reason(tmp_path, content, fragment):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GteError, match=fragment):
        retrieval.read_retrieval(path)


def test_blank_documents_and_dangling_judgements_are_noted(tmp_path):
    folder = tmp_path / "b"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": "1", "title": "", "text": "   "}\n{"_id": 2, "title": "标题", '
                                         '"text": "正文"}\n', encoding="utf-8")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "问"}\n', encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\nq1\t2\t1\nq9\t2\t1\n",
                                               encoding="utf-8")
    data = retrieval.read_retrieval(folder)
    assert data.corpus_ids == ["2"] and data.corpus_texts == ["标题 正文"]  # MTEB's title + " " + text
    assert data.query_ids == ["q1"]
    notes = " ".join(data.notes)
    assert "1 judged queries are not in queries.jsonl" in notes and "1 documents have neither title nor text" in notes
    assert "1 relevant judgements name documents missing" in notes


def test_bad_beir_folder_exits_2_before_loading(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "corpus.jsonl").write_text('{"_id": "1", "text": "a"}\n', encoding="utf-8")
    code = cli.main(["evaluate", str(tmp_path / "x"), "--task", "retrieval", "--model", "/nonexistent"])
    assert code == 2
    assert "not a BEIR folder: queries.jsonl, qrels/test.tsv missing" in capsys.readouterr().err


def test_unknown_token_share_warns_once(tiny_service, tmp_path):
    """Documents the tiny model's vocabulary cannot read (齉, emoji): one warning for the data set,
    naming the characters; a corpus it reads raises none."""
    unreadable = [{"query": "你好", "pos": ["齉齉齉好"], "neg": ["🙂🙂齉", "齉好"]},
                  {"query": "天气", "pos": ["天气齉齉"], "neg": ["齉🙂"]}]
    path = write_flag(tmp_path / "unreadable.jsonl", unreadable)
    report = jobs.retrieval_job(tiny_service, path, top_k=5).report
    share, warnings = tiny_service.unknown_share(retrieval.read_retrieval(path).corpus_texts)
    assert share > tiny_service.settings.unknown_warn and len(warnings) == 1 and "齉" in warnings[0]
    assert report.warnings == warnings and "unknown to" in warnings[0]
    assert warnings[0] in retrieval.summary_markdown(report)
    known = [{"query": "你好", "pos": ["你好"], "neg": ["天气很好"]}, {"query": "天气", "pos": ["天气很好"], "neg": ["好"]}]
    readable = jobs.retrieval_job(tiny_service, write_flag(tmp_path / "ok.jsonl", known), top_k=5).report
    assert readable.warnings == []


def test_big_corpus_vocabulary_is_sampled_evenly():
    texts = [str(i) for i in range(20_000)]
    picked = retrieval.sample_evenly(texts, retrieval.UNKNOWN_SAMPLE)
    assert len(picked) == 5_000 and picked[0] == "0" and picked[-1] == "19999"
    assert retrieval.sample_evenly(texts[:10], 5_000) == texts[:10]


def test_evaluate_tab_runs_the_same_job(tiny_service, tmp_path, monkeypatch):
    """The tab's retrieval path is the CLI's job: the same numbers, the per-query CSV to download;
    a .zip picks retrieval on "auto"; a wrong split is shown, not raised."""
    from gte_ui.frontends.ui.tabs import evaluate

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # files here count as this page's uploads
    build_beir(tmp_path / "b", n=40)
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in (tmp_path / "b").rglob("*.*"):
            zf.write(p, p.relative_to(tmp_path / "b").as_posix())
    summary, fig, files, state = evaluate.on_evaluate(tiny_service, str(archive), None, "", 5, "", "auto", "test",
                                                      progress=None)
    expected = jobs.retrieval_job(tiny_service, archive, limit=5).report.stages[0]
    assert "5 queries" in summary and f"{expected.metrics['ndcg_at_10'] * 100:.2f}" in summary
    assert sorted(Path(f).name for f in files) == ["retrieval_metrics.json", "retrieval_per_query.csv"]
    assert state is None and len(fig.data) == 2  # one model: its bars and its recall curve
    with pytest.warns(UserWarning):
        out = evaluate.on_evaluate(tiny_service, str(archive), None, "", 0, "", "retrieval", "dev", progress=None)
    assert out[0].startswith("⚠️") and "qrels/dev.tsv missing" in out[0]


def test_cli_table_and_warnings_on_stderr(tiny_model_dir, tmp_path, capsys):
    unreadable = [{"query": "你好", "pos": ["齉齉齉好"], "neg": ["🙂🙂齉", "齉好"]},
                  {"query": "天气", "pos": ["天气齉齉"], "neg": ["齉🙂"]}]
    path = write_flag(tmp_path / "u.jsonl", unreadable)
    assert cli.main(["evaluate", str(path), "--task", "retrieval", "--top-k", "5", "--model", str(tiny_model_dir),
                     "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert "nDCG@10" in out and "embedding" in out and "warning" not in out
    assert "warning:" in err and "齉" in err
    assert cli.main(["evaluate", str(path), "--task", "retrieval", "--top-k", "0"]) == 2


@pytest.mark.parametrize("corpus, qrels, fragment", [
    ('{"_id": "1", "body": "a"}\n', "q1\t1\t1\n", r"corpus.jsonl line 1 has no field 'text' \(it has: _id, body\)"),
    ('{"_id": "1", "text": "a"}\n', "query-id\tcorpus-id\tscore\n\nq1\t1\n", r"qrels/test.tsv line 3 has 2 fields"),
    ('{"_id": "1", "text": "a"}\n', "query-id\tcorpus-id\tscore\nq1\t1\tyes\n", r"qrels/test.tsv line 2: score 'yes'"),
])
def test_beir_lines_are_named_by_the_one_reader(tmp_path, corpus, qrels, fragment):
    """BEIR files read through core/tables.py: a line is named by its number in the file (blank lines counted)."""
    folder = tmp_path / "b"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(corpus, encoding="utf-8")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "问"}\n', encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(qrels, encoding="utf-8")
    with pytest.raises(GteError, match=fragment) as err:
        retrieval.read_retrieval(folder)
    assert " / " in err.value.message
