"""gte_ui/cluster/ray_data.py without a Ray cluster (tests/e2e/ray/test_ray_data.py runs the
pipeline): the check every Ray run makes first reads the input with the local path's reader, so
a bad input gets the local path's message before any Ray work, and the blank count is its count."""

from __future__ import annotations

import json

import pytest

from gte_ui.cluster.ray_data import check_source
from gte_ui.core.errors import GteError
from gte_ui.service.corpus import CorpusColumns, iter_rows


def _message(call) -> str:
    with pytest.raises(GteError) as err:
        call()
    return err.value.message


def test_blanks_are_the_local_readers_count(tmp_path):
    src = tmp_path / "c.txt"
    src.write_text("一\n\n  \n二\n三\n", encoding="utf-8")
    assert check_source(src, CorpusColumns()) == 2 == sum(r.text is None for r in iter_rows(src))
    csv = tmp_path / "c.csv"
    csv.write_text("id,sentence\n1,你好\n2,\n3,再见\n", encoding="gb18030")
    assert check_source(csv, CorpusColumns(text="sentence")) == 1


@pytest.mark.parametrize("name, content, columns", [
    ("c.csv", "id,sentence\n1,你好\n", CorpusColumns()),  # no column "text"
    ("c.jsonl", json.dumps({"body": "你好"}) + "\n", CorpusColumns()),  # no field "text"
    ("c.jsonl", json.dumps({"text": ["a list"]}) + "\n", CorpusColumns()),  # not a string
    ("c.jsonl", json.dumps({"text": "你好", "_id": {"a": 1}}) + "\n", CorpusColumns(id="_id")),  # id not a string
    ("c.xlsx", "x", CorpusColumns()),  # unsupported kind
])
def test_bad_input_gets_the_local_paths_message(tmp_path, name, content, columns):
    src = tmp_path / name
    src.write_text(content, encoding="utf-8")
    ray_message = _message(lambda: check_source(src, columns))
    if src.suffix == ".xlsx":
        assert "unsupported input c.xlsx" in ray_message
        return
    assert ray_message == _message(lambda: list(iter_rows(src, columns)))


def test_a_missing_input_is_named(tmp_path):
    assert "input file" in _message(lambda: check_source(tmp_path / "none.txt", CorpusColumns()))
    assert "does not exist" in _message(lambda: check_source(tmp_path / "none.txt", CorpusColumns()))


def test_a_jsonl_ray_cannot_decode_is_refused_before_ray_starts(tmp_path):
    """Ray Data's JSON reader takes UTF-8 only; the local reader also reads GB18030."""
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"text": "你好，世界"}, ensure_ascii=False) + "\n", encoding="gb18030")
    assert [r.text for r in iter_rows(src)] == ["你好，世界"]  # the local path reads it
    message = _message(lambda: check_source(src, CorpusColumns()))
    assert "gb18030" in message and "UTF-8" in message and "without --ray" in message
