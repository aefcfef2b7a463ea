"""Corpus indexes on disk: one folder per index, holding a manifest, the vectors, the documents
and, per store, its search structure. The engine room of ``index build`` and search.

Interface (the service's search and corpus modules and the embedding map call only this)::

    catalog = IndexCatalog(settings.index_dir, store_options)   # Settings.index_dir
    catalog.names() -> list[str]                       # published indexes, sorted
    catalog.manifests() -> list[IndexManifest]
    index = catalog.open(name) -> VectorIndex          # lazy, cached; reopened when rebuilt
                                                       # GteError INDEX_NOT_FOUND (404) when absent
    index.manifest -> IndexManifest                    # model, revision, precision, pooling,
                                                       # normalised, max_length, dim, text options,
                                                       # rows, created, store
    index.vectors -> np.ndarray [rows, dim] float32    # memory-mapped, L2-normalised rows
    index.records(rows) -> list[IndexRecord]           # (row, id, title, text) per row number
    index.search(queries [q, dim], k) -> (scores [q, k] float32, rows [q, k] int64), best first
    index.exact_search(queries, k)                     # the same by brute force (evaluation)
    catalog.delete(name)
    writer = catalog.writer(name, manifest, overwrite=False)   # writes into a temporary folder
    writer.add(records, vectors) ...; writer.publish() -> Path  # one rename: all or nothing

A build writes into ``.tmp-NAME-PID/`` inside the index folder and renames it to ``NAME/`` only
when complete, so a killed build never leaves an index that :meth:`IndexCatalog.open` would serve.

Stores (``--index-store``; measured in bench/bench_index.py, figures in docs/performance.md):
``exact`` (the float32 matrix, memory-mapped, BLAS + ``argpartition``), ``int8`` (an exact scan of
an int8 copy with usearch's SIMD kernels, the best candidates rescored in float32), ``hnsw``
(faiss-cpu's HNSW graph beside the vectors), ``milvus`` (pymilvus: Milvus Lite, a file inside the index, or a Milvus
server / cluster at ``--milvus-uri``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import INDEX_STORES

STORES = INDEX_STORES
MANIFEST = "manifest.json"
VECTORS = "vectors.f32"  # raw float32, row-major [rows, dim] (shape in the manifest)
DOCS = "docs.jsonl"  # one {"id", "title", "text"} a line, row order
OFFSETS = "docs.offsets.npy"  # int64 byte offset of each line of DOCS, plus its end
INT8_FILE = "vectors.i8"  # the int8 copy the int8 store scans: round(x * 127 / max|x|) per matrix
HNSW_FILE = "hnsw.faiss"
MILVUS_FILE = "milvus.db"
NAME_RE = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_.\-\u4e00-\u9fff]{0,63}$")
MANIFEST_VERSION = 1


def _err(error_type: ErrorType, en: str, zh: str) -> GteError:
    return GteError(error_type, en, zh)


def check_name(name: object) -> str:
    """An index name: letters, digits, Chinese characters, ``_ . -``; at most 64; no path parts."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _err(ErrorType.VALIDATION,
                   f"index name {name!r} is not valid: use 1-64 letters, digits, Chinese characters, '_', '.' or '-' "
                   "(not starting with '.', '_' or '-')",
                   f"索引名 {name!r} 无效：请用 1-64 个字母、数字、汉字、_ . -")
    return name


@dataclass(frozen=True)
class IndexManifest:
    """Everything that made the vectors, so an index is never queried with another model."""

    name: str
    model: str  # the public model name (hub id, or a folder's last component)
    fingerprint: str  # content hash of the model folder ("" when unknown)
    revision: str | None
    precision: str
    backend: str
    pooling: str
    normalized: bool  # rows are L2-normalised: inner product = cosine
    max_length: int
    dim: int
    long_text: str
    text_norm: str  # TextNorm.key() of the options the corpus was embedded with
    rows: int = 0
    created: str = ""  # ISO 8601, UTC
    store: str = "exact"
    source: str = ""  # the corpus file's name (not its path)
    columns: dict = field(default_factory=dict)  # text / id / title column or field names
    skipped_blank: int = 0
    build_seconds: float = 0.0
    version: int = MANIFEST_VERSION
    #: what was asked to load the model (an id, or a folder: kept out of public_dict); `search`
    #: without --model loads it
    model_source: str = ""
    int8_scale: float = 0.0  # the int8 store's quantisation scale

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexManifest:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def public_dict(self) -> dict[str, Any]:
        """What clients are shown: no server paths (the model's folder), the fingerprint's prefix."""
        d = self.to_dict()
        fp = self.fingerprint
        d["fingerprint"] = "" if "/" in fp or "\\" in fp else fp[:12]  # a folder when no hash was known
        del d["model_source"]
        return d


@dataclass(frozen=True)
class IndexRecord:
    """One document of an index."""

    row: int
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class StoreOptions:
    """How stores build and search (settings: --hnsw-m, --hnsw-ef, --milvus-uri)."""

    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 256
    milvus_uri: str | None = None  # None: Milvus Lite, a file inside the index folder


# --------------------------------------------------------------------------- stores
class _Searcher:
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int,
                chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force inner-product top-k: scores [q, k] float32 and rows [q, k] int64, best first
    (ties: lower row first). One BLAS GEMM per ``chunk`` queries, then ``argpartition``: memory holds
    ``chunk × rows`` scores, never the whole matrix (retrieval evaluation runs 1,000 × 100k)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, vectors.shape[0])
    out_rows = np.empty((queries.shape[0], k), dtype=np.int64)
    out_scores = np.empty((queries.shape[0], k), dtype=np.float32)
    for start in range(0, queries.shape[0], chunk):
        sims = queries[start:start + chunk] @ vectors.T
        n = sims.shape[1]  # the k largest sit past n - k after the partition (no negated copy)
        top = np.argpartition(sims, n - k, axis=1)[:, n - k:] if k < n else np.tile(np.arange(n), (len(sims), 1))
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)  # score descending; ties: lower row first
        out_rows[start:start + chunk] = np.take_along_axis(top, order, axis=1)
        out_scores[start:start + chunk] = np.take_along_axis(top_scores, order, axis=1)
    return out_scores, out_rows


class _ExactSearcher(_Searcher):
    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return exact_top_k(self.vectors, queries, k)


def _int8_scale(vectors: np.ndarray) -> float:
    """One scale for the whole matrix (rows are unit vectors, so one scale keeps their order)."""
    peak = 0.0
    for start in range(0, vectors.shape[0], 16384):
        peak = max(peak, float(np.abs(vectors[start:start + 16384]).max()))
    return 127.0 / peak if peak > 0 else 1.0


def _build_int8(folder: Path, vectors: np.ndarray) -> float:
    scale = _int8_scale(vectors)
    with open(folder / INT8_FILE, "wb") as f:
        f.writelines(np.clip(np.rint(vectors[start:start + 16384] * scale), -127, 127).astype(np.int8).tobytes() for start in range(0, vectors.shape[0], 16384))
    return scale


class _Int8Searcher(_Searcher):
    """An exact scan of the int8 copy (usearch's SIMD kernels: a quarter of float32's memory
    traffic), then the best ``RESCORE`` × k candidates rescored in float32: the scores returned
    are the float32 ones, and the candidates' margin keeps recall@10 at 1.0 in bench_index."""

    RESCORE = 8
    MIN_CANDIDATES = 100

    def __init__(self, folder: Path, vectors: np.ndarray, scale: float) -> None:
        self.vectors = vectors
        self.codes = np.memmap(folder / INT8_FILE, dtype=np.int8, mode="r", shape=vectors.shape)
        self.scale = scale
        self.threads = os.cpu_count() or 1

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        # usearch: an optional dependency, loaded only for the int8 store
        from usearch.index import MetricKind
        from usearch.index import search as usearch_search

        n = self.vectors.shape[0]
        k = min(k, n)
        count = min(n, max(self.MIN_CANDIDATES, self.RESCORE * k))
        q8 = np.clip(np.rint(queries * self.scale), -127, 127).astype(np.int8)
        found = usearch_search(self.codes, q8, count, MetricKind.IP, exact=True, threads=self.threads)
        keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)
        scores = np.empty((len(queries), k), np.float32)
        rows = np.empty((len(queries), k), np.int64)
        for i, q in enumerate(queries):
            cand = np.unique(keys[i][keys[i] >= 0])  # sorted: the rows are read in file order
            s, r = exact_top_k(self.vectors[cand], q[None], k)
            scores[i], rows[i] = s[0], cand[r[0]]
        return scores, rows


class _HnswSearcher(_Searcher):
    def __init__(self, folder: Path, opts: StoreOptions) -> None:
        # faiss-cpu: an optional dependency, loaded only for the hnsw store
        import faiss

        self.index = faiss.read_index(str(folder / HNSW_FILE))
        self.index.hnsw.efSearch = opts.hnsw_ef_search
        self.lock = threading.Lock()  # efSearch is index state; searches are read-only otherwise

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.index.ntotal)
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores.astype(np.float32), rows.astype(np.int64)


def _build_hnsw(folder: Path, vectors: np.ndarray, opts: StoreOptions) -> None:
    # faiss-cpu: an optional dependency, loaded only for the hnsw store
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], opts.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = opts.hnsw_ef_construction
    step = 16384  # add in slices: the mmap'd matrix is never copied whole
    for start in range(0, vectors.shape[0], step):
        index.add(np.ascontiguousarray(vectors[start:start + step]))
    faiss.write_index(index, str(folder / HNSW_FILE))


def _milvus_client(folder: Path, opts: StoreOptions) -> Any:
    # pymilvus: an optional dependency, loaded only for the milvus store
    from pymilvus import MilvusClient

    return MilvusClient(opts.milvus_uri or str(folder / MILVUS_FILE))


def _milvus_collection(manifest: IndexManifest) -> str:
    return "gte_" + re.sub(r"[^A-Za-z0-9_]", "_", manifest.name) + "_" + manifest.created.replace("-", "")[:8]


def _build_milvus(folder: Path, vectors: np.ndarray, manifest: IndexManifest, opts: StoreOptions) -> None:
    client = _milvus_client(folder, opts)
    name = _milvus_collection(manifest)
    if client.has_collection(name):
        client.drop_collection(name)
    # pymilvus: an optional dependency, loaded only for the milvus store
    from pymilvus import DataType, MilvusClient

    # FLAT: exact search. An explicit schema: create_collection's quick set-up (dimension=...)
    # silently ignores index_params and builds AUTOINDEX, which answered recall@10 0.15-0.28 at
    # 100k x 1024 (bench_index); with the schema the index is FLAT and recall 1.0.
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
    params = client.prepare_index_params()
    params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
    step = 4096
    for start in range(0, vectors.shape[0], step):
        block = vectors[start:start + step]
        client.insert(name, [{"id": start + i, "vector": v.tolist()} for i, v in enumerate(block)])
    client.flush(name)  # sealed segments: what a reopened collection serves through the FLAT index
    client.close()
    _release_lite(folder, opts)


def _release_lite(folder: Path, opts: StoreOptions) -> None:
    """Stop the Milvus Lite server of ``folder``'s file: it holds a lock on the file, which the
    rename into place (or a delete) must not carry along."""
    if opts.milvus_uri is None:
        # milvus-lite: optional, only behind the milvus store's default (a file per index)
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(folder / MILVUS_FILE))


class _MilvusSearcher(_Searcher):
    def __init__(self, folder: Path, manifest: IndexManifest, opts: StoreOptions) -> None:
        self.client = _milvus_client(folder, opts)
        self.name = _milvus_collection(manifest)
        self.client.load_collection(self.name)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        hits = self.client.search(self.name, data=[q.tolist() for q in queries], limit=k,
                                  search_params={"metric_type": "IP"})
        scores = np.array([[h["distance"] for h in row] for row in hits], dtype=np.float32)
        rows = np.array([[h["id"] for h in row] for row in hits], dtype=np.int64)
        return scores, rows


# --------------------------------------------------------------------------- one index
class VectorIndex:
    """A published index, opened read-only: vectors memory-mapped, documents read on demand."""

    def __init__(self, folder: Path, opts: StoreOptions | None = None) -> None:
        self.folder = folder
        self.opts = opts or StoreOptions()
        try:
            self.manifest = IndexManifest.from_dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise _err(ErrorType.INDEX_NOT_FOUND, f"index {folder.name!r} has no readable manifest",
                       f"索引 {folder.name!r} 的清单无法读取") from exc
        m = self.manifest
        self.vectors: np.ndarray = (np.memmap(folder / VECTORS, dtype=np.float32, mode="r", shape=(m.rows, m.dim))
                                    if m.rows else np.zeros((0, m.dim), np.float32))
        self._offsets = np.load(folder / OFFSETS, mmap_mode="r")
        self._searcher: _Searcher | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.manifest.name

    def _store(self) -> _Searcher:
        try:
            return self._open_store()
        except ImportError as exc:
            package = {"int8": "usearch", "hnsw": "faiss-cpu", "milvus": "pymilvus milvus-lite"}.get(
                self.manifest.store, exc.name or "?")
            raise _err(ErrorType.CONFIG, f"index {self.name!r} uses the {self.manifest.store} store, which needs "
                       f"`pip install {package}`", f"索引 {self.name!r} 需要安装 {package}") from exc

    def _open_store(self) -> _Searcher:
        with self._lock:
            if self._searcher is None:
                store = self.manifest.store
                if store == "int8":
                    self._searcher = _Int8Searcher(self.folder, self.vectors, self.manifest.int8_scale)
                elif store == "hnsw":
                    self._searcher = _HnswSearcher(self.folder, self.opts)
                elif store == "milvus":
                    self._searcher = _MilvusSearcher(self.folder, self.manifest, self.opts)
                else:
                    self._searcher = _ExactSearcher(self.vectors)
            return self._searcher

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows by inner product (= cosine: rows and queries are L2-normalised).

        Args:
            queries: float32 [q, dim].
        Returns:
            scores float32 [q, min(k, rows)] and row numbers int64 [q, min(k, rows)], best first.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.manifest.dim:
            raise _err(ErrorType.MODEL_MISMATCH,
                       f"query vectors have {queries.shape[1]} dimensions; index {self.name!r} has {self.manifest.dim}",
                       f"查询向量维度 {queries.shape[1]} 与索引 {self.name!r} 的维度 {self.manifest.dim} 不符")
        if self.manifest.rows == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self._store().search(queries, k)

    def exact_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The same answer by brute force over the memory-mapped vectors, whatever the store."""
        return exact_top_k(self.vectors, np.atleast_2d(np.asarray(queries, dtype=np.float32)), k)

    def records(self, rows: Sequence[int]) -> list[IndexRecord]:
        """The documents at ``rows`` (row numbers, as :meth:`search` returns them)."""
        out = []
        with open(self.folder / DOCS, "rb") as f:
            for row in rows:
                row = int(row)
                if not 0 <= row < self.manifest.rows:
                    raise _err(ErrorType.VALIDATION, f"row {row} is outside index {self.name!r} "
                               f"(0-{self.manifest.rows - 1})", f"行号 {row} 超出索引范围")
                start, end = int(self._offsets[row]), int(self._offsets[row + 1])
                f.seek(start)
                d = json.loads(f.read(end - start).decode("utf-8"))
                out.append(IndexRecord(row=row, id=d["id"], title=d.get("title", ""), text=d["text"]))
        return out

    def close(self) -> None:
        searcher = self._searcher
        if isinstance(searcher, _MilvusSearcher):
            searcher.client.close()
            _release_lite(self.folder, self.opts)


# --------------------------------------------------------------------------- writing
class IndexWriter:
    """Writes one index into a temporary folder; :meth:`publish` renames it into place."""

    def __init__(self, root: Path, manifest: IndexManifest, opts: StoreOptions, overwrite: bool = False) -> None:
        check_name(manifest.name)
        if manifest.store not in STORES:
            raise _err(ErrorType.VALIDATION, f"unknown index store {manifest.store!r}: use one of {', '.join(STORES)}",
                       f"未知的索引存储 {manifest.store!r}（可选 {', '.join(STORES)}）")
        self.root, self.manifest, self.opts, self.overwrite = root, manifest, opts, overwrite
        self.final = root / manifest.name
        if self.final.exists() and not overwrite:
            raise _err(ErrorType.VALIDATION, f"index {manifest.name!r} already exists: delete it first or pass --overwrite",
                       f"索引 {manifest.name!r} 已存在：请先删除，或加 --overwrite")
        root.mkdir(parents=True, exist_ok=True)
        self.tmp = root / f".tmp-{manifest.name}-{os.getpid()}"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        self._vec = open(self.tmp / VECTORS, "wb")  # noqa: SIM115 - open across add() calls, closed in publish/abort
        self._docs = open(self.tmp / DOCS, "wb")  # noqa: SIM115 - as above
        self._offsets = [0]
        self.rows = 0

    def add(self, records: Sequence[tuple[str, str, str]], vectors: np.ndarray) -> None:
        """Append ``(id, title, text)`` records and their vectors float32 [n, dim], in order."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(records), self.manifest.dim):
            raise _err(ErrorType.VALIDATION, f"{len(records)} records but vectors of shape {vectors.shape}",
                       "记录数与向量数不一致")
        self._vec.write(vectors.tobytes())
        for rid, title, text in records:
            line = json.dumps({"id": rid, "title": title, "text": text}, ensure_ascii=False).encode("utf-8") + b"\n"
            self._docs.write(line)
            self._offsets.append(self._offsets[-1] + len(line))
        self.rows += len(records)

    def publish(self, **manifest_updates: Any) -> Path:
        """Finish the store, write the manifest last, rename into place; returns the index folder."""
        self._vec.close()
        self._docs.close()
        np.save(self.tmp / OFFSETS, np.asarray(self._offsets, dtype=np.int64))
        m = self.manifest
        m = IndexManifest.from_dict({**m.to_dict(), **manifest_updates, "rows": self.rows,
                                     "created": m.created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        self.manifest = m
        vectors = (np.memmap(self.tmp / VECTORS, dtype=np.float32, mode="r", shape=(m.rows, m.dim))
                   if m.rows else np.zeros((0, m.dim), np.float32))
        if m.rows and m.store == "int8":
            m = IndexManifest.from_dict({**m.to_dict(), "int8_scale": _build_int8(self.tmp, vectors)})
            self.manifest = m
        elif m.rows and m.store == "hnsw":
            _build_hnsw(self.tmp, vectors, self.opts)
        elif m.rows and m.store == "milvus":
            _build_milvus(self.tmp, vectors, m, self.opts)
        del vectors
        tmp_manifest = self.tmp / (MANIFEST + ".tmp")
        tmp_manifest.write_text(json.dumps(m.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp_manifest, self.tmp / MANIFEST)
        old = None
        if self.final.exists():
            if not self.overwrite:
                raise _err(ErrorType.VALIDATION, f"index {m.name!r} appeared while building; not replaced",
                           f"索引 {m.name!r} 在构建期间已被创建，未覆盖")
            old = self.root / f".old-{m.name}-{os.getpid()}"
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.final

    def abort(self) -> None:
        """Drop the temporary folder (a failed build)."""
        for f in (self._vec, self._docs):
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------- the folder of indexes
class IndexCatalog:
    """The folder of indexes (``--index-dir``). Opens each lazily and keeps it open; an index
    rebuilt or added while serving is seen at the next :meth:`open` (its manifest changes)."""

    def __init__(self, root: str | Path, opts: StoreOptions | None = None) -> None:
        self.root = Path(root).expanduser()
        self.opts = opts or StoreOptions()
        self._open: dict[str, tuple[float, VectorIndex]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Published indexes (folders with a manifest); temporary build folders are not."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())

    def manifests(self) -> list[IndexManifest]:
        out = []
        for name in self.names():
            try:
                out.append(self.open(name).manifest)
            except GteError:  # removed or unreadable between listing and opening
                continue
        return out

    def path(self, name: str) -> Path:
        return self.root / check_name(name)

    def open(self, name: object) -> VectorIndex:
        """The index called ``name``. Raises GteError INDEX_NOT_FOUND (404) naming the ones there are."""
        folder = self.path(name)  # type: ignore[arg-type]
        manifest = folder / MANIFEST
        try:
            stamp = manifest.stat().st_mtime_ns
        except OSError:
            known = ", ".join(self.names()) or "(none)"
            raise _err(ErrorType.INDEX_NOT_FOUND, f"no index named {name!r}; indexes: {known}",
                       f"没有名为 {name!r} 的索引；现有索引：{known}") from None
        with self._lock:
            cached = self._open.get(folder.name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            index = VectorIndex(folder, self.opts)
            self._open[folder.name] = (stamp, index)
            if cached is not None:
                cached[1].close()
            return index

    def writer(self, manifest: IndexManifest, *, overwrite: bool = False) -> IndexWriter:
        return IndexWriter(self.root, manifest, self.opts, overwrite)

    def delete(self, name: str) -> None:
        folder = self.path(name)
        if not (folder / MANIFEST).is_file():
            self.open(name)  # raises INDEX_NOT_FOUND with the list
        with self._lock:
            cached = self._open.pop(folder.name, None)
            if cached is not None:
                cached[1].close()
        trash = self.root / f".del-{folder.name}-{os.getpid()}"
        os.replace(folder, trash)  # unlisted at once, even if removing the files takes a while
        shutil.rmtree(trash, ignore_errors=True)

    def disk_bytes(self, name: str) -> int:
        return sum(p.stat().st_size for p in self.path(name).rglob("*") if p.is_file())
