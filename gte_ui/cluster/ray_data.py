"""Corpus embedding with Ray Data: ``embed --ray`` and ``index build --ray``.

The same capability as :mod:`gte_ui.service.corpus` (same texts, order and vectors as the local
path), spread over a Ray actor pool: Ray Data reads the file (``ray.data.read_*``), an actor pool
(one model per actor) embeds it through the service's corpus door
(:meth:`EmbeddingService.embed_corpus`: the same validation, normalisation and long-text mode), and
the driver writes Parquet or an index. Before any Ray work the local reader reads the file once: the
column rules, messages and blank count are the local path's. Not resumable (the local path is).

Only the standard library and the service's light modules are imported at module level: ``ray``,
``pyarrow`` and numpy load when a Ray run starts, so the CLI's ``--help`` stays instant.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.tables import sniff_encoding
from gte_ui.service.corpus import (
    CorpusColumns,
    EmbedReport,
    IndexReport,
    build_index_from_batches,
    check_input,
    iter_rows,
)
from gte_ui.service.options import DEFAULT_OPTIONS, TextOptions

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from gte_ui.core.settings import Settings
    from gte_ui.engine.vector_index import IndexCatalog
    from gte_ui.service.service import EmbeddingService

#: reading and stripping text barely uses a CPU: they must not wait for the cores the embedding
#: actors hold (on 2 CPUs, 2 actors would otherwise starve the reads forever)
_LIGHT = {"num_cpus": 0}

#: ``(id, title, text)`` records and their vectors, in input order (an index build's batches)
Batches = Iterator[tuple[list[tuple[str, str, str]], "np.ndarray"]]


class UnknownTotals:
    """A Ray actor beside the pool: each embedding actor adds its batch's unknown-token tally
    (:meth:`EmbeddingService.unknown_tally`), so the driver gets the corpus-wide share and warning
    the local ``embed`` reports, in the same pass, whoever writes the output."""

    def __init__(self) -> None:
        self.tally: Any = None

    def add(self, tally: Any) -> None:
        if self.tally is None:  # the first one carries the model's name and the threshold
            self.tally = tally
            return
        self.tally.tokens += tally.tokens
        self.tally.unknown += tally.unknown
        self.tally.characters.update(tally.characters)

    def result(self) -> Any:
        return self.tally


class RayEmbedder:
    """One Ray Data actor: loads the model once, embeds batches of texts (``map_batches``)."""

    def __init__(self, settings: Settings, options: TextOptions, totals: Any | None) -> None:
        # the model stack, in the actor's own process
        from gte_ui.service.service import EmbeddingService

        self.service = EmbeddingService.from_settings(settings, batching=False)
        self.options = options
        self.totals = totals  # an UnknownTotals actor; None: nobody reads the share (an index build)

    def _count_unknown(self, texts: list[str]) -> None:
        if self.totals is None:
            return
        # ray: in the actor's process, where the pipeline already imported it
        import ray

        tally = self.service.unknown_tally()
        tally.add(texts)
        tally.tokenizer = None  # the counts travel, not the vocabulary
        ray.get(self.totals.add.remote(tally))  # done before this batch's rows reach the driver

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        # numpy: Ray Data's batch format, imported in the actor
        import numpy as np

        texts = [str(t) for t in batch["text"]]
        titles = [str(t) for t in batch["title"]] if "title" in batch else None
        # an index's title is read before its text (the local path's CorpusRow.embed_text)
        read = [f"{h} {t}" if h else t for h, t in zip(titles, texts)] if titles else texts
        # the local path's door: the same validation, normalisation and long-text mode, no cache
        res = self.service.embed_corpus(read, [f"text {t[:20]!r}" for t in read], options=self.options)
        self._count_unknown(res.texts)
        if titles is None:
            return {"text": np.array(res.texts, dtype=object), "vector": res.vectors}
        # an index keeps the texts as read, beside their id and title
        return {"text": np.array(texts, dtype=object), "id": batch["id"], "title": batch["title"],
                "vector": res.vectors}


def _err(en: str, zh: str) -> GteError:
    return GteError(ErrorType.VALIDATION, en, zh)


def check_source(src: Path, columns: CorpusColumns) -> int:
    """The local reader over the whole input, before any Ray work: its kind, presence, columns /
    fields and cell types with the local path's messages. Returns the blank records (no vector)."""
    check_input(src, None, str(src))
    blanks = sum(1 for row in iter_rows(src, columns) if row.text is None)
    encoding = sniff_encoding(src) if src.suffix.lower() != ".parquet" else "utf-8"
    if src.suffix.lower() == ".jsonl" and encoding not in ("utf-8", "utf-8-sig"):
        raise _err(f"{src.name} is {encoding} text: --ray reads .jsonl as UTF-8 only; convert it first "
                   f"(iconv -f {encoding.upper()} -t UTF-8) or embed without --ray",
                   f"{src.name} 的编码是 {encoding}：--ray 只能读取 UTF-8 的 .jsonl，请先转换为 UTF-8，或不加 --ray")
    return blanks


def read_dataset(src: Path, columns: CorpusColumns, keep_docs: bool = False) -> Any:
    """The input as a Ray Data dataset with one string column ``text``, blanks dropped; with
    ``keep_docs`` (an index build) also ``id`` and ``title`` (from their columns, else empty).
    The encoding is the one the local reader sniffs (UTF-8, UTF-16 by BOM, else GB18030)."""
    # ray and pyarrow: the "ray" extra, imported only for --ray
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import ray.data

    kind = src.suffix.lower()
    wanted = list(dict.fromkeys(c for c in (columns.text, columns.id, columns.title) if c))
    name = columns.text
    if kind == ".txt":
        name = "text"
        ds = ray.data.read_text(str(src), encoding=sniff_encoding(src), ray_remote_args=_LIGHT)
    elif kind in (".csv", ".tsv"):
        encoding = sniff_encoding(src)  # Arrow skips a UTF-8 BOM itself; other encodings are transcoded
        ds = ray.data.read_csv(str(src), read_options=pacsv.ReadOptions(
                                   encoding="utf8" if encoding == "utf-8-sig" else encoding),
                               parse_options=pacsv.ParseOptions(delimiter="\t" if kind == ".tsv" else ","),
                               convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in wanted},
                                                                    include_columns=wanted),
                               ray_remote_args=_LIGHT)
    elif kind == ".parquet":
        ds = ray.data.read_parquet(str(src), columns=wanted, ray_remote_args=_LIGHT)
    else:
        name = columns.field
        ds = ray.data.read_json(str(src), lines=True, ray_remote_args=_LIGHT)

    def strip(batch: dict[str, Any]) -> dict[str, Any]:
        # numpy: Ray Data's batch format, imported in the worker
        import numpy as np

        def clean(values: Any) -> list[str]:
            return [(t or "").strip() if isinstance(t, str) or t is None else str(t) for t in values]

        texts = clean(batch[name])
        keep = [i for i, t in enumerate(texts) if t]
        out = {"text": np.array([texts[i] for i in keep], dtype=object)}
        if keep_docs:
            n = len(texts)
            ids = clean(batch[columns.id]) if columns.id else [""] * n
            titles = clean(batch[columns.title]) if columns.title else [""] * n
            out.update(id=np.array([ids[i] for i in keep], dtype=object),
                       title=np.array([titles[i] for i in keep], dtype=object))
        return out

    return ds.map_batches(strip, batch_format="numpy", **_LIGHT)


def _embedded(settings: Settings, src: Path, columns: CorpusColumns, address: str, actors: int | None,
              progress: bool, options: TextOptions | None, keep_docs: bool) -> tuple[Any, Any]:
    """Join (or start) Ray and chain read → actor pool; output rows keep the input's order.
    Returns the dataset and the :class:`UnknownTotals` actor its embedders report to (an
    ``embed``; an index build reports no share, as the local build does)."""
    # ray: a heavy optional dependency (the "ray" extra), imported only for --ray
    import ray

    if not ray.is_initialized():
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # output rows follow the input (ids by row number hold)
    ctx.enable_progress_bars = progress
    threads = settings.threads or 1
    pool = actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
    # sums counts: needs no core of its own
    totals = None if keep_docs else ray.remote(num_cpus=0)(UnknownTotals).remote()
    return read_dataset(src, columns, keep_docs).map_batches(
        RayEmbedder, fn_constructor_args=(settings.replace(threads=threads), options or DEFAULT_OPTIONS, totals),
        batch_size=settings.batch_size * 8, compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=threads,
        batch_format="numpy"), totals


def embed_file_ray(settings: Settings, src: str | Path, out: str | Path, *, address: str = "local",
                   column: str = "text", field: str = "text", actors: int | None = None,
                   progress: bool = True, options: TextOptions | None = None) -> EmbedReport:
    """``embed --ray``: Ray Data reads ``src``, an actor pool embeds it, Parquet comes out.

    The same texts, order and vectors as :func:`gte_ui.service.corpus.embed_file`'s .parquet.
    ``out`` ending in ``.parquet`` is one file (the driver streams the results into it, through a
    temporary name); any other ``out`` is a folder that Ray's workers write their own Parquet files
    into. ``actors`` defaults to the cluster's CPUs / ``--threads``.
    """
    # pyarrow and ray: the "ray" extra, imported only for --ray
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    t0 = time.perf_counter()
    src, out = Path(src), Path(out)
    columns = CorpusColumns(text=column, field=field)
    blanks = check_source(src, columns)
    ds, totals = _embedded(settings, src, columns, address, actors, progress, options, keep_docs=False)
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
    unknown = ray.get(totals.result.remote())
    ray.kill(totals)
    return EmbedReport(texts=rows, skipped_blank=blanks, chunks=0, resumed_chunks=0, out=str(out),
                       seconds=round(time.perf_counter() - t0, 2),
                       unknown_token_share=unknown.share if unknown else 0.0,
                       warnings=unknown.warnings() if unknown else [])


def index_batches_ray(settings: Settings, src: str | Path, columns: CorpusColumns, *, address: str = "local",
                      actors: int | None = None, progress: bool = True,
                      options: TextOptions | None = None) -> tuple[int, Batches]:
    """Ray Data reads and embeds ``src`` like ``embed --ray``; returns (blank records skipped,
    batches of ((id, title, text) records, vectors)) in input order. Without an id column a
    record's id is its row number among the non-blank texts."""
    src = Path(src)
    blanks = check_source(src, columns)
    ds, _ = _embedded(settings, src, columns, address, actors, progress, options, keep_docs=True)

    def batches() -> Batches:
        row = 0
        for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
            records = []
            for rid, title, text in zip(batch["id"], batch["title"], batch["text"]):
                row += 1
                records.append((str(rid) if columns.id else str(row), str(title), str(text)))
            yield records, batch["vector"].astype("float32", copy=False)

    return blanks, batches()


def build_index_ray(settings: Settings, service: EmbeddingService, catalog: IndexCatalog, src: str | Path,
                    name: str, *,
                    columns: CorpusColumns | None = None, store: str = "exact", overwrite: bool = False,
                    address: str = "local", actors: int | None = None, progress: bool = True,
                    options: TextOptions | None = None) -> IndexReport:
    """``index build --ray``: :func:`index_batches_ray` into an index published by one rename
    (:func:`gte_ui.service.corpus.build_index_from_batches`). ``settings`` go to the actors;
    ``service``, the driver's, loaded from them, names the model in the manifest. Not resumable."""
    columns = columns or CorpusColumns()
    blanks, batches = index_batches_ray(settings, src, columns, address=address, actors=actors,
                                        progress=progress, options=options)
    return build_index_from_batches(service, catalog, name, batches, store=store, overwrite=overwrite,
                                    columns=columns, skipped_blank=blanks, source=Path(src).name, options=options)
