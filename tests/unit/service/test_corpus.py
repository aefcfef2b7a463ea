"""service/corpus.py: the corpus readers (.txt/.csv/.tsv/.jsonl/.parquet), and embed_file's
outputs, resume and refusals on the tiny model. (``index build`` over it: tests/e2e/cli/test_index.py.)"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from gte_ui.core.errors import GteError
from gte_ui.service.corpus import (
    CorpusColumns,
    CorpusRow,
    embed_file,
    iter_rows,
    iter_texts,
)

TEXTS = ["今天天气很好", "手机电池续航很强", "充电速度特别快", "我想借钱", "快递明天到"]


def test_txt_rows_keep_line_numbers_and_mark_blanks(tmp_path):
    src = tmp_path / "c.txt"
    src.write_text("a\n  \n b \n", encoding="utf-8")
    assert list(iter_rows(src)) == [CorpusRow(1, "a", "1"), CorpusRow(2, None, "2"), CorpusRow(3, "b", "3")]
    assert list(iter_texts(src)) == ["a", "b"]


def test_gb18030_text_is_read_as_text(tmp_path):
    src = tmp_path / "gbk.txt"
    src.write_bytes("\n".join(TEXTS).encode("gb18030"))
    assert list(iter_texts(src)) == TEXTS


def test_csv_and_jsonl_columns_ids_and_titles(tmp_path):
    tsv = tmp_path / "c.tsv"
    with open(tsv, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["doc", "body", "head"])
        w.writerows([["d1", "电池", "手机"], ["d2", "", "空"]])
    rows = list(iter_rows(tsv, CorpusColumns(text="body", id="doc", title="head")))
    assert rows == [CorpusRow(2, "电池", "d1", "手机"), CorpusRow(3, None, "d2", "空")]
    assert rows[0].embed_text == "手机 电池"  # a title goes before the text (BEIR)
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"t": "天气", "id": 7}\n\n{"t": null, "id": 8}\n', encoding="utf-8")
    rows = list(iter_rows(jsonl, CorpusColumns(field="t", id="id")))
    assert rows == [CorpusRow(1, "天气", "7"), CorpusRow(3, None, "8")]


def test_parquet_columns(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    src = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["电池", None, "天气"], "id": [1, 2, 3]}), src)
    assert list(iter_rows(src, CorpusColumns(id="id"))) == [CorpusRow(1, "电池", "1"), CorpusRow(2, None, "2"),
                                                            CorpusRow(3, "天气", "3")]
    with pytest.raises(GteError, match="has no column 'body'; its columns are text, id"):
        list(iter_rows(src, CorpusColumns(text="body")))


@pytest.mark.parametrize(("name", "content", "columns", "fragment"), [
    ("c.csv", "a,b\n1,2\n", CorpusColumns(), "has no column 'text'; its columns are a, b"),
    ("c.jsonl", '{"text": "x"}\nnot json\n', CorpusColumns(), "line 2 is not JSON"),
    ("c.jsonl", '{"body": "x"}\n', CorpusColumns(), "line 1 has no field 'text' \\(it has: body\\)"),
    ("c.jsonl", '{"text": 3}\n', CorpusColumns(), "line 1: field 'text' is int, not a string"),
    ("c.jsonl", '{"text": "x", "id": [1]}\n', CorpusColumns(id="id"), "'id' is list, not a string"),
    ("c.docx", "x", CorpusColumns(), "unsupported input c.docx"),
])
def test_bad_inputs_name_what_is_wrong(tmp_path, name, content, columns, fragment):
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    with pytest.raises(GteError, match=fragment) as info:
        list(iter_rows(src, columns))
    assert info.value.status_code == 422 and info.value.zh


@pytest.fixture()
def corpus(tmp_path):
    src = tmp_path / "corpus.txt"
    src.write_text("\n".join(TEXTS[:2] + ["  "] + TEXTS[2:]) + "\n", encoding="utf-8")
    return src


def test_embed_file_writes_one_vector_per_non_blank_text(tiny_service, corpus, tmp_path):
    report = embed_file(tiny_service, corpus, tmp_path / "v.npy", chunk_size=2, progress=False)
    assert (report.texts, report.skipped_blank, report.chunks, report.resumed_chunks) == (5, 1, 3, 0)
    assert len(tiny_service.cache) == 0  # a corpus is seen once: it never fills the request cache
    np.testing.assert_allclose(np.load(tmp_path / "v.npy"), tiny_service.embed(TEXTS).vectors, atol=1e-5)
    assert not (tmp_path / "v.npy.parts").exists()  # the resume state goes once the output is whole


def test_csv_output_holds_the_text_beside_its_vector(tiny_service, corpus, tmp_path):
    embed_file(tiny_service, corpus, tmp_path / "v.csv", progress=False)
    with open(tmp_path / "v.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + len(TEXTS) and [r[0] for r in rows[1:]] == TEXTS
    np.testing.assert_allclose(np.array(rows[1][1:], dtype=np.float32), tiny_service.embed(TEXTS[:1]).vectors[0],
                               atol=1e-5)


def test_embed_still_resumes_through_the_moved_pipeline(tiny_service, corpus, tmp_path):
    """``embed`` runs the same loop, now in the service: its output and resume are unchanged, and a
    resumed run does not redo the finished chunks. (Moved here from tests/e2e/cli/test_index.py.)"""
    out = tmp_path / "v.npy"

    def crash(i: int) -> None:
        if i == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_file(tiny_service, corpus, out, chunk_size=2, after_chunk=crash, progress=False)
    assert not out.exists() and json.loads((tmp_path / "v.npy.parts" / "meta.json").read_text())
    before = tiny_service.encoder.texts_encoded
    report = embed_file(tiny_service, corpus, out, chunk_size=2, progress=False)
    assert report.resumed_chunks == 2 and report.texts == len(TEXTS)
    assert tiny_service.encoder.texts_encoded - before == 1  # only the third chunk's one text
    np.testing.assert_allclose(np.load(out), tiny_service.embed_corpus(TEXTS, TEXTS).vectors, atol=1e-5)


def test_refusals_come_before_any_model_work(tiny_service, corpus, tmp_path):
    before = tiny_service.encoder.forward_calls
    for kwargs, fragment in (({"out": tmp_path / "v.txt"}, "unsupported output v.txt"),
                             ({"src": tmp_path / "missing.txt"}, "does not exist"),
                             ({"chunk_size": 0}, "--chunk-size must be at least 1")):
        args = {"src": corpus, "out": tmp_path / "v.npy", **kwargs}
        with pytest.raises(GteError, match=fragment):
            embed_file(tiny_service, args.pop("src"), args.pop("out"), progress=False, **args)
    assert tiny_service.encoder.forward_calls == before
