"""Uploaded candidate files (gte_ui.core.textfiles): encodings, CSV columns, clear refusals."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.textfiles import read_candidates_file


def test_candidate_files(tmp_path):
    txt = tmp_path / "c.txt"
    txt.write_text("一\n\n二\r\n 三 \n", encoding="utf-8")
    assert read_candidates_file(txt, 10_000) == ["一", "二", "三"]
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("苹果手机\n华为手机\n".encode("gb18030"))
    assert read_candidates_file(gbk, 10_000) == ["苹果手机", "华为手机"]
    utf16 = tmp_path / "u16.txt"
    utf16.write_text("繁體\n简体\n", encoding="utf-16")
    assert read_candidates_file(utf16, 10_000) == ["繁體", "简体"]
    with_header = tmp_path / "c.csv"
    with_header.write_text('id,text\n1,"你好, 世界"\n2,再见\n', encoding="utf-8-sig")
    assert read_candidates_file(with_header, 10_000) == ["你好, 世界", "再见"]
    no_header = tmp_path / "n.csv"
    no_header.write_text("甲,1\n乙,2\n", encoding="utf-8")
    assert read_candidates_file(no_header, 10_000) == ["甲", "乙"]


@pytest.mark.parametrize("name, content, fragment", [
    ("big.txt", b"x" * 2001, "the limit is 2,000"),
    ("bin.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
    ("latin.txt", bytes(range(0x80, 0x100)) * 3, "neither UTF-8 nor GB18030"),
    ("broken.csv", b'text\n"unclosed quote, here\nnext\n', "not valid CSV"),
])
def test_bad_uploads_are_refused_clearly(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(GteError) as err:
        read_candidates_file(path, 2000)
    assert fragment in err.value.message and err.value.error_type in (ErrorType.TOO_LARGE, ErrorType.VALIDATION)

