"""gte_ui/evaluation/rerank.py: the query–document group reader and the per-query metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.evaluation.rerank import (
    evaluate_rerank,
    looks_like_groups,
    query_metrics,
    read_groups,
)

SAMPLE = Path(__file__).resolve().parents[3] / "gte_ui" / "assets" / "samples" / "rerank_stsb_zh_groups.tsv"


# --------------------------------------------------------------------------- per-query metrics
def test_query_metrics_by_hand():
    # relevant (top label 2) document ranked 2nd -> MRR 1/2; ranking identical to labels -> Spearman 1
    m = query_metrics(np.array([0.9, 0.5, 0.1]), np.array([1.0, 2.0, 0.0]), binary=False)
    assert m["mrr"] == 0.5
    gains = (1 / np.log2(2) + 2 / np.log2(3)) / (2 / np.log2(2) + 1 / np.log2(3))
    assert m["ndcg"] == pytest.approx(gains)
    assert m["spearman"] == pytest.approx(0.5)
    binary = query_metrics(np.array([0.1, 0.2, 0.9, 0.3]), np.array([0.0, 1.0, 0.0, 0.0]), binary=True)
    assert binary["mrr"] == pytest.approx(1 / 3)


def test_query_metrics_undefined_parts_are_none():
    # no gain anywhere: nDCG undefined; equal labels: Spearman undefined; nothing relevant in the top k: MRR 0
    m = query_metrics(np.array([0.3, 0.2, 0.1]), np.zeros(3), binary=True)
    assert m == {"mrr": 0.0, "ndcg": None, "spearman": None}
    late = query_metrics(np.arange(12, 0, -1, dtype=float), np.array([0.0] * 11 + [1.0]), binary=True, k=10)
    assert late["mrr"] == 0.0 and late["spearman"] < 0  # the one relevant document ranked last


# --------------------------------------------------------------------------- the group reader
def test_read_groups_layouts(tmp_path):
    g = read_groups(SAMPLE)
    assert len(g.queries) == 53 and g.pairs == 167 and looks_like_groups(SAMPLE)
    # the Evaluate tab tells a rerank file from a pairs file by its header, in every encoding read
    for encoding, header in (("utf-16", "query,doc,label"), ("gb18030", "查询,文档,标签"), ("utf-8-sig", "问题\t段落\t分数")):
        sep = "\t" if "\t" in header else ","
        f = tmp_path / f"groups-{encoding}.csv"
        f.write_bytes(f"{header}\n问题一{sep}答案甲{sep}1\n问题一{sep}答案乙{sep}0\n".encode(encoding))
        assert looks_like_groups(f), encoding
        assert read_groups(f).docs == [["答案甲", "答案乙"]], encoding
    pairs = tmp_path / "pairs-utf16.tsv"
    pairs.write_bytes("sentence1\tsentence2\tlabel\n甲\t乙\t1\n".encode("utf-16"))
    assert not looks_like_groups(pairs)
    jl = tmp_path / "t2.jsonl"
    jl.write_text(json.dumps({"query": "q", "positive": ["a"], "negative": ["b", "c"]}, ensure_ascii=False) + "\n")
    g = read_groups(jl)
    assert g.docs == [["a", "b", "c"]] and g.labels == [[1.0, 0.0, 0.0]]
    bad = tmp_path / "bad.tsv"
    bad.write_text("query\tdoc\tlabel\nq\ta\thigh\n")
    with pytest.raises(GteError, match="not a number"):
        read_groups(bad)
    lonely = tmp_path / "lonely.tsv"
    lonely.write_text("query\tdoc\tlabel\nq\ta\t1\n")
    with pytest.raises(GteError, match="2 or more documents"):
        read_groups(lonely)


def test_headerless_rows_group_in_file_order_and_lonely_queries_drop(tmp_path):
    f = tmp_path / "g.csv"
    f.write_text("乙问,文1,0\n甲问,文2,1\n\n乙问,\"文3, 带逗号\",2\n甲问,文4,0\n孤单,文5,1\n", encoding="utf-8")
    g = read_groups(f)
    assert g.queries == ["乙问", "甲问"] and g.docs == [["文1", "文3, 带逗号"], ["文2", "文4"]]
    assert g.labels == [[0.0, 2.0], [1.0, 0.0]] and g.limit(1).queries == ["乙问"]
    assert read_groups(f.read_bytes(), name="upload.csv").name == "upload.csv"  # bytes: an upload


@pytest.mark.parametrize("content, fragment", [
    (b"query\tdoc\tlabel\nq\ta\t1\nq\tb\n", "g.tsv row 3 has 2 fields; expected at least 3"),
    (b"query\tdoc\tlabel\nq\ta\t1\nq\tb\tnan\n", "g.tsv row 3: label is not finite"),
    (b"query\tdoc\tlabel\nq\ta\t1\nq\tb\thigh\n", "g.tsv row 3: label 'high' is not a number"),
    (b"query,doc\n", "cannot find query, doc and label columns in g.tsv"),
    (b'{"query": "q", "pos": ["a"]}\n{oops\n', "g.tsv line 2 is not JSON"),
    (b"\x00\x01query\tdoc", "g.tsv looks like a binary file"),
])
def test_bad_group_files_are_named_with_their_row(tmp_path, content, fragment):
    f = tmp_path / "g.tsv"
    f.write_bytes(content)
    with pytest.raises(GteError) as err:
        read_groups(f)
    assert fragment in err.value.message and err.value.error_type is ErrorType.VALIDATION
    assert " / " in err.value.message  # bilingual


def test_looks_like_groups_never_raises(tmp_path):
    assert not looks_like_groups(tmp_path / "missing.tsv")
    jl = tmp_path / "flag.jsonl"
    jl.write_text('{"query": "q", "pos": ["a"], "neg": ["b"]}\n', encoding="utf-8")
    assert looks_like_groups(jl) and read_groups(jl).docs == [["a", "b"]]


# --------------------------------------------------------------------------- end to end with the tiny model
def test_evaluate_rerank_with_the_tiny_model(tiny_service):
    groups = read_groups(SAMPLE).limit(4)
    result = evaluate_rerank(tiny_service, groups, "embedding")
    assert result.method == "embedding" and result.queries == 4 and len(result.per_query) == 4
    mrrs = [q["mrr"] for q in result.per_query]
    assert result.mrr_at_10 == pytest.approx(np.mean(mrrs)) and all(0 < x <= 1 for x in mrrs)
    # each query's figures are query_metrics of the service's own scores
    first = tiny_service.rerank(groups.queries[0], groups.docs[0], method="embedding")
    assert {x for labels in groups.labels for x in labels} - {0.0, 1.0}  # graded (STS-B 0–5): MRR takes the top label
    expected = query_metrics(np.asarray(first.scores), np.asarray(groups.labels[0]), binary=False)
    assert result.per_query[0] == {"query": groups.queries[0], **expected}
