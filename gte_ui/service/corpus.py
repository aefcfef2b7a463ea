"""Corpus embedding: the resumable chunk pipeline behind ``embed`` and ``index build``.

A corpus file streams in chunks of ``chunk_size`` texts (memory stays constant however big the
file is; each forward pass holds at most ``--max-batch-tokens`` padded tokens); each finished
chunk is saved under a ``.parts/`` folder before the next one starts, so a run that is killed —
Ctrl-C, OOM killer, a lost SSH session — resumes where it stopped without redoing finished chunks,
with bit-identical vectors. ``embed`` assembles the parts into OUT through a temporary file moved
into place with ``os.replace``; ``index build`` writes them into an index folder
(:mod:`gte_ui.engine.vector_index`) that is published by one rename. Either output is absent or
complete, never half-written.

Readers: .txt (one text a line), .csv/.tsv (columns by name), .jsonl (fields by name) and
.parquet (columns by name); an index also takes an id and a title column. Only the standard
library is imported at module level (the CLI's ``--help`` and ``health`` stay instant).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import itertools
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gte_ui.core import csvsafe
from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.tables import KINDS, iter_columns, kind_of, text_cell
from gte_ui.service.options import DEFAULT_OPTIONS, TextOptions

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from gte_ui.engine.vector_index import IndexCatalog, IndexManifest
    from gte_ui.service.results import EmbedResult
    from gte_ui.service.service import EmbeddingService, UnknownTally

INPUT_KINDS = tuple(KINDS)
OUTPUT_KINDS = (".npy", ".csv", ".parquet")
#: how the corpus readers' "no such column / field" messages say to choose one (the CLI's flags)
COLUMN_HINT = ("Choose one with --column", "请用 --column 指定")
FIELD_HINT = ("Choose one with --field", "请用 --field 指定")
DEFAULT_CHUNK = 2048  # texts per saved chunk: ~8 MB of float32 vectors at GTE-large's width


def _err(en: str, zh: str) -> GteError:
    return GteError(ErrorType.VALIDATION, en, zh)


# --------------------------------------------------------------------------- input
@dataclass(frozen=True)
class CorpusColumns:
    """Where a corpus file keeps its texts: ``text`` for .csv/.tsv/.parquet columns, ``field`` for
    .jsonl; ``id`` and ``title`` (optional, either kind) for an index."""

    text: str = "text"
    field: str = "text"
    id: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class CorpusRow:
    """One record: its line (row number for .parquet), text (None when blank), id and title."""

    line: int
    text: str | None
    id: str = ""
    title: str = ""

    @property
    def embed_text(self) -> str:
        """What the model reads: ``title text`` when there is a title (the BEIR convention)."""
        return f"{self.title} {self.text}" if self.title else (self.text or "")


def iter_records(path: Path, column: str = "text", field: str = "text") -> Iterator[tuple[int, str | None]]:
    """Stream ``(line number, text)`` (see :func:`iter_rows`)."""
    return ((r.line, r.text) for r in iter_rows(path, CorpusColumns(text=column, field=field)))


def iter_texts(path: Path, column: str = "text", field: str = "text") -> Iterator[str]:
    """The non-blank texts of ``path`` (see :func:`iter_rows`)."""
    return (t for _, t in iter_records(path, column, field) if t is not None)


def iter_rows(path: Path, columns: CorpusColumns = CorpusColumns()) -> Iterator[CorpusRow]:
    """Stream the records of a .txt (one text a line), .csv/.tsv/.parquet (named columns) or
    .jsonl (named fields). Blank texts come with ``text`` None so the caller can count what it
    skips. Without an id column a record's id is its line number.

    Raises:
        GteError: unsupported file type, a missing column/field (naming the ones that exist),
            a line that is not JSON, a field that is not a string, a file whose encoding
            changes after its first 64 KB.
    """
    path = Path(path)
    kind = kind_of(path.name, default=None)
    text = columns.field if kind == "jsonl" else columns.text
    extra = [c for c in (columns.id, columns.title) if c]
    for n, values in iter_columns(path, [text, *extra], kind=kind, optional=extra, hint=COLUMN_HINT,
                                  field_hint=FIELD_HINT):
        cells = dict(zip([text, *extra], values))
        yield CorpusRow(n, text_cell(values[0], path.name, n, text, numbers=kind == "parquet") or None,
                        text_cell(cells[columns.id], path.name, n, columns.id) if columns.id else str(n),
                        text_cell(cells[columns.title], path.name, n, columns.title) if columns.title else "")


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

    def docs(self, i: int) -> Path:
        """An index build's ``[id, title, text]`` rows of chunk ``i`` (the texts as read, not cleaned)."""
        return self.dir / f"part-{i:07d}.docs.json"

    def finished(self) -> int:
        """Number of complete chunks, counted from 0 without gaps."""
        n = 0
        while self.vectors(n).is_file() and self.texts(n).is_file():
            n += 1
        return n

    def save(self, i: int, texts: Sequence[str], vectors: np.ndarray,
             docs: Sequence[tuple[str, str, str]] | None = None) -> None:
        # numpy on first use: `--help` and `health` stay instant
        import numpy as np

        body = json.dumps(list(texts), ensure_ascii=False)
        docs_body = json.dumps([list(d) for d in docs], ensure_ascii=False) if docs is not None else ""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ensure_free_space(self.dir, len(body.encode("utf-8")) + len(docs_body.encode("utf-8")) + vectors.nbytes + 4096)
        _atomic_write_text(self.texts(i), body)
        if docs is not None:
            _atomic_write_text(self.docs(i), docs_body)
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
    check_input(src, chunk_size, str(src))
    out.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        return _embed_locked(service, src, out, column, field, chunk_size, restart, after_chunk, progress,
                             options or DEFAULT_OPTIONS)


def check_input(src: Path, chunk_size: int | None, shown: str) -> None:
    """The input's kind and presence and the chunk size (None: a run without chunks, ``--ray``),
    before any model work (``shown``: how the messages name the file)."""
    kind_of(src.name, default=None)  # refuses a kind no reader takes
    if not src.is_file():
        raise _err(f"input file {shown} does not exist", f"输入文件 {shown} 不存在")
    if chunk_size is not None and chunk_size < 1:
        raise _err(f"--chunk-size must be at least 1, got {chunk_size}", "--chunk-size 至少为 1")


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
    parts = _Parts(out)
    sweep_temporary_files(out)  # a killed or failed run's half-assembled OUT beside it
    run = _run_chunks(service, src, parts, CorpusColumns(text=column, field=field), chunk_size, restart,
                      after_chunk, progress, options, keep_docs=False, desc=f"embed {src.name}")
    total = _assemble(parts, run.chunks, out, service.dim)
    shutil.rmtree(parts.dir)
    return EmbedReport(texts=total, skipped_blank=run.blanks, chunks=run.chunks, resumed_chunks=run.resumed,
                       out=str(out), seconds=round(time.perf_counter() - t0, 2),
                       unknown_token_share=run.unknown.share, warnings=run.unknown.warnings())


@dataclass
class _Run:
    chunks: int
    resumed: int
    blanks: int
    unknown: UnknownTally  # this run's texts' tokens the vocabulary does not know


def _run_meta(service: EmbeddingService, src: Path, columns: CorpusColumns, chunk_size: int,
              options: TextOptions) -> dict[str, Any]:
    """Everything a chunk's vectors depend on: a resumed run must match it exactly."""
    info = service.info
    stat = src.stat()
    meta = {"input": str(src.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "column": columns.text, "field": columns.field, "chunk_size": chunk_size, "model": info.path,
            "precision": info.precision, "backend": info.backend, "dim": service.dim,
            "max_length": service.max_length, "long_text": options.long_text or service.settings.long_text,
            "text_norm": options.norm.key(), "max_chars": service.settings.max_chars}
    if columns.id or columns.title:  # only an index build reads them; embed's resume state is unchanged
        meta.update(id_column=columns.id, title_column=columns.title)
    return meta


def _run_chunks(service: EmbeddingService, src: Path, parts: _Parts, columns: CorpusColumns, chunk_size: int,
                restart: bool, after_chunk: Callable[[int], None] | None, progress: bool | Callable[[int, int], None],
                options: TextOptions, *, keep_docs: bool, desc: str) -> _Run:
    """The resumable loop shared by ``embed`` and ``index build``: stream ``src`` in chunks, embed
    each, save it under ``parts`` before the next; chunks an earlier run finished are not redone.

    ``progress``: True/False for a tqdm bar on stderr, or a callable ``(texts done, chunks done)``
    (the UI's progress bar)."""
    meta = _run_meta(service, src, columns, chunk_size, options)
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
    for stale in [*parts.dir.glob(".part-*"), *parts.dir.glob(".meta.json.*.tmp")]:  # a killed run's
        stale.unlink(missing_ok=True)
    _atomic_write_text(meta_file, json.dumps(meta, sort_keys=True))

    resumed = parts.finished()
    resumed_texts = sum(parts.rows(i) for i in range(resumed))
    blanks = [0]  # blank records seen, counted by _non_blank as the input streams by
    n_chunks = 0
    # on first use: `--help` and `health` stay instant
    from tqdm import tqdm

    tokens_done, t_run = 0, time.perf_counter()
    unknown = service.unknown_tally()
    bar = tqdm(unit=" texts", unit_scale=True, initial=resumed_texts, disable=progress is not True,
               desc=desc + (f" (resumed {resumed} chunks)" if resumed else ""),
               dynamic_ncols=True, file=sys.stderr)
    done = resumed_texts
    try:
        for i, chunk in enumerate(_chunks(_non_blank(iter_rows(src, columns), blanks), chunk_size)):
            n_chunks = i + 1
            if i < resumed:  # finished by an earlier run: only re-read, to count and move on
                continue
            res = _embed_chunk(service, src, chunk, options)
            parts.save(i, res.texts, res.vectors,
                       [(r.id, r.title, r.text) for r in chunk] if keep_docs else None)
            unknown.add(res.texts)
            # tokens the model ran: a truncated text counts up to max_length, a chunked one in full
            tokens_done += sum(min(n, (res.max_length or n) * c)
                               for n, c in zip(res.token_counts, res.chunks))
            bar.update(len(res.texts))
            done += len(res.texts)
            elapsed = max(time.perf_counter() - t_run, 1e-9)
            bar.set_postfix_str(f"{tokens_done / elapsed:,.0f} tokens/s", refresh=False)
            if callable(progress):
                progress(done, n_chunks)
            if after_chunk is not None:
                after_chunk(i)
    finally:
        bar.close()
    if n_chunks < resumed:
        raise _err(f"{parts.dir} has {resumed} finished chunks but {src.name} now gives only {n_chunks}; "
                   "pass --restart", f"{parts.dir} 与输入文件不一致，请加 --restart")
    return _Run(chunks=n_chunks, resumed=resumed, blanks=blanks[0], unknown=unknown)


def _embed_chunk(service: EmbeddingService, src: Path, chunk: list[CorpusRow],
                 options: TextOptions) -> EmbedResult:
    """One chunk through the service (validated line by line, not cached); errors name the file."""
    try:
        return service.embed_corpus([r.embed_text for r in chunk], [f"line {r.line}" for r in chunk],
                                    options=options)
    except GteError as exc:
        hint = " (raise the limit with --max-chars)" if exc.error_type is ErrorType.TOO_LONG else ""
        raise GteError(exc.error_type, f"{src.name}: {exc.en}{hint}", f"{src.name}：{exc.zh or exc.en}") from exc


def _non_blank(records: Iterator[CorpusRow], blanks: list[int]) -> Iterator[CorpusRow]:
    for row in records:
        if row.text is None:
            blanks[0] += 1
        else:
            yield row


def _chunks(records: Iterator[CorpusRow], size: int) -> Iterator[list[CorpusRow]]:
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



# --------------------------------------------------------------------------- index build
@dataclass
class IndexReport:
    """What one :func:`build_index` call did."""

    name: str
    rows: int
    skipped_blank: int
    chunks: int
    resumed_chunks: int
    store: str
    seconds: float


def index_manifest(service: EmbeddingService, name: str, *, store: str, options: TextOptions | None = None,
                   source: str = "", columns: CorpusColumns | None = None) -> IndexManifest:
    """The manifest an index built now with ``service`` gets: everything that made its vectors."""
    # numpy behind the index module: `--help` and `health` stay instant
    from gte_ui.engine.vector_index import IndexManifest, check_name

    options = options or DEFAULT_OPTIONS
    info = service.info
    return IndexManifest(name=check_name(name), model=info.name, fingerprint=info.fingerprint or info.path,
                         revision=service.settings.revision, precision=info.precision, backend=info.backend,
                         pooling=info.pooling, normalized=True, max_length=service.max_length, dim=service.dim,
                         long_text=options.long_text or service.settings.long_text, text_norm=options.norm.key(),
                         store=store, source=source, model_source=service.settings.model,
                         columns={k: v for k, v in vars(columns or CorpusColumns()).items() if v})


def build_index(service: EmbeddingService, catalog: IndexCatalog, src: str | Path, name: str, *,
                columns: CorpusColumns = CorpusColumns(), store: str = "exact", chunk_size: int = DEFAULT_CHUNK,
                restart: bool = False, overwrite: bool = False, after_chunk: Callable[[int], None] | None = None,
                progress: bool | Callable[[int, int], None] = True,
                options: TextOptions | None = None) -> IndexReport:
    """Embed every non-blank record of ``src`` into the index ``name`` of ``catalog``, resumably.

    The chunks go through the same loop as :func:`embed_file` (state in ``INDEX_DIR/.parts-NAME/``;
    an interrupted build resumes with bit-identical vectors), then into a temporary index folder
    that is renamed into place when complete: a killed build never leaves an index that is served.

    Raises:
        GteError: a bad name, an existing index (unless ``overwrite``), the reader's errors,
            leftover state from a build with other settings (unless ``restart``).
    """
    # numpy behind the index module: `--help` and `health` stay instant
    from gte_ui.engine.vector_index import STORES, check_name

    t0 = time.perf_counter()
    src = Path(src)
    check_name(name)
    if store not in STORES:
        raise _err(f"unknown index store {store!r}: use one of {', '.join(STORES)}",
                   f"未知的索引存储 {store!r}（可选 {', '.join(STORES)}）")
    check_input(src, chunk_size, str(src))
    if (catalog.root / name).exists() and not overwrite:
        raise _err(f"index {name!r} already exists: delete it first or pass --overwrite",
                   f"索引 {name!r} 已存在：请先删除，或加 --overwrite")
    options = options or DEFAULT_OPTIONS
    catalog.root.mkdir(parents=True, exist_ok=True)
    marker = catalog.root / f".parts-{name}"
    with _exclusive(marker):
        parts = _Parts(marker)
        parts.dir = marker  # the resume state lives in the index folder, beside the indexes
        run = _run_chunks(service, src, parts, columns, chunk_size, restart, after_chunk, progress, options,
                          keep_docs=True, desc=f"index {name}")
        manifest = index_manifest(service, name, store=store, options=options, source=src.name, columns=columns)
        writer = catalog.writer(manifest, overwrite=overwrite)
        try:
            for i in range(run.chunks):
                docs = json.loads(parts.docs(i).read_text(encoding="utf-8"))
                _texts, vectors = parts.load(i)
                writer.add([tuple(d) for d in docs], vectors)
            writer.publish(skipped_blank=run.blanks, build_seconds=round(time.perf_counter() - t0, 2))
        except BaseException:
            writer.abort()
            raise
        shutil.rmtree(parts.dir)
    return IndexReport(name=name, rows=writer.rows, skipped_blank=run.blanks, chunks=run.chunks,
                       resumed_chunks=run.resumed, store=store, seconds=round(time.perf_counter() - t0, 2))


def build_index_from_batches(service: EmbeddingService, catalog: IndexCatalog, name: str,
                             batches: Iterator[tuple[Sequence[tuple[str, str, str]], np.ndarray]], *,
                             store: str = "exact", overwrite: bool = False, source: str = "",
                             columns: CorpusColumns = CorpusColumns(), skipped_blank: int = 0,
                             options: TextOptions | None = None) -> IndexReport:
    """An index from already-embedded ``(records, vectors)`` batches (``index build --ray``: Ray
    Data embeds, this writes); published by one rename like :func:`build_index`."""
    t0 = time.perf_counter()
    manifest = index_manifest(service, name, store=store, options=options, source=source, columns=columns)
    writer = catalog.writer(manifest, overwrite=overwrite)
    n = 0
    try:
        for records, vectors in batches:
            writer.add(records, vectors)
            n += 1
        writer.publish(skipped_blank=skipped_blank, build_seconds=round(time.perf_counter() - t0, 2))
    except BaseException:
        writer.abort()
        raise
    return IndexReport(name=name, rows=writer.rows, skipped_blank=skipped_blank, chunks=n, resumed_chunks=0,
                       store=store, seconds=round(time.perf_counter() - t0, 2))
