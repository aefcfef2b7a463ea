"""gte_ui/core/tables.py: the one reader of tabular files (issue 27.4)."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gte_ui.core import tables
from gte_ui.core.errors import ErrorType, GteError

ROWS = [("1", "今天天气很好"), ("2", "繁體中文, 带逗号"), ("3", "手机续航")]


def write_table(path: Path, rows, header=("id", "text"), encoding="utf-8") -> Path:
    """``rows`` in the format ``path``'s suffix names (the header as column / field names)."""
    kind = path.suffix
    if kind == ".parquet":
        pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)}), path)
    elif kind == ".jsonl":
        path.write_text("".join(json.dumps(dict(zip(header, r)), ensure_ascii=False) + "\n" for r in rows),
                        encoding=encoding)
    elif kind == ".txt":
        path.write_text("".join(r[-1] + "\n" for r in rows), encoding=encoding)
    else:
        with open(path, "w", encoding=encoding, newline="") as f:
            writer = csv.writer(f, delimiter="\t" if kind == ".tsv" else ",")
            writer.writerows([header, *rows])
    return path


# --------------------------------------------------------------------------- every kind, both ways to choose
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
@pytest.mark.parametrize("columns", [["text", "id"], [1, 0], ["1", "0"]], ids=["by-name", "by-index", "by-digits"])
def test_every_kind_reads_columns_by_name_or_index(tmp_path, suffix, columns):
    path = write_table(tmp_path / f"t{suffix}", ROWS)
    if suffix == ".jsonl" and columns != ["text", "id"]:  # a JSON line has fields, not positions
        with pytest.raises(GteError, match=r"line 1 has no field '?1'? \(it has: id, text\)"):
            list(tables.iter_columns(path, columns))
        return
    got = list(tables.iter_columns(path, columns))
    assert [values for _, values in got] == [[t, i] for i, t in ROWS]
    # CSV / TSV number rows by the line they end on (the header is line 1); Parquet by row
    assert [n for n, _ in got] == ([2, 3, 4] if suffix in (".csv", ".tsv") else [1, 2, 3])


def test_txt_is_one_text_a_line_blank_lines_kept_for_counting(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(" 一 \n\n二\r\n三", encoding="utf-8")
    assert list(tables.iter_columns(path, ["text"])) == [(1, ["一"]), (2, [""]), (3, ["二"]), (4, ["三"])]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_encodings_are_sniffed_the_same_streamed_or_whole(tmp_path, encoding):
    path = write_table(tmp_path / "t.csv", ROWS, encoding=encoding)
    streamed = [v for _, v in tables.iter_columns(path, ["text"])]
    assert streamed == [[t] for _, t in ROWS]  # a BOM never ends up in the header
    text, name = tables.read_text(path)
    assert name == "t.csv" and text.splitlines()[0] == "id,text" and "繁體中文" in text
    assert tables.read_text(path.read_bytes(), "upload.csv")[0] == text


def test_delimiter_and_quoting_follow_the_first_line(tmp_path):
    # a TAB in the first line makes it TSV, read without quoting (STS-B's sentences hold a lone ")
    tsv = 'a\tb\t1\n"He said\thi\t2\n'
    assert [r for _, r in tables.delimited_rows(tables.string_io(tsv), "x")] == [["a", "b", "1"], ['"He said', "hi", "2"]]
    csv_text = 'a,"b, c",1\n'
    assert [r for _, r in tables.delimited_rows(tables.string_io(csv_text), "x")] == [["a", "b, c", "1"]]


def test_blank_rows_are_skipped_and_lines_still_counted():
    text = "h1,h2\n\n , \nx,y\n"
    assert list(tables.delimited_rows(tables.string_io(text), "f.csv")) == [(1, ["h1", "h2"]), (4, ["x", "y"])]
    kept = list(tables.delimited_rows(tables.string_io(text), "f.csv", keep_blank=True))
    assert kept == [(1, ["h1", "h2"]), (3, [" ", " "]), (4, ["x", "y"])]
    assert list(tables.json_lines(['{"a": 1}', "  ", '{"a": 2}'], "f.jsonl")) == [(1, {"a": 1}), (3, {"a": 2})]


def test_header_detection_helpers():
    header = [" Sentence ", "TEXT", "label"]
    assert tables.find_column(header, ("text", "sentence")) == 1  # the names' order decides, case ignored
    assert tables.find_column(header, ("query",)) is None
    assert tables.column_index(header, "label", "f") == 2
    assert tables.column_index(header, "sentence", "f") == 0  # spaces and case ignored when nothing matches exactly
    assert tables.column_index(["0", "1"], "1", "f") == 1
    assert tables.is_number("2.5") and not tables.is_number("score")


# --------------------------------------------------------------------------- refusals name file, line, column
def test_a_missing_column_is_named_with_the_ones_there_are(tmp_path):
    path = write_table(tmp_path / "t.csv", ROWS)
    with pytest.raises(GteError) as err:
        list(tables.iter_columns(path, ["body"], hint=("Choose one with --column", "请用 --column 指定")))
    assert err.value.error_type is ErrorType.VALIDATION
    assert "t.csv has no column 'body'; its columns are id, text. Choose one with --column" in err.value.message
    assert "请用 --column 指定" in err.value.message  # bilingual
    with pytest.raises(GteError, match="has no column 5; its columns are id, text"):
        list(tables.iter_columns(path, [5]))
    with pytest.raises(GteError, match="has no column 'body'; its columns are id, text"):
        list(tables.iter_columns(write_table(tmp_path / "t.parquet", ROWS), ["body"]))


def test_a_bad_json_line_is_named(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": oops}\n', encoding="utf-8")
    got = tables.iter_columns(path, ["text"])
    assert next(got) == (1, ["ok"])
    with pytest.raises(GteError, match=r"t.jsonl 第 3 行不是 JSON / t.jsonl line 3 is not JSON: Expecting value"):
        next(got)
    path.write_text('{"text": "ok"}\n["not", "an", "object"]\n', encoding="utf-8")
    with pytest.raises(GteError, match=r"line 2 has no field 'text' \(it has: list\)"):
        list(tables.iter_columns(path, ["text"]))


def test_optional_fields_of_json_lines_read_as_none(tmp_path):
    path = write_table(tmp_path / "t.jsonl", ROWS)
    got = [v for _, v in tables.iter_columns(path, ["text", "title"], optional=["title"])]
    assert got == [[t, None] for _, t in ROWS]


@pytest.mark.parametrize("content, fragment", [
    ('text\n"unclosed, quote\n', "t.csv line 2 is not valid CSV"),
    ("text\n" + "x" * 200_000 + "\n", "t.csv line 2 is not valid CSV: field larger than field limit"),
])
def test_broken_csv_is_named_with_its_line(tmp_path, content, fragment):
    path = tmp_path / "t.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GteError, match=fragment):
        list(tables.delimited_rows(tables.string_io(path.read_text(encoding="utf-8")), "t.csv", ",", strict=True))


def test_cells_labels_and_text_values_are_checked():
    with pytest.raises(GteError, match="f.tsv row 7 has 2 fields; expected at least 3"):
        tables.cells(["a", "b"], (0, 1, 2), "f.tsv", 7)
    assert tables.cells([" a ", "b", "1"], (2, 0), "f", 1) == ["1", "a"]
    assert tables.number("4.5", "f", 1) == 4.5
    with pytest.raises(GteError, match=r"f row 3: label 'high' is not a number"):
        tables.number("high", "f", 3)
    with pytest.raises(GteError, match="f row 3: label is not finite"):
        tables.number("nan", "f", 3)
    assert tables.text_cell(12, "f", 1, "id") == "12" and tables.text_cell(None, "f", 1, "id") == ""
    with pytest.raises(GteError, match="f line 4: field 'text' is int, not a string"):
        tables.text_cell(12, "f", 4, "text", numbers=False)


@pytest.mark.parametrize("raw, fragment, error_type", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "up.bin looks like a binary file, not text", ErrorType.VALIDATION),
    (bytes(range(0x80, 0xb2)), "up.bin is neither UTF-8 nor GB18030 text", ErrorType.VALIDATION),
    (b"x" * 101, "up.bin is 101 bytes; the limit is 100", ErrorType.TOO_LARGE),
], ids=["binary", "latin-1", "too-large"])
def test_uploads_are_capped_and_refused_clearly(raw, fragment, error_type):
    with pytest.raises(GteError) as err:
        tables.read_text(raw, "up.bin", max_bytes=100)
    assert fragment in err.value.message and err.value.error_type is error_type and " / " in err.value.message


def test_unsupported_kinds_and_unreadable_parquet(tmp_path):
    with pytest.raises(GteError, match=r"unsupported input a.xlsx: use one of .txt, .csv, .tsv, .jsonl, .parquet"):
        tables.kind_of("a.xlsx", default=None)
    assert tables.kind_of("notes.md") == "txt"
    fake = tmp_path / "f.parquet"
    fake.write_bytes(b"not parquet at all")
    with pytest.raises(GteError, match="f.parquet is not a readable Parquet file"):
        list(tables.iter_columns(fake, ["text"]))


def test_columns_of_reads_the_head(tmp_path):
    for suffix in (".csv", ".tsv", ".jsonl", ".parquet"):
        assert tables.columns_of(write_table(tmp_path / f"t{suffix}", ROWS)) == ["id", "text"]
    assert tables.columns_of(write_table(tmp_path / "t.txt", ROWS)) == ["text"]


# --------------------------------------------------------------------------- streaming
def test_a_large_file_streams_in_bounded_memory(tmp_path):
    """8 MB of CSV read through in well under 1 MB of Python memory: rows are never all held."""
    path = tmp_path / "big.csv"
    line = "12345," + "天气" * 60 + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write("id,text\n")
        f.writelines(line for _ in range(8_000_000 // len(line.encode())))
    rows = 0
    tracemalloc.start()
    try:
        for _ in tables.iter_columns(path, ["text"]):
            rows += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows > 20_000 and path.stat().st_size > 7_000_000
    assert peak < 1_000_000, f"peak {peak:,} bytes while streaming {path.stat().st_size:,}"


def test_rows_come_before_the_file_is_decoded_whole(tmp_path):
    """The first rows arrive before a bad part further on is read: nothing decodes the file up
    front. (A GB18030 line after 64 KB of UTF-8 is refused when reached, naming iconv.)"""
    path = tmp_path / "mixed.txt"
    path.write_bytes(("今天天气很好\n" * 4000).encode("utf-8") + "今天天气很好\n".encode("gb18030"))
    rows = tables.iter_columns(path, ["text"])
    assert next(rows) == (1, ["今天天气很好"])
    with pytest.raises(GteError, match="mixed.txt is not valid utf-8 text.*iconv"):
        list(rows)


# --------------------------------------------------------------------------- round trip
CELL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(CELL, CELL), min_size=1, max_size=8),
       suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet"]))
def test_rows_written_in_any_kind_read_back_the_same(tmp_path, rows, suffix):
    path = write_table(tmp_path / f"rt{suffix}", rows, header=("a", "b"))
    got = [tuple(v) for _, v in tables.iter_columns(path, ["a", "b"])]
    assert got == rows
