"""The one reader of users' text files: uploads in the UI, ``evaluate``, ``rank --file``, ``embed``.

Encodings: UTF-8 (with or without BOM), UTF-16 with BOM (Windows Notepad), else GB18030 — the
ones Chinese users' files come in. Kinds: .txt (one text a line), .csv/.tsv (a text column).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.textnorm import split_lines

#: header names taken as "the text column" of an uploaded CSV/TSV, in order of preference
CSV_COLUMNS = ("text", "text_column", "sentence", "candidate", "句子", "文本", "候选")


#: the one answer for an upload field naming a file that is not an upload: the same for a path that
#: exists, one that does not and a folder, so the answer tells nothing about the server's disk
NOT_AN_UPLOAD = GteError(ErrorType.VALIDATION, "this file was not uploaded through this page; upload it again",
                         "该文件不是通过本页面上传的，请重新上传")


def uploaded_file(path: str | os.PathLike, folders: Sequence[str | os.PathLike]) -> Path:
    """``path`` (symlinks resolved) when it is a regular file inside one of ``folders`` (where the
    server keeps uploads), else :data:`NOT_AN_UPLOAD`. An upload field's value comes from the
    client and can name any path on the server.
    """
    try:
        resolved = Path(os.path.realpath(path))
        inside = any(resolved.is_relative_to(os.path.realpath(folder)) for folder in folders)
        if inside and resolved.is_file():
            return resolved
    except (OSError, TypeError, ValueError):
        pass
    raise GteError(NOT_AN_UPLOAD.error_type, NOT_AN_UPLOAD.en, NOT_AN_UPLOAD.zh)


def read_candidates_file(path: str | os.PathLike, max_bytes: int) -> list[str]:
    """Candidates from an uploaded .txt (one per line) or .csv/.tsv (a text column, else the first).

    Raises:
        GteError: too big, binary, not UTF-8/GB18030 text, or a CSV that does not parse.
    """
    p = Path(path)
    size = p.stat().st_size
    if size > max_bytes:
        raise GteError(ErrorType.TOO_LARGE, f"the file is {size:,} bytes; the limit is {max_bytes:,}",
                       f"文件大小 {size:,} 字节，超过上限 {max_bytes:,}")
    raw = p.read_bytes()
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 has NULs
        raise GteError(ErrorType.VALIDATION, f"{p.name} looks like a binary file, not text",
                       f"{p.name} 看起来是二进制文件，不是文本")
    text = decode_text(raw, p.name)
    if p.suffix.lower() in (".csv", ".tsv"):
        return _csv_column(text, "\t" if p.suffix.lower() == ".tsv" else ",", p.name)
    return split_lines(text)


def sniff_encoding(path: str | os.PathLike, sample: int = 1 << 16) -> str:
    """The encoding :func:`decode_text` would pick, judged on the file's first ``sample`` bytes, for
    readers that stream a file too big to hold (``embed``): UTF-16 by its BOM, UTF-8 when the
    sample decodes (a character cut at the sample's end is forgiven), else GB18030."""
    with open(path, "rb") as f:
        head = f.read(sample)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and len(head) == sample:  # only the sample's last character was cut
            return "utf-8-sig"
        return "gb18030"


def upload_bytes(source: str | os.PathLike | bytes, name: str = "") -> tuple[bytes, str]:
    """A labelled file given as a path or as its bytes (an upload): its bytes, and the name
    messages use (the given one, else the file's)."""
    if isinstance(source, bytes):
        return source, name
    path = Path(source)
    return path.read_bytes(), name or path.name


def decode_text(raw: bytes, name: str = "file") -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM (Windows Notepad), else GB18030."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise GteError(ErrorType.VALIDATION, f"{name} is neither UTF-8 nor GB18030 text", f"{name} 不是 UTF-8 或 GB18030 编码的文本")


def _csv_column(text: str, delimiter: str, name: str) -> list[str]:
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise GteError(ErrorType.VALIDATION, f"{name} is not valid CSV: {exc}", f"{name} 不是有效的 CSV：{exc}") from exc
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    col = next((header.index(c) for c in CSV_COLUMNS if c in header), None)
    body = rows[1:] if col is not None else rows
    col = col or 0
    return [r[col].strip() for r in body if len(r) > col and r[col].strip()]
