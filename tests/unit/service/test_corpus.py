"""gte_ui/service/corpus.py: corpus rows through core/tables.py, and embed_file's outputs, resume
and refusals on the tiny model (``index build`` over it: tests/e2e/cli/test_index.py)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gte_ui.core.errors import GteError
from gte_ui.service import corpus
from gte_ui.service.corpus import CorpusColumns, CorpusRow, embed_file

TEXTS = ["今天天气很好", "手机电池续航很强", "充电速度特别快", "我想借钱", "快递明天到"]


def test_csv_text_by_name_or_index_with_id_and_title(tmp_path):
    src = tmp_path / "docs.csv"
    src.write_text("doc_id,title,body\n7,标题,正文一\n8,, \n9,,正文三\n", encoding="utf-8")
    by_name = list(corpus.iter_rows(src, CorpusColumns(text="body", id="doc_id", title="title")))
    assert by_name == [CorpusRow(2, "正文一", "7", "标题"), CorpusRow(3, None, "8", ""), CorpusRow(4, "正文三", "9", "")]
    assert by_name[0].embed_text == "标题 正文一"  # BEIR's title + " " + text
    assert list(corpus.iter_rows(src, CorpusColumns(text="2", id="0", title="1"))) == by_name  # 0-based indices


def test_jsonl_ids_and_titles_are_optional_per_line_and_may_be_numbers(tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (
        {"_id": 1, "title": "甲", "text": "正文"}, {"text": "无编号"}, {"_id": "x", "text": None})) + "\n", encoding="utf-8")
    rows = list(corpus.iter_rows(src, CorpusColumns(field="text", id="_id", title="title")))
    assert rows == [CorpusRow(1, "正文", "1", "甲"), CorpusRow(2, "无编号", "", ""), CorpusRow(3, None, "x", "")]
    with pytest.raises(GteError, match=r"docs.jsonl line 1: field 'title' is list, not a string"):
        src.write_text('{"text": "a", "title": ["x"]}\n', encoding="utf-8")
        list(corpus.iter_rows(src, CorpusColumns(title="title")))


def test_parquet_streams_named_columns(tmp_path):
    src = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": [10, 11], "text": ["一", None], "extra": [b"x", b"y"]}), src)
    assert list(corpus.iter_rows(src, CorpusColumns(id="id"))) == [CorpusRow(1, "一", "10"), CorpusRow(2, None, "11")]
    with pytest.raises(GteError, match="docs.parquet has no column 'body'; its columns are id, text, extra. "
                                       "Choose one with --column"):
        list(corpus.iter_rows(src, CorpusColumns(text="body")))


def test_txt_counts_blank_lines_and_the_helpers_agree(tmp_path):
    src = tmp_path / "c.txt"
    src.write_bytes("一\n\n  \n二\n".encode("gb18030"))
    assert list(corpus.iter_records(src)) == [(1, "一"), (2, None), (3, None), (4, "二")]
    assert list(corpus.iter_texts(src)) == ["一", "二"]
    with pytest.raises(GteError, match=r"unsupported input c.xlsx: use one of .txt, .csv, .tsv, .jsonl, .parquet"):
        list(corpus.iter_rows(tmp_path / "c.xlsx"))


@pytest.mark.parametrize(("name", "content", "columns", "fragment"), [
    ("c.csv", "a,b\n1,2\n", CorpusColumns(), "has no column 'text'; its columns are a, b"),
    ("c.jsonl", '{"text": "x"}\nnot json\n', CorpusColumns(), "line 2 is not JSON"),
    ("c.jsonl", '{"body": "x"}\n', CorpusColumns(), "line 1 has no field 'text' \\(it has: body\\)"),
    ("c.jsonl", '{"text": 3}\n', CorpusColumns(), "line 1: field 'text' is int, not a string"),
])
def test_bad_inputs_name_what_is_wrong(tmp_path, name, content, columns, fragment):
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    with pytest.raises(GteError, match=fragment) as info:
        list(corpus.iter_rows(src, columns))
    assert info.value.status_code == 422 and info.value.zh


@pytest.fixture()
def corpus_file(tmp_path):
    src = tmp_path / "corpus.txt"
    src.write_text("\n".join(TEXTS[:2] + ["  "] + TEXTS[2:]) + "\n", encoding="utf-8")
    return src


def test_embed_file_writes_one_vector_per_non_blank_text(tiny_service, corpus_file, tmp_path):
    report = embed_file(tiny_service, corpus_file, tmp_path / "v.npy", chunk_size=2, progress=False)
    assert (report.texts, report.skipped_blank, report.chunks, report.resumed_chunks) == (5, 1, 3, 0)
    assert len(tiny_service.cache) == 0  # a corpus is seen once: it never fills the request cache
    np.testing.assert_allclose(np.load(tmp_path / "v.npy"), tiny_service.embed(TEXTS).vectors, atol=1e-5)
    assert not (tmp_path / "v.npy.parts").exists()  # the resume state goes once the output is whole


def test_csv_output_holds_the_text_beside_its_vector(tiny_service, corpus_file, tmp_path):
    embed_file(tiny_service, corpus_file, tmp_path / "v.csv", progress=False)
    with open(tmp_path / "v.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + len(TEXTS) and [r[0] for r in rows[1:]] == TEXTS
    np.testing.assert_allclose(np.array(rows[1][1:], dtype=np.float32), tiny_service.embed(TEXTS[:1]).vectors[0],
                               atol=1e-5)


def test_embed_still_resumes_through_the_moved_pipeline(tiny_service, corpus_file, tmp_path):
    """``embed`` runs the same loop, now in the service: its output and resume are unchanged, and a
    resumed run does not redo the finished chunks. (Moved here from tests/e2e/cli/test_index.py.)"""
    out = tmp_path / "v.npy"

    def crash(i: int) -> None:
        if i == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_file(tiny_service, corpus_file, out, chunk_size=2, after_chunk=crash, progress=False)
    assert not out.exists() and json.loads((tmp_path / "v.npy.parts" / "meta.json").read_text())
    before = tiny_service.encoder.texts_encoded
    report = embed_file(tiny_service, corpus_file, out, chunk_size=2, progress=False)
    assert report.resumed_chunks == 2 and report.texts == len(TEXTS)
    assert tiny_service.encoder.texts_encoded - before == 1  # only the third chunk's one text
    np.testing.assert_allclose(np.load(out), tiny_service.embed_corpus(TEXTS, TEXTS).vectors, atol=1e-5)


def test_refusals_come_before_any_model_work(tiny_service, corpus_file, tmp_path):
    before = tiny_service.encoder.forward_calls
    for kwargs, fragment in (({"out": tmp_path / "v.txt"}, "unsupported output v.txt"),
                             ({"src": tmp_path / "missing.txt"}, "does not exist"),
                             ({"chunk_size": 0}, "--chunk-size must be at least 1")):
        args = {"src": corpus_file, "out": tmp_path / "v.npy", **kwargs}
        with pytest.raises(GteError, match=fragment):
            embed_file(tiny_service, args.pop("src"), args.pop("out"), progress=False, **args)
    assert tiny_service.encoder.forward_calls == before
