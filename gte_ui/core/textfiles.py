"""Users' uploaded files: where an upload may live, and the candidates a .txt / .csv / .tsv holds.

Reading (encodings, rows, columns, messages) is :mod:`gte_ui.core.tables`; this module only says
which column of a candidates file is the text.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.tables import (
    decode_text,
    delimited_rows,
    find_column,
    kind_of,
    read_text,
    sniff_encoding,
    string_io,
    upload_bytes,
)
from gte_ui.core.textnorm import split_lines

#: the encoding helpers' old home: callers that still import them from here keep working
__all__ = ["CSV_COLUMNS", "NOT_AN_UPLOAD", "decode_text", "read_candidates_file", "sniff_encoding", "upload_bytes",
           "uploaded_file"]

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
    """Candidates from an uploaded .txt (one per line) or .csv/.tsv (the column :data:`CSV_COLUMNS`
    names, else the first; a header only when it names one).

    Raises:
        GteError: too big, binary, not UTF-8/GB18030 text, or a CSV that does not parse.
    """
    text, name = read_text(path, Path(path).name, max_bytes)
    kind = kind_of(name)
    if kind not in ("csv", "tsv"):
        return split_lines(text)
    rows = list(delimited_rows(string_io(text), name, "\t" if kind == "tsv" else ",", quote=True, strict=True))
    if not rows:
        return []
    col = find_column(rows[0][1], CSV_COLUMNS)
    body = rows[1:] if col is not None else rows
    col = col or 0
    return [r[col].strip() for _, r in body if len(r) > col and r[col].strip()]
