"""Command line: ``python -m gte_ui {serve,download,embed,similarity,rank,evaluate,map,health}``.

``embed`` exports vectors at corpus scale. It streams the input in chunks of ``--chunk-size``
texts (memory stays constant however big the file is; each forward pass holds at most
``--max-batch-tokens`` padded tokens), shows a tqdm bar with texts/s and tokens/s, and saves
each finished chunk under ``OUT.parts/`` before starting the next one, so a run that is killed —
Ctrl-C, OOM killer, a lost SSH session — resumes where it stopped without redoing finished chunks.
The output is assembled in a temporary file next to OUT and moved into place with ``os.replace``:
OUT is either absent or complete, never half-written.

Only the standard library is imported at module level: ``python -m gte_ui health`` (Docker's
HEALTHCHECK, every 30 s) and ``--help`` stay instant.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import functools
import glob
import itertools
import json
import os
import shutil
import sys
import time
import types
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field  # "field" names the JSONL option here
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gte_ui.core import csvsafe
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.resources import sample_names, sample_path
from gte_ui.core.settings import model_flags_epilog, parse_settings, program_name
from gte_ui.core.textfiles import read_candidates_file, sniff_encoding
from gte_ui.frontends import cli_retrieval
from gte_ui.service.options import TextOptions

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from gte_ui.service.results import EmbedResult
    from gte_ui.service.service import EmbeddingService


def _warn(warnings: Sequence[str]) -> None:
    """The service's warnings (e.g. text the vocabulary cannot read) on stderr: stdout keeps its shape."""
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


def _heavy():
    """The model stack (torch, transformers), imported on first use so that ``health`` (Docker's
    HEALTHCHECK, every 30 s) and ``--help`` stay instant."""
    # the model stack on first use: `--help` and `health` (Docker's HEALTHCHECK) stay instant
    from gte_ui.core.pairs import LabelledPairs
    from gte_ui.evaluation import metrics
    from gte_ui.evaluation.calibration import bands_from_result
    from gte_ui.service.models import download_model
    from gte_ui.service.service import EmbeddingService

    return types.SimpleNamespace(LabelledPairs=LabelledPairs,
                                 download_model=download_model, metrics=metrics,
                                 bands_from_result=bands_from_result, EmbeddingService=EmbeddingService)


INPUT_KINDS = (".txt", ".csv", ".tsv", ".jsonl")
OUTPUT_KINDS = (".npy", ".csv", ".parquet")
DEFAULT_CHUNK = 2048  # texts per saved chunk: ~8 MB of float32 vectors at GTE-large's width


def _err(en: str, zh: str) -> GteError:
    return GteError(ErrorType.VALIDATION, en, zh)


# --------------------------------------------------------------------------- input
def iter_records(path: Path, column: str = "text", field: str = "text") -> Iterator[tuple[int, str | None]]:
    """Stream ``(line number, text)`` from a .txt (one text a line), .csv/.tsv (named column) or
    .jsonl (named field). Blank texts come as ``None`` so the caller can count what it skips.

    Raises:
        GteError: unsupported file type, a missing column/field (naming the ones that exist),
            a line that is not JSON, a field that is not a string, a file whose encoding
            changes after its first 64 KB.
    """
    kind = path.suffix.lower()
    if kind not in INPUT_KINDS:
        raise _err(f"unsupported input {path.name}: use one of {', '.join(INPUT_KINDS)}",
                   f"不支持的输入文件类型：{path.name}（可用 {', '.join(INPUT_KINDS)}）")
    try:
        encoding = sniff_encoding(path)  # the reader uploads use: UTF-8, UTF-16 (BOM) or GB18030
        with open(path, encoding=encoding, newline="" if kind in (".csv", ".tsv") else None) as f:
            if kind == ".txt":
                for n, line in enumerate(f, start=1):
                    yield n, line.strip() or None
            elif kind in (".csv", ".tsv"):
                reader = csv.DictReader(f, delimiter="\t" if kind == ".tsv" else ",")
                if reader.fieldnames is None or column not in reader.fieldnames:
                    raise _err(f"{path.name} has no column {column!r}; its columns are "
                               f"{', '.join(reader.fieldnames or []) or '(none)'}. Choose one with --column",
                               f"{path.name} 中没有列 {column!r}，现有列：{', '.join(reader.fieldnames or [])}；"
                               "请用 --column 指定")
                try:
                    for row in reader:
                        yield reader.line_num, (row.get(column) or "").strip() or None
                except csv.Error as exc:  # e.g. a field over csv's size limit, a NUL byte
                    raise _err(f"{path.name} line {reader.line_num} is not valid {kind[1:].upper()}: {exc}",
                               f"{path.name} 第 {reader.line_num} 行格式错误") from exc
            else:
                for n, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise _err(f"{path.name} line {n} is not JSON: {exc.msg}",
                                   f"{path.name} 第 {n} 行不是 JSON") from exc
                    if not isinstance(record, dict) or field not in record:
                        keys = ", ".join(record) if isinstance(record, dict) else type(record).__name__
                        raise _err(f"{path.name} line {n} has no field {field!r} (it has: {keys}). "
                                   "Choose one with --field",
                                   f"{path.name} 第 {n} 行没有字段 {field!r}；请用 --field 指定")
                    value = record[field]
                    if value is not None and not isinstance(value, str):
                        raise _err(f"{path.name} line {n}: field {field!r} is {type(value).__name__}, "
                                   "not a string", f"{path.name} 第 {n} 行：字段 {field!r} 不是字符串")
                    yield n, (value or "").strip() or None
    except UnicodeDecodeError as exc:
        raise _err(f"{path.name} is not valid {exc.encoding} text ({exc.reason}): its first 64 KB read as "
                   f"{exc.encoding}, a later part does not; convert it to UTF-8 first, e.g. iconv -f GB18030 -t UTF-8",
                   f"{path.name} 的编码前后不一致，请先转换为 UTF-8") from exc


def iter_texts(path: Path, column: str = "text", field: str = "text") -> Iterator[str]:
    """The non-blank texts of ``path`` (see :func:`iter_records`)."""
    return (t for _, t in iter_records(path, column, field) if t is not None)


# --------------------------------------------------------------------------- embed
@dataclass
class EmbedReport:
    """What one ``embed_file`` call did."""

    texts: int  # texts embedded into OUT (this run and resumed ones)
    skipped_blank: int  # blank lines / empty fields, which have no vector
    chunks: int
    resumed_chunks: int  # finished in an earlier, interrupted run and not redone
    out: str
    seconds: float
    unknown_token_share: float = 0.0  # of this run's texts' tokens, the share the vocabulary does not know
    warnings: list[str] = dataclass_field(default_factory=list)  # e.g. a corpus the model mostly cannot read


class _Parts:
    """The resume state: ``OUT.parts/`` holds ``meta.json`` and, per finished chunk ``i``,
    ``part-i.texts.json`` and ``part-i.npy``. The ``.npy`` is written last, through a temporary
    name, so its presence means the chunk is complete; anything else is redone."""

    def __init__(self, out: Path) -> None:
        self.dir = out.with_name(out.name + ".parts")

    def vectors(self, i: int) -> Path:
        return self.dir / f"part-{i:07d}.npy"

    def texts(self, i: int) -> Path:
        return self.dir / f"part-{i:07d}.texts.json"

    def finished(self) -> int:
        """Number of complete chunks, counted from 0 without gaps."""
        n = 0
        while self.vectors(n).is_file() and self.texts(n).is_file():
            n += 1
        return n

    def save(self, i: int, texts: Sequence[str], vectors: np.ndarray) -> None:
        # numpy on first use: `--help` and `health` stay instant
        import numpy as np

        body = json.dumps(list(texts), ensure_ascii=False)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ensure_free_space(self.dir, len(body.encode("utf-8")) + vectors.nbytes + 4096)
        _atomic_write_text(self.texts(i), body)
        tmp = self.dir / f".part-{i:07d}.tmp.npy"
        with _removed_on_error(tmp), _disk_full_named(self.dir, vectors.nbytes):
            np.save(tmp, vectors)
        os.replace(tmp, self.vectors(i))

    def load(self, i: int) -> tuple[list[str], np.ndarray]:
        # numpy on first use: `--help` and `health` stay instant
        import numpy as np

        return json.loads(self.texts(i).read_text(encoding="utf-8")), np.load(self.vectors(i))

    def rows(self, i: int) -> int:
        # numpy on first use: `--help` and `health` stay instant
        import numpy as np

        return int(np.load(self.vectors(i), mmap_mode="r").shape[0])


def embed_file(service: EmbeddingService, src: str | Path, out: str | Path, *, column: str = "text",
               field: str = "text", chunk_size: int = DEFAULT_CHUNK, restart: bool = False,
               after_chunk: Callable[[int], None] | None = None, progress: bool = True,
               options: TextOptions | None = None) -> EmbedReport:
    """Embed every non-blank text of ``src`` into ``out`` (.npy, .csv or .parquet), resumably.

    Texts go through :meth:`EmbeddingService.embed_corpus`: validated with the service's own rules
    (type, ``--max-chars``, lone surrogates, cleaning), embedded honouring ``--long-text`` and
    ``options``, and kept out of the service's cache (a corpus is seen once).

    Args:
        service: a loaded service (``batching=False``: nothing else shares it here).
        chunk_size: texts per saved chunk; part of the resume state (a resumed run must use
            the same chunking to get identical vectors).
        restart: discard an unfinished earlier run for ``out``.
        after_chunk: called with the chunk index after each chunk is saved (tests raise from it
            to simulate a crash).
        options: text normalisation and long-text mode; part of the resume state.
    Returns:
        An :class:`EmbedReport`. The .npy holds one float32 row [dim] per non-blank text in input
        order; .csv/.parquet hold the text next to its vector.
    Raises:
        GteError: bad input/output names, a missing column/field, a text over the limits (naming
            its line), or leftover state from a run with other settings (unless ``restart``).
    """
    src, out = Path(src), Path(out)
    if out.suffix.lower() not in OUTPUT_KINDS:
        raise _err(f"unsupported output {out.name}: use one of {', '.join(OUTPUT_KINDS)}",
                   f"不支持的输出文件类型：{out.name}（可用 {', '.join(OUTPUT_KINDS)}）")
    if src.suffix.lower() not in INPUT_KINDS:
        raise _err(f"unsupported input {src.name}: use one of {', '.join(INPUT_KINDS)}",
                   f"不支持的输入文件类型：{src.name}（可用 {', '.join(INPUT_KINDS)}）")
    if not src.is_file():
        raise _err(f"input file {src} does not exist", f"输入文件 {src} 不存在")
    if chunk_size < 1:
        raise _err(f"--chunk-size must be at least 1, got {chunk_size}", "--chunk-size 至少为 1")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        return _embed_locked(service, src, out, column, field, chunk_size, restart, after_chunk, progress,
                             options or TextOptions())


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """One ``embed`` per OUT at a time: an advisory lock on ``OUT.lock``, released by the OS even
    when the process is killed (no stale lock to clean up). No-op where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock = out.with_name(out.name + ".lock")
    with open(lock, "a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise _err(f"another `embed` is writing {out} right now (lock {lock.name})",
                       f"另一个 embed 任务正在写入 {out}") from exc
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _embed_locked(service: EmbeddingService, src: Path, out: Path, column: str, field: str, chunk_size: int,
                  restart: bool, after_chunk: Callable[[int], None] | None, progress: bool,
                  options: TextOptions) -> EmbedReport:
    t0 = time.perf_counter()
    info = service.info
    parts = _Parts(out)
    stat = src.stat()
    meta = {"input": str(src.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "column": column, "field": field, "chunk_size": chunk_size, "model": info.path,
            "precision": info.precision, "backend": info.backend, "dim": service.dim,
            "max_length": service.max_length, "long_text": options.long_text or service.settings.long_text,
            "text_norm": options.norm.key(), "max_chars": service.settings.max_chars}
    meta_file = parts.dir / "meta.json"
    if parts.dir.exists():
        old = _read_json(meta_file)
        if restart or old is None:
            shutil.rmtree(parts.dir)
        elif old != meta:
            changed = sorted(k for k in meta if old.get(k) != meta[k])
            raise _err(f"{parts.dir} holds an unfinished run with another input or other settings "
                       f"(changed: {', '.join(changed)}); pass --restart to discard it",
                       f"{parts.dir} 中有输入或设置不同的未完成任务（变化：{', '.join(changed)}），"
                       "请加 --restart 丢弃")
    parts.dir.mkdir(parents=True, exist_ok=True)
    sweep_temporary_files(out)
    _atomic_write_text(meta_file, json.dumps(meta, sort_keys=True))

    resumed = parts.finished()
    resumed_texts = sum(parts.rows(i) for i in range(resumed))
    blanks = [0]  # blank records seen, counted by _non_blank as the input streams by
    n_chunks = 0
    # on first use: `--help` and `health` stay instant
    from tqdm import tqdm

    tokens_done, t_run = 0, time.perf_counter()
    unknown = service.unknown_tally()
    bar = tqdm(unit=" texts", unit_scale=True, initial=resumed_texts, disable=not progress,
               desc=f"embed {src.name}" + (f" (resumed {resumed} chunks)" if resumed else ""),
               dynamic_ncols=True, file=sys.stderr)
    try:
        for i, chunk in enumerate(_chunks(_non_blank(iter_records(src, column, field), blanks), chunk_size)):
            n_chunks = i + 1
            if i < resumed:  # finished by an earlier run: only re-read, to count and move on
                continue
            res = _embed_chunk(service, src, chunk, options)
            parts.save(i, res.texts, res.vectors)
            unknown.add(res.texts)
            # tokens the model ran: a truncated text counts up to max_length, a chunked one in full
            tokens_done += sum(min(n, (res.max_length or n) * c)
                               for n, c in zip(res.token_counts, res.chunks))
            bar.update(len(res.texts))
            elapsed = max(time.perf_counter() - t_run, 1e-9)
            bar.set_postfix_str(f"{tokens_done / elapsed:,.0f} tokens/s", refresh=False)
            if after_chunk is not None:
                after_chunk(i)
    finally:
        bar.close()
    if n_chunks < resumed:
        raise _err(f"{parts.dir} has {resumed} finished chunks but {src.name} now gives only {n_chunks}; "
                   "pass --restart", f"{parts.dir} 与输入文件不一致，请加 --restart")
    total = _assemble(parts, n_chunks, out, service.dim)
    shutil.rmtree(parts.dir)
    return EmbedReport(texts=total, skipped_blank=blanks[0], chunks=n_chunks, resumed_chunks=resumed,
                       out=str(out), seconds=round(time.perf_counter() - t0, 2),
                       unknown_token_share=unknown.share, warnings=unknown.warnings())


def _embed_chunk(service: EmbeddingService, src: Path, chunk: list[tuple[int, str]],
                 options: TextOptions) -> EmbedResult:
    """One chunk through the service (validated line by line, not cached); errors name the file."""
    try:
        return service.embed_corpus([t for _, t in chunk], [f"line {n}" for n, _ in chunk], options=options)
    except GteError as exc:
        hint = " (raise the limit with --max-chars)" if exc.error_type is ErrorType.TOO_LONG else ""
        raise GteError(exc.error_type, f"{src.name}: {exc.en}{hint}", f"{src.name}：{exc.zh or exc.en}") from exc


def _non_blank(records: Iterator[tuple[int, str | None]], blanks: list[int]) -> Iterator[tuple[int, str]]:
    for line, text in records:
        if text is None:
            blanks[0] += 1
        else:
            yield line, text


def _chunks(records: Iterator[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    """Consecutive groups of ``size`` records (the last one shorter)."""
    while chunk := list(itertools.islice(records, size)):
        yield chunk


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with _removed_on_error(tmp), _disk_full_named(path, len(text.encode("utf-8"))):
        tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- a full disk
def sweep_temporary_files(out: Path) -> list[Path]:
    """Remove what a killed or failed ``embed`` of ``out`` left: the half-assembled
    ``.OUT.PID.tmp`` beside it and the ``.part-*`` files in ``OUT.parts/``. Called at the start
    of every run (under the lock, so no other run of ``out`` is writing them)."""
    parts = _Parts(out).dir
    stale = [*out.parent.glob(f".{glob.escape(out.name)}.*.tmp"), *parts.glob(".part-*"),
             *parts.glob(".meta.json.*.tmp")]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def disk_full_error(path: Path, need: int, free: int | None = None) -> GteError:
    """The command line's message for a full disk: which path, how many bytes it needs and how many
    are free (the user owns the disk here; the server's :func:`gte_ui.core.errors.disk_full`
    tells a visitor only that it is full)."""
    if free is None:
        free = _free_bytes(path)
    return GteError(ErrorType.DISK_FULL,
                    f"the disk holding {path} is full: writing it needs {need:,} bytes and {free:,} are free. "
                    "Free some space (or choose another --out) and run the same command again: finished "
                    "chunks are kept",
                    f"{path} 所在磁盘空间不足：需要 {need:,} 字节，可用 {free:,} 字节。请清理空间（或换一个 --out）"
                    "后重新运行同一命令，已完成的部分会保留")


def _free_bytes(path: Path) -> int:
    folder = path if path.is_dir() else path.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def ensure_free_space(path: Path, need: int) -> None:
    """Refuse before writing ``need`` bytes to ``path`` (a file, or into a folder) when its disk
    has less free."""
    free = _free_bytes(path)
    if free < need:
        raise disk_full_error(path, need, free)


@contextlib.contextmanager
def _removed_on_error(tmp: Path) -> Iterator[None]:
    """A temporary file that a failed write leaves behind is removed at once."""
    try:
        yield
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _disk_full_named(path: Path, need: int) -> Iterator[None]:
    """An ``OSError`` while writing (for) ``path`` that a full disk caused (ENOSPC / EDQUOT, or numpy's
    errno-less "N requested and M written") becomes :func:`disk_full_error`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT) or (exc.errno is None and " written" in str(exc)):
            raise disk_full_error(path, need) from exc
        raise


def _preallocate(f: Any, size: int, path: Path) -> None:
    """Reserve ``size`` bytes for ``f`` now, so a full disk fails here with ENOSPC rather than
    later; no-op where the OS or file system cannot (the writes then report ENOSPC themselves)."""
    try:
        os.posix_fallocate(f.fileno(), 0, size)
    except AttributeError:  # pragma: no cover - no posix_fallocate (macOS, Windows)
        return
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full_error(path, size) from exc
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise


def _assemble(parts: _Parts, n_chunks: int, out: Path, dim: int) -> int:
    """Join the chunks into ``out`` through a temporary file, one chunk in memory at a time.

    Returns the number of rows written.
    """
    # numpy on first use (`health` stays instant); pyarrow only for parquet output
    import numpy as np

    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    kind = out.suffix.lower()
    rows = sum(parts.rows(i) for i in range(n_chunks))
    vector_bytes = sum(parts.vectors(i).stat().st_size for i in range(n_chunks))
    # The output is about as big as the parts' vectors (text as CSV: about 3x); checked up front.
    ensure_free_space(out, vector_bytes * (3 if kind == ".csv" else 1))
    try:
        if kind == ".npy":
            # Plain writes into a preallocated file, not a memory map: a full disk under a map
            # kills the process with SIGBUS and no message; here it is an OSError we can name.
            with open(tmp, "wb") as f, _disk_full_named(out, vector_bytes):
                np.lib.format.write_array_header_1_0(
                    f, {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
                        "shape": (rows, dim)})
                _preallocate(f, f.tell() + rows * dim * 4, out)
                f.writelines(np.ascontiguousarray(np.load(parts.vectors(i)), dtype="<f4").tobytes()
                             for i in range(n_chunks))
        elif kind == ".csv":
            with open(tmp, "w", encoding="utf-8", newline="") as f:
                w = csvsafe.writer(f)
                w.writerow(["text"] + [f"v{j}" for j in range(dim)])
                for i in range(n_chunks):
                    texts, v = parts.load(i)
                    for t, row in zip(texts, v):
                        # 9 significant digits: a float32 survives the round trip through text exactly
                        w.writerow([t] + [f"{x:.9g}" for x in row.tolist()])
        else:
            # numpy on first use (`health` stays instant); pyarrow only for parquet output
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = pa.schema([("text", pa.string()), ("vector", pa.list_(pa.float32(), dim))])
            with pq.ParquetWriter(tmp, schema) as writer:
                for i in range(n_chunks):
                    texts, v = parts.load(i)
                    vec = pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1), pa.float32()), dim)
                    writer.write_table(pa.Table.from_arrays([pa.array(texts, pa.string()), vec], schema=schema))
        os.replace(tmp, out)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # CSV / Parquet writes on a full disk
            raise disk_full_error(out, vector_bytes) from exc
        raise
    finally:
        if tmp.exists():
            tmp.unlink()
    return rows


# --------------------------------------------------------------------------- health
# --------------------------------------------------------------------------- embed --ray
class _RayEmbedder:
    """One Ray Data actor: loads the model once, embeds batches of texts (``map_batches``)."""

    def __init__(self, settings: Any, options: TextOptions) -> None:
        self.service = _heavy().EmbeddingService.from_settings(settings, batching=False)
        self.options = options

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        # numpy on first use: `--help` and `health` stay instant
        import numpy as np

        texts = [str(t) for t in batch["text"]]
        # the local path's door: the same validation, normalisation and long-text mode, no cache
        res = self.service.embed_corpus(texts, [f"text {t[:20]!r}" for t in texts], options=self.options)
        return {"text": np.array(res.texts, dtype=object), "vector": res.vectors}


#: reading and stripping text barely uses a CPU: they must not wait for the cores the embedding
#: actors hold (on 2 CPUs, 2 actors would otherwise starve the reads forever)
_LIGHT = {"num_cpus": 0}


def _ray_read(src: Path, column: str, field: str) -> Any:
    """The input as a Ray Data dataset with one string column ``text``, blanks dropped."""
    # optional: pyarrow / Ray Data only for `embed --ray`
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import ray.data

    kind = src.suffix.lower()
    if kind not in INPUT_KINDS:
        raise _err(f"unsupported input {src.name}: use one of {', '.join(INPUT_KINDS)}",
                   f"不支持的输入文件类型：{src.name}")
    name = "text"
    if kind == ".txt":
        ds = ray.data.read_text(str(src), ray_remote_args=_LIGHT)
    elif kind in (".csv", ".tsv"):
        name = column
        ds = ray.data.read_csv(str(src), parse_options=pacsv.ParseOptions(delimiter="\t" if kind == ".tsv" else ","),
                               convert_options=pacsv.ConvertOptions(column_types={column: pa.string()},
                                                                    include_columns=[column]),
                               ray_remote_args=_LIGHT)
    else:
        name = field
        ds = ray.data.read_json(str(src), lines=True, ray_remote_args=_LIGHT)

    def strip(batch: dict[str, Any]) -> dict[str, Any]:
        # optional: pyarrow / Ray Data only for `embed --ray`
        import numpy as np

        texts = [(t or "").strip() if isinstance(t, str) or t is None else str(t) for t in batch[name]]
        return {"text": np.array([t for t in texts if t], dtype=object)}

    return ds.map_batches(strip, batch_format="numpy", **_LIGHT)


def embed_file_ray(settings: Any, src: str | Path, out: str | Path, *, address: str = "local",
                   column: str = "text", field: str = "text", actors: int | None = None,
                   progress: bool = True, options: TextOptions | None = None) -> EmbedReport:
    """``embed --ray``: Ray Data reads ``src``, an actor pool embeds it, Parquet comes out.

    The same texts, order and vectors as :func:`embed_file`'s .parquet. ``out`` ending in
    ``.parquet`` is one file (the driver streams the results into it, through a temporary name);
    any other ``out`` is a folder that Ray's workers write their own Parquet files into.
    """
    # ray: a heavy optional dependency (the "ray" extra), imported only for --ray
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    t0 = time.perf_counter()
    src, out = Path(src), Path(out)
    if not src.is_file():
        raise _err(f"input {src} does not exist", f"输入文件 {src} 不存在")
    # One quick pass here: checks the column / field with the local path's messages, counts blanks.
    blanks = sum(1 for _, t in iter_records(src, column, field) if t is None)
    if not ray.is_initialized():
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # output rows follow the input
    ctx.enable_progress_bars = progress
    threads = settings.threads or 1
    settings = settings.replace(threads=threads)
    pool = actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
    ds = _ray_read(src, column, field).map_batches(
        _RayEmbedder, fn_constructor_args=(settings, options or TextOptions()), batch_size=settings.batch_size * 8,
        compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=threads, batch_format="numpy")
    rows = 0
    if out.suffix.lower() != ".parquet":
        ds.write_parquet(str(out))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(out.glob("*.parquet")))
    else:
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        writer = None
        try:
            for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
                vectors = batch["vector"].astype("float32", copy=False)
                dim = vectors.shape[1]
                schema = pa.schema([("text", pa.string()), ("vector", pa.list_(pa.float32(), dim))])
                writer = writer or pq.ParquetWriter(tmp, schema)
                vec = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), dim)
                writer.write_table(pa.Table.from_arrays([pa.array(list(batch["text"]), pa.string()), vec],
                                                        schema=schema))
                rows += len(vectors)
            if writer is None:
                raise _err(f"{src.name} has no non-blank text", f"{src.name} 中没有非空文本")
            writer.close()
            writer = None
            os.replace(tmp, out)
        finally:
            if writer is not None:
                writer.close()
            if tmp.exists():
                tmp.unlink()
    return EmbedReport(texts=rows, skipped_blank=blanks, chunks=0, resumed_chunks=0, out=str(out),
                       seconds=round(time.perf_counter() - t0, 2))


def health(url: str | None = None, timeout: float = 4.0) -> tuple[bool, str]:
    """Ask a running server's ``/health``: (ready, what it said). Docker's HEALTHCHECK runs this.

    Default URL: 127.0.0.1 on the port the server's own settings give (``--port`` /
    ``GRADIO_SERVER_PORT`` / ``GTE_PORT`` / ``PORT``, else 7860).
    """
    if url is None:
        url = f"http://127.0.0.1:{parse_settings([]).port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - our own loopback URL
            body = json.loads(r.read().decode("utf-8"))
    except (OSError, ValueError) as exc:  # URLError, refused, timeout, not JSON
        return False, f"{url}: {exc}"
    ok = isinstance(body, dict) and body.get("status") == "ok"
    return ok, f"{url}: {body.get('status') if isinstance(body, dict) else body!r}"


# --------------------------------------------------------------------------- commands
def _prog() -> str:
    return program_name(default="python -m gte_ui")


def _model_epilog(extra: Sequence[str] = ()) -> str:
    return model_flags_epilog(_prog(), extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="GTE workbench command line. Model options are the server's (--model, --offline, "
        "--precision, --device, --max-length, --batch-size, --long-text, --max-chars, … and their GTE_* "
        "environment variables); put them after the command. Speed and memory: docs/performance.md.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    model_sub = functools.partial(sub.add_parser, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_parser("serve", help=f"start the web UI + API (same as python app.py; `{_prog()} serve --help` "
                   "lists its flags)", add_help=False)
    d = sub.add_parser("download", help="fetch a model into a folder for offline use")
    d.add_argument("--model", required=True, help="ModelScope id (iic/…) or Hugging Face id (thenlper/…)")
    d.add_argument("--to", required=True, help="target folder; later run with --model FOLDER --offline")
    d.add_argument("--hub", default="auto", choices=("auto", "modelscope", "huggingface"),
                   help="auto: ModelScope for iic/ and damo/ ids, else Hugging Face (default: auto)")
    d.add_argument("--revision", help="branch, tag or commit (default: the hub's main branch)")
    e = model_sub("embed", help="embed a corpus file into .npy / .csv / .parquet (streams, resumes)",
                  epilog=_model_epilog())
    e.add_argument("input", help=".txt (one text a line), .csv/.tsv (--column) or .jsonl (--field)")
    e.add_argument("--out", required=True, help="output .npy (vectors), .csv or .parquet (text + vector)")
    e.add_argument("--column", default="text", help="CSV/TSV column holding the text (default: text)")
    e.add_argument("--field", default="text", help="JSONL field holding the text (default: text)")
    e.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK,
                   help=f"texts per saved chunk (default {DEFAULT_CHUNK}); a resumed run must use the same")
    e.add_argument("--restart", action="store_true", help="discard an unfinished earlier run for --out")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="read, embed and write with Ray Data: an actor pool (one model per actor) via "
                        "map_batches; ADDRESS joins a cluster (default: a local Ray). --out .parquet "
                        "(one file) or a folder (Ray writes its own Parquet files there)")
    e.add_argument("--ray-actors", type=int, help="embedding actors with --ray (default: CPUs / --threads)")
    s = model_sub("similarity", help="cosine similarity of two texts (JSON)", epilog=_model_epilog())
    s.add_argument("a")
    s.add_argument("b")
    r = model_sub("rank", help="rank candidates against a source (rank, score, verdict, text)",
                  epilog=_model_epilog())
    r.add_argument("source")
    r.add_argument("candidates", nargs="*")
    r.add_argument("--file", help="candidates from a .txt (one a line) or .csv/.tsv file")
    r.add_argument("--top-k", type=int, help="print only the best K (default: all)")
    r.add_argument("--json", action="store_true", help="print JSON instead of tab-separated lines")
    rr = model_sub("rerank", help="rerank documents against a query with --reranker (else by embedding "
                   "cosine; the output says which)", epilog=_model_epilog(["reranker"]))
    rr.add_argument("query")
    rr.add_argument("documents", nargs="*")
    rr.add_argument("--file", help="documents from a .txt (one a line) or .csv/.tsv file")
    rr.add_argument("--top-n", type=int)
    rr.add_argument("--raw-scores", action="store_true", help="the cross-encoder's raw logits, not their sigmoid")
    rr.add_argument("--method", default="auto", choices=("auto", "cross-encoder", "embedding"))
    rr.add_argument("--json", action="store_true", help="print JSON instead of tab-separated lines")
    for p in (e, s, r, rr):  # the per-request text options every front end offers (--long-text is a model flag)
        p.add_argument("--t2s", action="store_true", help="Traditional → Simplified Chinese first (OpenCC)")
        p.add_argument("--nfkc", action="store_true", help="full-width → half-width (Unicode NFKC) first")
        p.add_argument("--collapse-whitespace", action="store_true", help="runs of whitespace → one space")
    for p in (s, r, rr):  # instruction models (Qwen3-Embedding, gte-Qwen2-instruct): the query side
        p.add_argument("--prompt-name", help="one of the model's prompts (e.g. query), before A / the source / "
                       "the query (rerank: embedding method only)")
        p.add_argument("--instruction", help="a task description, sent as 'Instruct: …\\nQuery:' before A / the "
                       "source / the query (rerank: embedding method only)")
    sub.add_parser("evaluate", help="Spearman of the model on labelled pairs, or --task rerank: MRR@10, "
                   "nDCG@10 on query-document groups, or --task retrieval: nDCG@10, Recall@k on a BEIR folder "
                   "(see its --help)", add_help=False)
    sub.add_parser("map", help="2-D embedding map of a file's texts as an HTML page (see its --help)", add_help=False)
    h = sub.add_parser("health", help="exit 0 when a running server's /health says ok (Docker HEALTHCHECK)")
    h.add_argument("--url", help="default: http://127.0.0.1:$GRADIO_SERVER_PORT/health")
    h.add_argument("--timeout", type=float, default=4.0, help="seconds to wait for an answer (default: 4)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":  # the server lives above the front ends: see gte_ui.__main__
        print(f"error: start the server with `{_prog()} serve` or `python app.py`", file=sys.stderr)
        return 2
    if argv and argv[0] == "evaluate":  # its own parser owns every flag
        return evaluate_command(argv[1:])
    if argv and argv[0] == "map":  # its own parser owns every flag
        return _guarded(lambda: cli_retrieval.map_command(argv[1:]))
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command in ("download", "health") and rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "embed" and args.chunk_size < 1:
        parser.error("--chunk-size must be at least 1")
    return _guarded(lambda: _run(args, rest))


def _guarded(command: Callable[[], int]) -> int:
    """The one error path of every subcommand: a :class:`GteError` (or an ``OSError``, turned into
    one that names the path) prints ``error: 中文 / English`` on stderr and exits 2; never a
    traceback. Ctrl-C exits 130."""
    try:
        return command()
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable input, no permission on --out, a full disk
        print(f"error: {os_error(exc).message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (an `embed` resumes when the same command runs again)", file=sys.stderr)
        return 130


def os_error(exc: OSError) -> GteError:
    """An ``OSError`` as a bilingual :class:`GteError` naming the path it is about."""
    where = exc.filename or "?"
    if isinstance(exc, FileNotFoundError):
        return _err(f"{where} does not exist", f"{where} 不存在")
    if isinstance(exc, IsADirectoryError):
        return _err(f"{where} is a folder, not a file", f"{where} 是文件夹，不是文件")
    if isinstance(exc, PermissionError):
        return _err(f"no permission to use {where}", f"没有权限访问 {where}")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return disk_full_error(Path(exc.filename or "."), 0)
    return _err(f"{where}: {exc.strerror or exc}", f"{where}：{exc.strerror or exc}")


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    if args.command == "health":
        ok, said = health(args.url, args.timeout)
        print(("healthy: " if ok else "unhealthy: ") + said, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    for name in ("input", "file"):  # a missing input is refused before the model loads
        given = getattr(args, name, None)
        if given is not None and not Path(given).is_file():
            missing = IsADirectoryError if Path(given).is_dir() else FileNotFoundError
            raise os_error(missing(errno.EISDIR if Path(given).is_dir() else errno.ENOENT, "", given))
    h = _heavy()
    if args.command == "download":
        folder = h.download_model(args.model, args.to, hub=args.hub, revision=args.revision)
        print(f"saved to {folder}; run offline with: {_prog()} serve --model {folder} --offline")
        return 0
    settings = parse_settings(rest)  # model flags; anything else is refused by its parser
    options = TextOptions(t2s=args.t2s, nfkc=args.nfkc, collapse_whitespace=args.collapse_whitespace,
                          prompt_name=getattr(args, "prompt_name", None),
                          instruction=getattr(args, "instruction", None))
    if args.command == "rerank":
        service = h.EmbeddingService.from_settings(settings, batching=False)
        docs = list(args.documents)
        if args.file:
            docs += read_candidates_file(args.file, settings.max_upload_bytes)
        rr = service.rerank(args.query, docs, top_n=args.top_n, raw_scores=args.raw_scores, method=args.method,
                            options=options)
        _warn(rr.warnings)
        if args.json:
            print(json.dumps(rr.to_dict(), ensure_ascii=False))
        else:
            print(f"# method: {rr.method} ({rr.model})", file=sys.stderr)
            for row in rr.rows:
                print(f"{row.rank}\t{row.score:.4f}\t{row.text}")
        return 0
    if args.command == "embed" and args.ray:
        report = embed_file_ray(settings, args.input, args.out, address=args.ray, column=args.column,
                                field=args.field, actors=args.ray_actors, progress=not args.quiet,
                                options=options)
        print(json.dumps(asdict(report), ensure_ascii=False))
        return 0
    service = h.EmbeddingService.from_settings(settings, batching=False)
    if args.command == "embed":
        report = embed_file(service, args.input, args.out, column=args.column, field=args.field,
                            chunk_size=args.chunk_size, restart=args.restart, progress=not args.quiet,
                            options=options)
        if report.skipped_blank and Path(args.out).suffix.lower() == ".npy":
            print(f"note: {report.skipped_blank} blank lines have no vector, so .npy rows follow the "
                  "non-blank texts only; write .csv or .parquet to keep each text next to its vector",
                  file=sys.stderr)
        _warn(report.warnings)
        print(json.dumps(asdict(report), ensure_ascii=False))
        return 0
    if args.command == "similarity":
        print(json.dumps(service.pair(args.a, args.b, options=options).to_dict(),
                         ensure_ascii=False))
        return 0
    cands = list(args.candidates)
    if args.file:
        cands += read_candidates_file(args.file, settings.max_upload_bytes)
    result = service.rank(args.source, cands, top_k=args.top_k, options=options)
    _warn(result.warnings)
    if result.prompt:  # stderr: stdout keeps its shape (four columns, or the canonical rows)
        print(f"prompt before the source: {result.prompt!r}", file=sys.stderr)
    if args.json:  # the canonical ranking rows, best first
        print(json.dumps([row.to_dict() for row in result.rows], ensure_ascii=False))
    else:
        for row in result.rows:
            print(f"{row.rank}\t{row.score:.4f}\t{row.verdict.zh}\t{row.text}")
    return 0


def evaluate_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=f"{_prog()} evaluate", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Spearman / Pearson (and ROC-AUC, accuracy, F1 for 0/1 labels) of the model on labelled "
        "pairs, or MRR@10 / nDCG@10 on query-document groups (--task rerank)",
        epilog=_model_epilog(["reranker"]))
    ap.add_argument("file", help="a .tsv/.csv of labelled pairs (or of query, doc, label rows), or the name of "
                    f"a sample the Evaluate tab offers: {', '.join(sample_names())}")
    ap.add_argument("--task", choices=("auto", "pairs", "rerank", "retrieval"), default="auto",
                    help="pairs: Spearman on labelled pairs; rerank: MRR@10, nDCG@10 and mean per-query "
                    "Spearman on query-doc-label groups, embedding alone vs with --reranker; retrieval: nDCG@10, "
                    "MRR@10, Recall@1/10/100, MAP@100 on a BEIR folder (or .zip) or FlagEmbedding {query, pos, "
                    "neg} lines, every loaded model, alone and + --reranker; auto (default): rerank for a file "
                    "whose header has query and doc columns, else pairs (as the Evaluate tab)")
    ap.add_argument("--columns", help="sentence A, sentence B, label: names or 0-based indices, comma-separated")
    ap.add_argument("--out", help="folder for metrics.json and pairs_scored.csv")
    ap.add_argument("--limit", type=int, help="evaluate only the first N pairs")
    ap.add_argument("--save-calibration", action="store_true",
                    help="save verdict bands derived from this data for the model (used at next start)")
    ap.add_argument("--json", action="store_true",
                    help="print every metric as JSON instead of the compact table")
    cli_retrieval.add_retrieval_flags(ap)
    return ap


def evaluate_file(name: str) -> Path:
    """``evaluate``'s input: a file, else one of the samples the Evaluate tab offers by name.

    Raises:
        GteError: neither (naming the samples).
    """
    path = Path(name)
    if path.is_file():
        return path
    if not path.exists() and name in sample_names():
        return sample_path(name)
    if path.is_dir():
        raise os_error(IsADirectoryError(errno.EISDIR, "", name))
    raise _err(f"{name} does not exist (and is not a sample: {', '.join(sample_names())})",
               f"{name} 不存在（也不是示例文件：{'、'.join(sample_names())}）")


def evaluate_command(argv: Sequence[str] | None = None) -> int:
    args, rest = evaluate_parser().parse_known_args(list(sys.argv[1:] if argv is None else argv))
    return _guarded(lambda: _evaluate(args, rest))


def _evaluate(args: argparse.Namespace, rest: list[str]) -> int:
    # the model stack and tqdm on first use: `--help` and `health` (Docker's HEALTHCHECK) stay instant
    from tqdm import tqdm

    from gte_ui.evaluation import rerank as rerank_eval

    if args.task == "retrieval":  # a folder or a .zip, read by the retrieval reader
        return cli_retrieval.evaluate_retrieval(args, rest, tqdm)
    path = evaluate_file(args.file)
    h = _heavy()
    if args.task == "rerank" or (args.task == "auto" and rerank_eval.looks_like_groups(path)):
        return _evaluate_rerank(h, rerank_eval, path, args, rest, tqdm)
    pairs = h.metrics.read_pairs(path, args.columns.split(",") if args.columns else None)
    if args.limit:
        pairs = h.LabelledPairs(pairs.a[:args.limit], pairs.b[:args.limit], pairs.labels[:args.limit], pairs.name)
    settings = parse_settings(rest)
    service = h.EmbeddingService.from_settings(settings, batching=False)
    # Counted in distinct texts (what score_pairs embeds), so the rate reads texts/s.
    texts = len(dict.fromkeys(pairs.a + pairs.b))
    bar = tqdm(total=texts, unit=" texts", desc="evaluating", file=sys.stderr)

    def progress(frac: float, _desc: str) -> None:
        bar.update(round(frac * texts) - bar.n)

    result = h.metrics.evaluate(service, pairs, progress)
    bar.close()
    if args.json:  # the text report says it itself
        _warn(result.warnings)
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(h.metrics.summary_text(result, pairs.name))
    if args.out:  # stderr: stdout stays the table, or one JSON document
        for p in h.metrics.write_results(result, pairs, Path(args.out)):
            print(f"wrote {p}", file=sys.stderr)
    if args.save_calibration:
        # through the service's one door for bands: the file it writes is the one a server reads
        saved = service.set_bands(h.bands_from_result(result, pairs.name))
        print(f"calibration saved to {saved}", file=sys.stderr)
    return 0


def _evaluate_rerank(h, rerank_eval, path: Path, args: argparse.Namespace, rest: list[str], tqdm) -> int:
    # the evaluation job the Evaluate tab runs too
    from gte_ui.evaluation import jobs

    groups = rerank_eval.read_groups(path)  # a malformed file is refused before a model loads
    service = h.EmbeddingService.from_settings(parse_settings(rest), batching=False)
    # a share of the work, not a count: no "%/s" rate (issue 18.8)
    bar = tqdm(total=100, desc="evaluating", file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")

    def progress(frac: float, desc: str) -> None:
        bar.set_description(desc)
        bar.update(int(frac * 100) - bar.n)

    job = jobs.rerank_job(service, groups, limit=args.limit, out=Path(args.out) if args.out else None,
                          progress=progress)
    bar.close()
    _warn([w for r in job.results for w in r.warnings])
    print(json.dumps([r.metrics() for r in job.results], ensure_ascii=False, indent=2))
    for p in job.files:  # stderr: stdout stays one JSON document
        print(f"wrote {p}", file=sys.stderr)
    return 0
