"""``map FILE --out map.html``: the embedding map of a file's texts (or of an index) as a
self-contained HTML page; an adapter of :mod:`gte_ui.service.embedding_map`. Its parser owns
every flag."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gte_ui.core.settings import model_flags_epilog, parse_settings
from gte_ui.frontends.cli.parser import prog


def map_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=f"{prog()} map", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=model_flags_epilog(prog()),
        description="2-D embedding map (PCA, or UMAP when umap-learn is installed) of a .txt/.csv/.tsv/.jsonl "
        "file's texts, or of a corpus index (--index, from its stored vectors with its own model), coloured by "
        "k-means cluster or a label column, queries drawn over it; more than --map-max-points texts are sampled")
    ap.add_argument("--index", help="instead of FILE: a corpus index in --index-dir (gte-ui index build)")
    # FILE is positional, so it exists only without --index: the model flags' values that follow
    # (--device cpu, …) would otherwise be read as FILE
    if not any(a == "--index" or a.startswith("--index=") for a in argv):
        ap.add_argument("file", help="the corpus file (or --index NAME)")
    ap.add_argument("--out", required=True, help="the .html page to write (plotly, works offline)")
    ap.add_argument("--column", help="the text column / field (default: text, sentence, … or the first column)")
    ap.add_argument("--label-column", help="colour by this column instead of k-means clusters")
    ap.add_argument("--queries", help="a .txt of queries (one a line) drawn as stars over the corpus")
    ap.add_argument("--method", choices=("pca", "umap"), default="pca", help="projection (umap needs umap-learn)")
    ap.add_argument("--clusters", type=int, default=8, help="k-means clusters when not colouring by label (default 8)")
    ap.add_argument("--seed", type=int, default=0, help="sampling, k-means and UMAP seed (default 0)")
    return ap


def map_command(argv: Sequence[str]) -> int:
    """Bad input raises :class:`GteError` or ``OSError`` (the caller's one error path prints them, exit 2)."""
    argv = list(argv)
    args, rest = map_parser(argv).parse_known_args(argv)
    # the model stack on first use: `--help` stays instant
    from gte_ui.service import embedding_map, search
    from gte_ui.service.service import EmbeddingService

    args.file = getattr(args, "file", None)
    queries = embedding_map.read_map_file(args.queries)[0] if args.queries else []
    if args.index is not None:
        settings = parse_settings(rest)
        catalog = search.catalog_from_settings(settings)
        index = catalog.open(args.index)  # 404 before a model loads
        settings = search.settings_for_index(settings, index.manifest, rest)  # no --model: the index's own
        service = EmbeddingService.from_settings(settings, batching=False)
        result = search.index_map(service, catalog, args.index, queries=queries, method=args.method,
                                  clusters=args.clusters, seed=args.seed)
        title = f"{args.index} · {service.name}"
    else:
        texts, labels = embedding_map.read_map_file(args.file, args.column, args.label_column)
        service = EmbeddingService.from_settings(parse_settings(rest), batching=False)
        result = embedding_map.build_map(service, texts, labels=labels, queries=queries, method=args.method,
                                         clusters=args.clusters, seed=args.seed, bounded=False)  # a local file
        title = f"{Path(args.file).name} · {service.name}"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    embedding_map.map_figure(result, title=title).write_html(out, include_plotlyjs=True, full_html=True)
    print(result.note)
    print(f"wrote {out}", file=sys.stderr)
    return 0
