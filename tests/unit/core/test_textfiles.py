"""gte_ui/core/textfiles.py: where an upload may live, and the candidates a file holds."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.textfiles import (
    CSV_COLUMNS,
    NOT_AN_UPLOAD,
    read_candidates_file,
    uploaded_file,
)


def test_tsv_candidates_take_the_named_column(tmp_path):
    path = tmp_path / "c.tsv"
    path.write_text("编号\t句子\n1\t电池很耐用\n\n2\t充电很快\n3\t \n", encoding="gb18030")
    assert read_candidates_file(path, 10_000) == ["电池很耐用", "充电很快"]  # blank rows and cells left out


def test_the_preferred_header_name_wins_and_case_is_ignored(tmp_path):
    assert CSV_COLUMNS.index("text") < CSV_COLUMNS.index("sentence")
    path = tmp_path / "c.csv"
    path.write_text("Sentence,TEXT\n甲,乙\n", encoding="utf-8")
    assert read_candidates_file(path, 10_000) == ["乙"]


def test_without_a_known_header_every_row_is_a_candidate(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("名字,备注\n苹果,甜\n", encoding="utf-8")
    assert read_candidates_file(path, 10_000) == ["名字", "苹果"]


def test_any_other_suffix_reads_as_one_candidate_a_line(tmp_path):
    path = tmp_path / "c.md"
    path.write_text("a,b\nc\td\n", encoding="utf-8")
    assert read_candidates_file(path, 10_000) == ["a,b", "c\td"]


def test_refusals_name_the_file(tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2001)
    with pytest.raises(GteError) as err:
        read_candidates_file(big, 2000)
    assert err.value.error_type is ErrorType.TOO_LARGE
    assert "big.csv is 2,001 bytes; the limit is 2,000" in err.value.message and "超过上限" in err.value.message
    broken = tmp_path / "broken.csv"
    broken.write_text('text\n"unclosed\n', encoding="utf-8")
    with pytest.raises(GteError, match="broken.csv line 2 is not valid CSV"):
        read_candidates_file(broken, 2000)


def test_only_files_inside_the_upload_folders_are_uploads(tmp_path):
    uploads, elsewhere = tmp_path / "uploads", tmp_path / "elsewhere"
    uploads.mkdir()
    elsewhere.mkdir()
    inside = uploads / "a.txt"
    inside.write_text("x", encoding="utf-8")
    secret = elsewhere / "secret.txt"
    secret.write_text("x", encoding="utf-8")
    (uploads / "link.txt").symlink_to(secret)
    assert uploaded_file(str(inside), [uploads]) == inside.resolve()
    for path in (secret, uploads / "link.txt", uploads / "missing.txt", uploads):
        with pytest.raises(GteError) as err:
            uploaded_file(path, [uploads])
        assert err.value.message == NOT_AN_UPLOAD.message  # one answer: nothing told about the disk



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
