"""core/jsonbody.py: request bytes to JSON, each failure named with its status."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.jsonbody import check_json_media_type, parse_json


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8",
                                          "application/vnd.api+json"])
def test_json_media_types_pass(content_type):
    check_json_media_type(content_type)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "text/json+x"])
def test_other_media_types_are_415_naming_them(content_type):
    with pytest.raises(GteError) as info:
        check_json_media_type(content_type)
    assert info.value.status_code == 415 and content_type.split(";")[0] in info.value.en


def test_a_missing_content_type_is_415_unless_not_required():
    for missing in (None, "  "):
        with pytest.raises(GteError, match="no Content-Type"):
            check_json_media_type(missing)
        check_json_media_type(missing, required=False)


def test_valid_json_from_bytes_or_text():
    assert parse_json('{"a": [1, "中"]}'.encode()) == {"a": [1, "中"]}
    assert parse_json(bytearray(b"[1, 2]")) == [1, 2] and parse_json("3") == 3


def test_malformed_json_is_400_with_line_and_column():
    with pytest.raises(GteError) as info:
        parse_json(b'{\n  "a": 1,\n}')
    assert info.value.error_type is ErrorType.MALFORMED and info.value.status_code == 400
    assert "line 3 column 1" in info.value.en and "第 3 行第 1 列" in info.value.zh


def test_not_utf8_is_400_and_an_empty_body_is_422():
    with pytest.raises(GteError, match="not UTF-8") as info:
        parse_json(b'{"a": "\xff"}')
    assert info.value.status_code == 400 and "请求体" in info.value.zh
    with pytest.raises(GteError, match="empty") as info:
        parse_json(b"  \n", what="the event")
    assert info.value.status_code == 422 and info.value.zh.startswith("事件")


def test_nesting_too_deep_is_400_not_a_crash():
    with pytest.raises(GteError, match="nested too deeply") as info:
        parse_json("[" * 100_000 + "]" * 100_000)
    assert info.value.status_code == 400
