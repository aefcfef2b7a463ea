"""evaluation/jobs.py: the one evaluation job (read, limit, run, write) the Evaluate tab and the CLI share."""

from __future__ import annotations

import json

import pytest

from gte_ui.core.resources import SAMPLES
from gte_ui.evaluation import jobs, retrieval
from gte_ui.evaluation import rerank as rerank_eval

LINES = [{"query": "北京有哪些大学", "pos": ["北京大学和清华大学都在北京"], "neg": ["上海的大学很多"]},
         {"query": "手机电池续航怎么样", "pos": ["这款手机电池续航很强"], "neg": ["今天天气很好"]},
         {"query": "明天会下雨吗", "pos": ["明天有雨"], "neg": ["我想借钱", "快递明天到"]}]
GROUPS = SAMPLES / "rerank_stsb_zh_groups.tsv"


@pytest.fixture()
def flag_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in LINES), encoding="utf-8")
    return path


def test_retrieval_job_limits_queries_keeps_the_corpus_and_writes_files(tiny_service, flag_file, tmp_path):
    job = jobs.retrieval_job(tiny_service, flag_file, limit=2, top_k=4, out=tmp_path / "out")
    assert job.data.query_texts == [x["query"] for x in LINES[:2]]
    assert job.report.queries == 2 and job.report.documents == 7  # the corpus stays whole: all 7 documents
    assert [p.name for p in job.files] == ["retrieval_metrics.json", "retrieval_per_query.csv"]
    assert all(p.parent == tmp_path / "out" and p.is_file() for p in job.files)
    assert [s.stage for s in job.report.stages] == ["embedding"]  # no --reranker: one stage


def test_retrieval_job_takes_data_already_read_and_equals_the_path_run(tiny_service, flag_file):
    data = retrieval.read_retrieval(flag_file)
    from_data = jobs.retrieval_job(tiny_service, data, top_k=4)
    from_path = jobs.retrieval_job(tiny_service, flag_file, top_k=4)
    assert from_data.data is data and from_data.files == []
    assert from_data.report.stages[0].metrics == from_path.report.stages[0].metrics


def test_retrieval_job_reranks_only_when_asked_and_a_reranker_is_loaded(tiny_reranking_service, flag_file):
    staged = jobs.retrieval_job(tiny_reranking_service, flag_file, top_k=4)
    assert [s.stage for s in staged.report.stages] == ["embedding", "rerank"]
    plain = jobs.retrieval_job(tiny_reranking_service, flag_file, top_k=4, rerank=False)
    assert len(plain.report.stages) == 1
    assert plain.report.stages[0].metrics == staged.report.stages[0].metrics


def test_rerank_job_limits_groups_and_writes_files(tiny_service, tmp_path):
    whole = rerank_eval.read_groups(GROUPS)
    job = jobs.rerank_job(tiny_service, GROUPS, limit=3, out=tmp_path / "rr")
    assert job.groups.queries == whole.queries[:3] and job.results[0].queries == 3
    assert [r.method for r in job.results] == ["embedding"]
    assert job.files and all(p.is_file() and p.parent == tmp_path / "rr" for p in job.files)
    again = jobs.rerank_job(tiny_service, whole.limit(3))
    assert again.files == [] and again.results[0].mrr_at_10 == job.results[0].mrr_at_10


def test_rerank_job_sets_the_reranker_beside_the_embedding(tiny_reranking_service):
    job = jobs.rerank_job(tiny_reranking_service, GROUPS, limit=2)
    assert [r.method for r in job.results] == ["embedding", "cross-encoder"]
