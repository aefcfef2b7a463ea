"""``index {build,list,info,delete}`` and ``search INDEX "query"``: adapters of
:mod:`gte_ui.service.corpus` (resumable build), :mod:`gte_ui.cluster.ray_data` (``--ray``) and
:mod:`gte_ui.service.search`.

Model flags (``--model``, ``--precision``, …), ``--index-dir`` and ``--index-store`` are the
server's settings, put after the command. ``search`` without ``--model`` loads the model the
index was built with. Exit 2 on any refused input, including an index built with another model.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from gte_ui.cluster import ray_data
from gte_ui.core.settings import INDEX_STORES, model_flags_epilog, parse_settings
from gte_ui.frontends.cli.errors import emit, guarded
from gte_ui.frontends.cli.parser import add_text_options, text_options
from gte_ui.frontends.protocols import cli_output
from gte_ui.service.corpus import DEFAULT_CHUNK, CorpusColumns
from gte_ui.service.options import read_options


def build_parser(prog: str) -> argparse.ArgumentParser:
    epilog = model_flags_epilog(prog.rsplit(" ", 1)[0], ["reranker", "index_dir", "index_store"])
    ap = argparse.ArgumentParser(prog=prog, description="corpus indexes: build (resumable), list, info, delete; "
                                 "and search one. Model flags, --index-dir and --index-store go after the command.",
                                 epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    b = sub.add_parser("build", help="embed a corpus file into an index (streams, resumes, publishes atomically)",
                       epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("corpus", help=".txt (one text a line), .csv/.tsv/.parquet (--column) or .jsonl (--field)")
    b.add_argument("--name", required=True, help="the index's name (letters, digits, Chinese, _ . -)")
    b.add_argument("--column", default="text", help="CSV/TSV/Parquet column holding the text (default: text)")
    b.add_argument("--field", default="text", help="JSONL field holding the text (default: text)")
    b.add_argument("--id-column", help="column / field holding each document's id (default: its line number)")
    b.add_argument("--title-column", help="column / field holding a title, read before the text")
    b.add_argument("--store", choices=INDEX_STORES, help="exact, hnsw or milvus (default: --index-store)")
    b.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK,
                   help=f"texts per saved chunk (default {DEFAULT_CHUNK}); a resumed build must use the same")
    b.add_argument("--restart", action="store_true", help="discard an unfinished earlier build of this name")
    b.add_argument("--overwrite", action="store_true", help="replace an index of this name when the build succeeds")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="embed with Ray Data like `embed --ray` (not resumable; the index is still "
                        "published atomically)")
    b.add_argument("--ray-actors", type=int, help="embedding actors with --ray (default: CPUs / --threads)")
    add_text_options(b)
    ls = sub.add_parser("list", help="the indexes in --index-dir")
    ls.add_argument("--json", action="store_true")
    info = sub.add_parser("info", help="one index's manifest (model, dims, rows, store, …) as JSON")
    info.add_argument("name")
    d = sub.add_parser("delete", help="remove an index")
    d.add_argument("name")
    return ap


def search_parser(prog: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description="search an index: top-k documents with scores and "
                                 "verdicts (rank, score, verdict, id, text); --rerank reorders them with --reranker",
                                 epilog=model_flags_epilog(prog.rsplit(" ", 1)[0], ["reranker", "index_dir"]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("index")
    ap.add_argument("query")
    ap.add_argument("--top-k", type=int, default=10, help="hits (1-100, default 10)")
    ap.add_argument("--rerank", action="store_true", help="reorder the hits with the --reranker cross-encoder")
    ap.add_argument("--highlight", action="store_true", help="each hit's best-matching tokens")
    ap.add_argument("--json", action="store_true", help="print the /v1/search answer's JSON")
    return ap


def main(argv: Sequence[str], prog: str) -> int:
    """``argv`` starts with ``index`` or ``search``."""
    argv = list(argv)
    if argv[0] == "search":
        args, rest = search_parser(f"{prog} search").parse_known_args(argv[1:])
        return guarded(lambda: _search(args, rest))
    args, rest = build_parser(f"{prog} index").parse_known_args(argv[1:])
    return guarded(lambda: _index(args, rest))


def _index(args: argparse.Namespace, rest: list[str]) -> int:
    # the model stack on first use: `--help` and `health` stay instant
    from gte_ui.service import corpus, search
    from gte_ui.service.service import EmbeddingService

    if args.command in ("list", "info", "delete"):
        catalog = search.catalog_from_settings(parse_settings(rest))
        if args.command == "list":
            return emit(cli_output.index_list_output(search.list_indexes(catalog), catalog.root, args.json))
        if args.command == "info":
            return emit(cli_output.index_info_output(catalog.open(args.name).manifest.public_dict(),
                                                     catalog.disk_bytes(args.name)))
        catalog.delete(args.name)
        print(f"deleted index {args.name}")
        return 0
    corpus.check_input(Path(args.corpus), args.chunk_size, args.corpus)  # before a model loads
    settings = parse_settings(rest)
    catalog = search.catalog_from_settings(settings)
    store = args.store or settings.index_store
    columns = CorpusColumns(text=args.column, field=args.field, id=args.id_column, title=args.title_column)
    options = read_options(text_options(args))
    service = EmbeddingService.from_settings(settings, batching=False)
    if args.ray:
        report = ray_data.build_index_ray(settings, service, catalog, args.corpus, args.name, columns=columns,
                                          store=store, overwrite=args.overwrite, address=args.ray,
                                          actors=args.ray_actors, progress=not args.quiet, options=options)
    else:
        report = corpus.build_index(service, catalog, args.corpus, args.name, columns=columns, store=store,
                                    chunk_size=args.chunk_size, restart=args.restart, overwrite=args.overwrite,
                                    progress=not args.quiet, options=options)
    return emit(cli_output.index_build_output(report))


def _search(args: argparse.Namespace, rest: list[str]) -> int:
    # the model stack on first use: `--help` and `health` stay instant
    from gte_ui.service import search
    from gte_ui.service.service import EmbeddingService

    settings = parse_settings(rest)
    catalog = search.catalog_from_settings(settings)
    index = catalog.open(args.index)  # 404 before any model loads
    settings = search.settings_for_index(settings, index.manifest, rest)  # no --model: the index's own
    service = EmbeddingService.from_settings(settings, batching=False)
    result = search.search(service, catalog, args.index, args.query, args.top_k, rerank=args.rerank,
                           highlight=args.highlight)
    return emit(cli_output.search_output(result, args.json))
