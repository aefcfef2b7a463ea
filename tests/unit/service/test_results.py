"""service/results.py: each operation's typed result and its one canonical serialisation; a
reranked pair over the limit refused on request (TEI's truncate: false); the health result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.core.scoring import VERDICTS, VerdictBands
from gte_ui.service.results import (
    EmbedResult,
    HealthResult,
    LoadedModel,
    MatrixResult,
    PairResult,
    RerankResult,
    RerankRow,
)

HIGH, MID = VERDICTS[2], VERDICTS[1]


def embed_result(token_counts, chunks, max_length):
    n = len(token_counts)
    return EmbedResult(vectors=np.eye(n, 4, dtype=np.float32), texts=["t"] * n, token_counts=token_counts,
                       truncated=[c > (max_length or 10**9) for c in token_counts], chunks=chunks, cached=n,
                       elapsed_ms=1.5, max_length=max_length, model="tiny")


def test_total_tokens_counts_what_the_model_read():
    # 600 tokens cut at 512 reads 512; 900 tokens in 2 chunks reads all 900; 20 reads 20
    assert embed_result([600, 900, 20], [1, 2, 1], 512).total_tokens == 512 + 900 + 20
    assert embed_result([600, 20], [1, 1], None).total_tokens == 620


def test_embed_dict_is_json_and_never_says_what_came_from_the_cache():
    r = embed_result([600, 20], [1, 1], 512)
    d = r.to_dict()
    assert "cached" not in d and "texts" not in d  # which texts anyone sent recently stays private
    assert d["dim"] == 4 and d["total_tokens"] == 532 and d["truncated"] == [True, False]
    assert json.loads(json.dumps(d))["vectors"][0] == [1.0, 0.0, 0.0, 0.0]


def test_pair_dict_carries_bands_and_the_default_verdict_only_when_bands_differ():
    pair = PairResult(score=0.8, percent=80.0, verdict=MID, tokens_a=3, tokens_b=4, truncated_a=False,
                      truncated_b=True, elapsed_ms=2.0, bands=VerdictBands(0.9, 0.5, "calibrated"))
    d = pair.to_dict()
    assert (d["verdict"], d["verdict_en"], d["tokens"], d["truncated"]) == ("中等相似", "Moderately similar",
                                                                           [3, 4], [False, True])
    assert d["bands"] == {"high": 0.9, "mid": 0.5, "source": "calibrated"} and "default_verdict" not in d
    pair.default_verdict = HIGH
    assert (pair.to_dict()["default_verdict"], pair.to_dict()["default_verdict_en"]) == ("高度相似", "Highly similar")


def test_matrix_scores_become_plain_lists():
    m = MatrixResult(texts=["a", "b"], scores=np.array([[1, 0.5], [0.5, 1]], dtype=np.float32),
                     token_counts=[3, 3], truncated=[False, False], elapsed_ms=1.0)
    assert json.loads(json.dumps(m.to_dict()))["scores"] == [[1.0, 0.5], [0.5, 1.0]]


def test_rerank_dict_leaves_documents_out_on_request_and_hides_the_cache():
    rows = [RerankRow(rank=1, index=2, text="doc c", score=0.9, tokens=7, truncated=False),
            RerankRow(rank=2, index=0, text="doc a", score=0.2, tokens=5, truncated=True)]
    r = RerankResult(query="q", method="cross-encoder", model="rr", raw_scores=False, scores=[0.2, 0.1, 0.9],
                     rows=rows, total=3, tokens=12, cached=3, elapsed_ms=4.0)
    full, bare = r.to_dict(), r.to_dict(return_documents=False)
    assert [x["text"] for x in full["results"]] == ["doc c", "doc a"]
    assert all("text" not in x for x in bare["results"]) and [x["index"] for x in bare["results"]] == [2, 0]
    assert full["total_tokens"] == 12 and "cached" not in full and "tokens" not in full


def test_the_service_answers_serialise_the_same_way(tiny_service):
    pair = tiny_service.pair("这款手机电池续航很强", "手机电量很耐用").to_dict()
    rank = tiny_service.rank("这款手机电池续航很强", ["手机电量很耐用", "充电速度特别快"]).to_dict()
    assert json.loads(json.dumps(pair)) == pair and json.loads(json.dumps(rank)) == rank
    assert rank["ranking"][0]["rank"] == 1 and max(rank["scores"]) == rank["ranking"][0]["score"]


def test_refuse_truncated_names_the_first_document_over_the_limit(tiny_service):
    long_doc = "电池续航" * tiny_service.max_length
    r = tiny_service.rerank("电池", ["短", long_doc, long_doc])
    assert [row.truncated for row in sorted(r.rows, key=lambda x: x.index)] == [False, True, True]
    with pytest.raises(GteError) as err:
        r.refuse_truncated("documents")
    assert err.value.status_code == 413 and "documents[1] with the query has" in err.value.message
    tiny_service.rerank("电池", ["短", "也短"]).refuse_truncated()  # nothing over: no error


def test_health_result_serialises_facts_counters_and_models_once():
    model = LoadedModel(name="m", dim=8, max_length=16, device="cpu", precision="fp32", backend="torch",
                        memory_estimate=None, default=True)
    body = HealthResult(facts={"model": "m", "dim": 8}, counters={"uptime_s": 1.0}, models=[model]).to_dict()
    assert body == {"status": "ok", "ready": True, "model": "m", "dim": 8, "uptime_s": 1.0,
                    "models": [{"name": "m", "dim": 8, "max_length": 16, "device": "cpu", "precision": "fp32",
                                "backend": "torch", "memory_estimate": None, "default": True}]}
