"""``gte-ui index {build,list,info,delete}`` and ``gte-ui search INDEX "query"``: adapters of
:mod:`gte_ui.service.corpus` (resumable build) and :mod:`gte_ui.service.search`.

Model flags (``--model``, ``--precision``, …), ``--index-dir`` and ``--index-store`` are the
server's settings, put after the command. ``search`` without ``--model`` loads the model the
index was built with. Exit 2 on any refused input, including an index built with another model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from gte_ui.cluster import ray_data
from gte_ui.core.errors import GteError
from gte_ui.core.settings import INDEX_STORES, model_flags_epilog, parse_settings
from gte_ui.service.corpus import DEFAULT_CHUNK, CorpusColumns
from gte_ui.service.options import read_options


def _text_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--t2s", action="store_true", help="Traditional → Simplified Chinese first (OpenCC)")
    p.add_argument("--nfkc", action="store_true", help="full-width → half-width (Unicode NFKC) first")
    p.add_argument("--collapse-whitespace", action="store_true", help="runs of whitespace → one space")


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
    _text_options(b)
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


def _heavy():
    # the model stack on first use: `--help` and `health` stay instant
    from gte_ui.service import corpus, search
    from gte_ui.service.service import EmbeddingService

    return corpus, search, EmbeddingService


def main(argv: Sequence[str], prog: str) -> int:
    """``argv`` starts with ``index`` or ``search``."""
    argv = list(argv)
    try:
        if argv[0] == "search":
            return _search(argv[1:], prog)
        return _index(argv[1:], prog)
    except GteError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable input, full disk, no permission on --index-dir
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _index(argv: list[str], prog: str) -> int:
    args, rest = build_parser(f"{prog} index").parse_known_args(argv)
    corpus, search, EmbeddingService = _heavy()
    if args.command in ("list", "info", "delete"):
        settings = parse_settings(rest)
        catalog = search.catalog_from_settings(settings)
        if args.command == "list":
            rows = search.list_indexes(catalog)
            if args.json:
                print(json.dumps(rows, ensure_ascii=False))
            else:
                for m in rows:
                    print(f"{m['name']}\t{m['rows']}\t{m['dim']}\t{m['store']}\t{m['model']}\t{m['created']}")
                if not rows:
                    print(f"no indexes in {catalog.root}", file=sys.stderr)
            return 0
        if args.command == "info":
            index = catalog.open(args.name)
            print(json.dumps({**index.manifest.public_dict(), "disk_bytes": catalog.disk_bytes(args.name)},
                             ensure_ascii=False, indent=1))
            return 0
        catalog.delete(args.name)
        print(f"deleted index {args.name}")
        return 0
    if args.chunk_size < 1:
        print("error: --chunk-size must be at least 1", file=sys.stderr)
        return 2
    corpus.check_input(Path(args.corpus), args.chunk_size, args.corpus)  # before a model loads
    settings = parse_settings(rest)
    catalog = search.catalog_from_settings(settings)
    store = args.store or settings.index_store
    columns = CorpusColumns(text=args.column, field=args.field, id=args.id_column, title=args.title_column)
    options = read_options({"t2s": args.t2s, "nfkc": args.nfkc, "collapse_whitespace": args.collapse_whitespace})
    if args.ray:
        service = EmbeddingService.from_settings(settings, batching=False)
        report = ray_data.build_index_ray(settings, service, catalog, args.corpus, args.name, columns=columns,
                                          store=store, overwrite=args.overwrite, address=args.ray,
                                          actors=args.ray_actors, progress=not args.quiet, options=options)
    else:
        service = EmbeddingService.from_settings(settings, batching=False)
        report = corpus.build_index(service, catalog, args.corpus, args.name, columns=columns, store=store,
                                    chunk_size=args.chunk_size, restart=args.restart, overwrite=args.overwrite,
                                    progress=not args.quiet, options=options)
    print(json.dumps(asdict(report), ensure_ascii=False))
    return 0


def _search(argv: list[str], prog: str) -> int:
    args, rest = search_parser(f"{prog} search").parse_known_args(argv)
    _, search, EmbeddingService = _heavy()
    settings = parse_settings(rest)
    catalog = search.catalog_from_settings(settings)
    index = catalog.open(args.index)  # 404 before any model loads
    settings = search.settings_for_index(settings, index.manifest, rest)  # no --model: the index's own
    service = EmbeddingService.from_settings(settings, batching=False)
    result = search.search(service, catalog, args.index, args.query, args.top_k, rerank=args.rerank,
                           highlight=args.highlight)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return 0
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"# {result.index}: {result.rows} documents, {result.store}; model {result.model}"
          + (f", reranked by {result.reranker}" if result.reranker else "")
          + f"; embed {result.embed_ms:.1f} ms, search {result.search_ms:.1f} ms", file=sys.stderr)
    for h in result.hits:
        moved = f"\t{h.moved}\t{h.rerank_score:.4f}" if h.rerank_score is not None else ""
        print(f"{h.rank}\t{h.score:.4f}\t{h.verdict.zh}\t{h.id}{moved}\t{h.text}")
    return 0
