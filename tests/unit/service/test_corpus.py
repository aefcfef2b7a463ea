"""gte_ui/service/corpus.py's readers: corpus rows through core/tables.py (the pipeline itself is
exercised end to end in tests/e2e/cli/test_cli.py and test_index.py)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gte_ui.core.errors import GteError
from gte_ui.service import corpus
from gte_ui.service.corpus import CorpusColumns, CorpusRow


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
