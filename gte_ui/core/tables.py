"""The one reader of users' tabular files: candidates, labelled pairs, rerank groups, corpus files,
retrieval folders and embedding maps all read through it.

* **Kinds**: .txt (one text a line), .csv / .tsv (cells), .jsonl (one JSON value a line), .parquet
  (columns; pyarrow, imported only when one is read).
* **Encodings**, decided here and nowhere else: UTF-8 (with or without BOM), UTF-16 with BOM
  (Windows Notepad), else GB18030 — the ones Chinese users' files come in. Bytes already in memory
  (uploads, capped by ``max_bytes``) are decoded whole; a file streamed from disk (a corpus) has its
  encoding sniffed once on its first 64 KB and is then read a line at a time, so memory stays flat
  however big it is.
* **Columns** by header name or 0-based index (:func:`column_index`); each caller keeps its own
  header detection (which names count as "the text column") but the lookup, and every message,
  is this module's.

Every refusal is a bilingual :class:`GteError` naming the file, the line and the column.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from gte_ui.core.errors import ErrorType, GteError

#: file suffix -> kind; anything else reads as .txt where a caller allows it (.json is not here: it is
#: as often one JSON array as JSON lines, so a reader that takes it as lines says so itself)
KINDS = {".txt": "txt", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
#: bytes a streamed file's encoding is judged on
SNIFF_BYTES = 1 << 16
#: row batches read from a .parquet at a time
PARQUET_BATCH = 4096

#: a hint appended to a "no such column" message, English and Chinese (e.g. which CLI flag picks one)
Hint = tuple[str, str]
NO_HINT: Hint = ("", "")


def _bad(en: str, zh: str) -> GteError:
    return GteError(ErrorType.VALIDATION, en, zh)


# --------------------------------------------------------------------------- encodings
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
    raise _bad(f"{name} is neither UTF-8 nor GB18030 text", f"{name} 不是 UTF-8 或 GB18030 编码的文本")


def sniff_encoding(path: str | os.PathLike, sample: int = SNIFF_BYTES) -> str:
    """The encoding :func:`decode_text` would pick, judged on the file's first ``sample`` bytes, for
    readers that stream a file too big to hold: UTF-16 by its BOM, UTF-8 when the sample decodes
    (a character cut at the sample's end is forgiven), else GB18030."""
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
    """A file given as a path or as its bytes (an upload): its bytes, and the name messages use
    (the given one, else the file's)."""
    if isinstance(source, bytes):
        return source, name
    path = Path(source)
    return path.read_bytes(), name or path.name


def check_size(size: int, max_bytes: int | None, name: str) -> None:
    """Refuse a file over ``max_bytes`` (None: no limit) before it is read."""
    if max_bytes is not None and size > max_bytes:
        raise GteError(ErrorType.TOO_LARGE, f"{name} is {size:,} bytes; the limit is {max_bytes:,}",
                       f"{name} 大小 {size:,} 字节，超过上限 {max_bytes:,}")


def refuse_binary(raw: bytes, name: str) -> None:
    """A NUL in the first 8 KB means a binary file (UTF-16, which has NULs, is told by its BOM)."""
    if b"\x00" in raw[:8192] and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _bad(f"{name} looks like a binary file, not text", f"{name} 看起来是二进制文件，不是文本")


def read_text(source: str | os.PathLike | bytes, name: str = "", max_bytes: int | None = None) -> tuple[str, str]:
    """The whole text of an upload (a path or its bytes) and the name messages use: size-capped,
    binary files refused, decoded by :func:`decode_text`."""
    if isinstance(source, bytes):
        check_size(len(source), max_bytes, name or "file")
    else:
        check_size(Path(source).stat().st_size, max_bytes, name or Path(source).name)
    raw, name = upload_bytes(source, name)
    name = name or "file"
    refuse_binary(raw, name)
    return decode_text(raw, name), name


@contextlib.contextmanager
def open_stream(path: str | os.PathLike) -> Iterator[TextIO]:
    """A file opened for reading a line at a time in its sniffed encoding (universal newlines,
    untranslated, as :mod:`csv` wants). A part that does not decode as the head did is refused."""
    path = Path(path)
    encoding = sniff_encoding(path)
    try:
        with open(path, encoding=encoding, newline="") as f:
            yield f
    except UnicodeDecodeError as exc:
        raise _bad(f"{path.name} is not valid {exc.encoding} text ({exc.reason}): its first 64 KB read as "
                   f"{exc.encoding}, a later part does not; convert it to UTF-8 first, e.g. iconv -f GB18030 -t UTF-8",
                   f"{path.name} 的编码前后不一致，请先转换为 UTF-8") from exc


def kind_of(name: str, default: str | None = "txt") -> str:
    """The kind a file name's suffix says (:data:`KINDS`); ``default`` for any other, or refused
    naming the kinds there are when ``default`` is None."""
    kind = KINDS.get(Path(name).suffix.lower(), default)
    if kind is None:
        suffixes = ", ".join(KINDS)
        raise _bad(f"unsupported input {Path(name).name}: use one of {suffixes}",
                   f"不支持的输入文件类型：{Path(name).name}（可用 {suffixes}）")
    return kind


# --------------------------------------------------------------------------- rows
def delimited_rows(lines: Iterable[str], name: str, delimiter: str | None = None, *, quote: bool | None = None,
                   strict: bool = False, keep_blank: bool = False) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` of each CSV / TSV row, numbered by the line it ends on.

    Args:
        delimiter: None: a TAB when the first line has one, else a comma.
        quote: None: CSV quoting for commas, none for TABs (STS-B's sentences contain ``"`` and
            quoting would silently merge rows: 260 of 1,379 lost on its test split).
        strict: refuse malformed quoting instead of reading on.
        keep_blank: also yield rows whose cells are all blank (not empty lines).
    Raises:
        GteError: a row :mod:`csv` cannot parse, naming its line.
    """
    lines = iter(lines)
    if delimiter is None:
        first = next(lines, None)
        if first is None:
            return
        delimiter = "\t" if "\t" in first else ","
        lines = itertools.chain([first], lines)
    if quote is None:
        quote = delimiter != "\t"
    reader = csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
                        strict=strict)
    kind = "TSV" if delimiter == "\t" else "CSV"
    try:
        for row in reader:
            if row and (keep_blank or any(c.strip() for c in row)):
                yield reader.line_num, row
    except csv.Error as exc:  # an unclosed quote (strict), a field over csv's size limit, a NUL byte
        raise _bad(f"{name} line {reader.line_num} is not valid {kind}: {exc}",
                   f"{name} 第 {reader.line_num} 行不是有效的 {kind}：{exc}") from exc


def text_rows(text: str, name: str, strict: bool = False) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV / TSV upload's text (labelled pairs, rerank groups: held whole
    anyway), TAB-separated when named .tsv or its first line has a TAB.

    Raises:
        GteError: as :func:`delimited_rows`; EMPTY when there are no rows.
    """
    rows = list(delimited_rows(string_io(text), name, "\t" if name.endswith(".tsv") else None, strict=strict))
    if not rows:
        raise GteError(ErrorType.EMPTY, f"{name} has no rows", f"{name} 没有数据行")
    return rows


def json_lines(lines: Iterable[str], name: str) -> Iterator[tuple[int, object]]:
    """``(line number, parsed value)`` of each non-blank line of JSON lines.

    Raises:
        GteError: a line that is not JSON, naming it.
    """
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise _bad(f"{name} line {n} is not JSON: {exc.msg}", f"{name} 第 {n} 行不是 JSON") from exc


# --------------------------------------------------------------------------- columns and cells
def column_index(header: Sequence[str], wanted: str | int, name: str, hint: Hint = NO_HINT) -> int:
    """Where ``wanted`` is in ``header``: a 0-based index (an int, or a string of digits that is not
    itself a header name), else a header name (exact, then ignoring case and spaces).

    Raises:
        GteError: no such column, naming the ones there are (and ``hint``: how to choose one).
    """
    names = [str(h) for h in header]
    if isinstance(wanted, str) and wanted in names:
        return names.index(wanted)
    if isinstance(wanted, int) or wanted.strip().isdigit():
        index = int(wanted)
        if index < len(names):
            return index
    else:
        lowered = [h.strip().lower() for h in names]
        if wanted.strip().lower() in lowered:
            return lowered.index(wanted.strip().lower())
    have = ", ".join(names) or "(none)"
    raise _bad(f"{name} has no column {wanted!r}; its columns are {have}" + (f". {hint[0]}" if hint[0] else ""),
               f"{name} 中没有列 {wanted!r}，现有列：{have}" + (f"；{hint[1]}" if hint[1] else ""))


def find_column(header: Sequence[str], names: Sequence[str]) -> int | None:
    """The first of ``names`` the header has (ignoring case and spaces), or None: how readers
    detect "the text column" or "the label column" without being told."""
    lowered = [str(h).strip().lower() for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def json_field(record: object, key: str, name: str, line: int, hint: Hint = NO_HINT) -> object:
    """``record[key]`` of a JSON line, which must be an object holding ``key``.

    Raises:
        GteError: not an object, or no such field, naming the fields it has.
    """
    if not isinstance(record, dict) or key not in record:
        have = ", ".join(record) if isinstance(record, dict) else type(record).__name__
        raise _bad(f"{name} line {line} has no field {key!r} (it has: {have})" + (f". {hint[0]}" if hint[0] else ""),
                   f"{name} 第 {line} 行没有字段 {key!r}" + (f"；{hint[1]}" if hint[1] else ""))
    return record[key]


def cells(row: Sequence[str], indices: Sequence[int], name: str, line: int) -> list[str]:
    """The cells of a CSV / TSV row at ``indices``, stripped.

    Raises:
        GteError: a row too short for them, naming its line.
    """
    need = max(indices) + 1
    if len(row) < need:
        raise _bad(f"{name} row {line} has {len(row)} fields; expected at least {need}",
                   f"{name} 第 {line} 行字段数不足（{len(row)} 个，至少需要 {need} 个）")
    return [row[i].strip() for i in indices]


def number(value: str, name: str, line: int) -> float:
    """A label cell read as a finite number.

    Raises:
        GteError: not a number, or not finite, naming the row and the value.
    """
    try:
        x = float(value)
    except ValueError as exc:
        raise _bad(f"{name} row {line}: label {value!r} is not a number",
                   f"{name} 第 {line} 行的标签 {value!r} 不是数字") from exc
    if not math.isfinite(x):
        raise _bad(f"{name} row {line}: label is not finite", f"{name} 第 {line} 行标签无效")
    return x


def is_number(value: str) -> bool:
    """Whether a cell reads as a number: how a header row is told from a data row."""
    try:
        float(value)
        return True
    except ValueError:
        return False


def text_cell(value: object, name: str, line: int, column: str, numbers: bool = True) -> str:
    """A JSON / Parquet value as text: a string stripped, None as "", a number as its digits
    (an id) unless ``numbers`` is False (a text).

    Raises:
        GteError: any other type, naming the line and the field.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _bad(f"{name} line {line}: field {column!r} is {type(value).__name__}, not a string",
               f"{name} 第 {line} 行：字段 {column!r} 不是字符串")


# --------------------------------------------------------------------------- one interface for every kind
def iter_columns(path: str | os.PathLike, columns: Sequence[str | int], *, kind: str | None = None,
                 optional: Sequence[str | int] = (), hint: Hint = NO_HINT,
                 field_hint: Hint = NO_HINT) -> Iterator[tuple[int, list[object]]]:
    """Stream ``(line number, values)`` of ``columns`` from a file of any kind, one line (or one
    Parquet batch) in memory at a time.

    * .txt: every line (blank ones too) is one value, whatever ``columns`` names.
    * .csv / .tsv: the first row is the header; ``columns`` by name or index (a short row's
      missing cells are None); rows of empty lines are skipped, rows of blank cells are not.
    * .jsonl: ``columns`` are fields; a line without one of them is refused unless it is in
      ``optional`` (then None). Blank lines are skipped.
    * .parquet: columns by name or index; the number is the row's, from 1.

    Values are returned raw (str for text kinds; JSON / Arrow values otherwise).

    Raises:
        GteError: an unsupported kind, a missing column (``hint``) or field (``field_hint``),
            a line that is not JSON or CSV, a file whose encoding changes after its first 64 KB.
    """
    path = Path(path)
    kind = kind or kind_of(path.name, default=None)
    if kind == "parquet":
        yield from _parquet_columns(path, columns, hint)
        return
    with open_stream(path) as f:
        if kind == "txt":
            for n, line in enumerate(f, start=1):
                yield n, [line.strip()]
        elif kind in ("csv", "tsv"):
            rows = delimited_rows(f, path.name, "\t" if kind == "tsv" else ",", quote=True, keep_blank=True)
            first = next(rows, None)
            header = first[1] if first else []
            where = [column_index(header, c, path.name, hint) for c in columns]
            for n, row in rows:
                yield n, [row[i] if i < len(row) else None for i in where]
        else:
            for n, record in json_lines(f, path.name):
                yield n, [record.get(c) if c in optional and isinstance(record, dict)
                          else json_field(record, c, path.name, n, field_hint) for c in columns]


def columns_of(path: str | os.PathLike, kind: str | None = None) -> list[str]:
    """The names a file offers to choose from: a CSV / TSV header, a Parquet schema, the first
    JSON line's fields; .txt has one, "text". Read from the file's head only."""
    path = Path(path)
    kind = kind or kind_of(path.name, default=None)
    if kind == "txt":
        return ["text"]
    if kind == "parquet":
        return list(_parquet_file(path).schema_arrow.names)
    with open_stream(path) as f:
        if kind == "jsonl":
            first = next(json_lines(f, path.name), (0, {}))[1]
            return [str(k) for k in first] if isinstance(first, dict) else []
        first_row = next(delimited_rows(f, path.name, "\t" if kind == "tsv" else ",", keep_blank=True), (0, []))
        return first_row[1]


def _parquet_file(path: Path):  # -> pyarrow.parquet.ParquetFile
    # pyarrow only when a .parquet is read (the CLI's --help and health stay instant)
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
        raise _bad(f"{path.name} is not a readable Parquet file: {exc}", f"{path.name} 不是有效的 Parquet 文件") from exc


def _parquet_columns(path: Path, columns: Sequence[str | int], hint: Hint) -> Iterator[tuple[int, list[object]]]:
    """A .parquet's ``columns``, one record batch in memory at a time (row numbers from 1)."""
    pf = _parquet_file(path)
    names = pf.schema_arrow.names
    wanted = [names[column_index(names, c, path.name, hint)] for c in columns]
    unique = list(dict.fromkeys(wanted))
    n = 0
    for batch in pf.iter_batches(columns=unique, batch_size=PARQUET_BATCH):
        data = batch.to_pydict()
        for j in range(batch.num_rows):
            n += 1
            yield n, [data[c][j] for c in wanted]


def string_io(text: str) -> io.StringIO:
    """Text in memory as a stream :func:`delimited_rows` reads like a file (universal newlines)."""
    return io.StringIO(text, newline="")
