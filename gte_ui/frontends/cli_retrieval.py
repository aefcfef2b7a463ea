"""The command line of retrieval work: ``evaluate --task retrieval`` and ``map``.

Thin adapters: the evaluation is :func:`gte_ui.evaluation.jobs.retrieval_job` (the Evaluate tab
calls the same), the map is :mod:`gte_ui.service.embedding_map`. Only the standard library at
module level, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.settings import model_flags_epilog, parse_settings, program_name


def add_retrieval_flags(ap: argparse.ArgumentParser) -> None:
    """``evaluate``'s retrieval flags (its parser is cli.py's)."""
    ap.add_argument("--split", default="test", help="retrieval: the judgements to use, qrels/SPLIT.tsv (default: test)")
    ap.add_argument("--top-k", type=int, default=100,
                    help="retrieval: documents retrieved per query, and reranked with --reranker (default: 100)")
    ap.add_argument("--no-rerank", action="store_true",
                    help="retrieval: embedding stage only, even with --reranker loaded")


def evaluate_retrieval(args: argparse.Namespace, rest: list[str], tqdm) -> int:
    """``evaluate DIR --task retrieval``: every loaded model (the default and ``--models``) side by
    side, each alone and + ``--reranker`` on its top k. Bad input raises :class:`GteError`
    (cli.py's one error path prints it and exits 2)."""
    # the model stack on first use: `--help` and `health` (Docker's HEALTHCHECK) stay instant
    from gte_ui.evaluation import jobs, retrieval
    from gte_ui.service.service import EmbeddingService

    if not 1 <= args.top_k <= 1000:
        raise GteError(ErrorType.VALIDATION, f"--top-k must be from 1 to 1000, got {args.top_k}",
                       "--top-k 必须在 1 到 1000 之间")
    # read first: a malformed folder is refused before a model is loaded
    data = retrieval.read_retrieval(args.file, split=args.split)
    service = EmbeddingService.from_settings(parse_settings(rest), batching=False)
    # a share of the work, not a count: no "%/s" rate
    bar = tqdm(total=100, desc="evaluating", file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")

    def progress(frac: float, desc: str) -> None:
        bar.set_description(desc)
        bar.update(int(frac * 100) - bar.n)

    job = jobs.retrieval_job(service, data, services=service.models(), split=args.split,
                             limit=args.limit, top_k=args.top_k, rerank=not args.no_rerank,
                             out=Path(args.out) if args.out else None, progress=progress)
    bar.close()
    for warning in job.report.warnings:  # stderr, as every subcommand's warnings: stdout keeps its shape
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(job.report.to_dict(), ensure_ascii=False, indent=2) if args.json
          else retrieval.summary_text(job.report))
    for p in job.files:
        print(f"wrote {p}", file=sys.stderr)
    return 0


def map_command(argv: Sequence[str]) -> int:
    """``map FILE --out map.html``: the embedding map of a file's texts as a self-contained HTML page.
    Bad input raises :class:`GteError` or ``OSError`` (cli.py's one error path prints them, exit 2)."""
    prog = program_name(default="python -m gte_ui")
    ap = argparse.ArgumentParser(
        prog=f"{prog} map", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=model_flags_epilog(prog),
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
    argv = list(argv)
    args, rest = ap.parse_known_args(argv)
    # the model stack on first use: `--help` stays instant
    from gte_ui.service import embedding_map
    from gte_ui.service.service import EmbeddingService

    args.file = getattr(args, "file", None)
    queries = embedding_map.read_map_file(args.queries)[0] if args.queries else []
    if args.index is not None:
        # the index capability (search) on first use: --help stays instant
        from gte_ui.service import search

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
    embedding_map.map_figure(result, title=title).write_html(
        out, include_plotlyjs=True, full_html=True)
    print(result.note)
    print(f"wrote {out}", file=sys.stderr)
    return 0

