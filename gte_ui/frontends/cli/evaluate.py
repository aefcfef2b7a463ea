"""``evaluate``: labelled pairs (Spearman, …), query-document groups (``--task rerank``) or a BEIR
folder (``--task retrieval``). Thin adapters of the evaluation jobs the Evaluate tab runs too
(:mod:`gte_ui.evaluation.jobs`, :mod:`gte_ui.evaluation.metrics`); its parser owns every flag."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gte_ui.core.errors import ErrorType, GteError
from gte_ui.core.resources import sample_names, sample_path
from gte_ui.core.settings import parse_settings
from gte_ui.frontends.cli.errors import emit, guarded, os_error
from gte_ui.frontends.cli.parser import model_epilog, prog
from gte_ui.frontends.protocols import cli_output


def evaluate_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=f"{prog()} evaluate", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Spearman / Pearson (and ROC-AUC, accuracy, F1 for 0/1 labels) of the model on labelled "
        "pairs, or MRR@10 / nDCG@10 on query-document groups (--task rerank)",
        epilog=model_epilog(["reranker"]))
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
    ap.add_argument("--split", default="test", help="retrieval: the judgements to use, qrels/SPLIT.tsv (default: test)")
    ap.add_argument("--top-k", type=int, default=100,
                    help="retrieval: documents retrieved per query, and reranked with --reranker (default: 100)")
    ap.add_argument("--no-rerank", action="store_true",
                    help="retrieval: embedding stage only, even with --reranker loaded")
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
    raise GteError(ErrorType.VALIDATION, f"{name} does not exist (and is not a sample: {', '.join(sample_names())})",
                   f"{name} 不存在（也不是示例文件：{'、'.join(sample_names())}）")


def evaluate_command(argv: Sequence[str] | None = None) -> int:
    args, rest = evaluate_parser().parse_known_args(list(sys.argv[1:] if argv is None else argv))
    return guarded(lambda: _evaluate(args, rest))


def _share_bar() -> tuple[Any, Callable[[float, str], None]]:
    """A progress bar of a share of the work, not a count: no "%/s" rate (issue 18.8)."""
    # tqdm on first use: `--help` and `health` stay instant
    from tqdm import tqdm

    bar = tqdm(total=100, desc="evaluating", file=sys.stderr, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")

    def progress(frac: float, desc: str) -> None:
        bar.set_description(desc)
        bar.update(int(frac * 100) - bar.n)

    return bar, progress


def _evaluate(args: argparse.Namespace, rest: list[str]) -> int:
    # the model stack on first use: `--help` and `health` (Docker's HEALTHCHECK) stay instant
    from gte_ui.evaluation import jobs, metrics, retrieval
    from gte_ui.evaluation import rerank as rerank_eval
    from gte_ui.service.service import EmbeddingService

    if args.task == "retrieval":  # a folder or a .zip, read by the retrieval reader
        if not 1 <= args.top_k <= 1000:
            raise GteError(ErrorType.VALIDATION, f"--top-k must be from 1 to 1000, got {args.top_k}",
                           "--top-k 必须在 1 到 1000 之间")
        data = retrieval.read_retrieval(args.file, split=args.split)  # refused before a model loads
        service = EmbeddingService.from_settings(parse_settings(rest), batching=False)
        bar, progress = _share_bar()
        job = jobs.retrieval_job(service, data, services=service.models(), split=args.split, limit=args.limit,
                                 top_k=args.top_k, rerank=not args.no_rerank,
                                 out=Path(args.out) if args.out else None, progress=progress)
        bar.close()
        emit(cli_output.evaluate_retrieval_output(job.report, args.json))
        return emit(cli_output.files_written(job.files))
    path = evaluate_file(args.file)
    if args.task == "rerank" or (args.task == "auto" and rerank_eval.looks_like_groups(path)):
        groups = rerank_eval.read_groups(path)  # a malformed file is refused before a model loads
        service = EmbeddingService.from_settings(parse_settings(rest), batching=False)
        bar, progress = _share_bar()
        job = jobs.rerank_job(service, groups, limit=args.limit, out=Path(args.out) if args.out else None,
                              progress=progress)
        bar.close()
        emit(cli_output.evaluate_rerank_output(job))
        return emit(cli_output.files_written(job.files))
    return _evaluate_pairs(metrics.read_pairs(path, args.columns.split(",") if args.columns else None), args, rest)


def _evaluate_pairs(pairs: Any, args: argparse.Namespace, rest: list[str]) -> int:
    # the model stack on first use: `--help` and `health` stay instant
    from tqdm import tqdm

    from gte_ui.core.pairs import LabelledPairs
    from gte_ui.evaluation import metrics
    from gte_ui.evaluation.calibration import bands_from_result
    from gte_ui.service.service import EmbeddingService

    if args.limit:
        pairs = LabelledPairs(pairs.a[:args.limit], pairs.b[:args.limit], pairs.labels[:args.limit], pairs.name)
    service = EmbeddingService.from_settings(parse_settings(rest), batching=False)
    # Counted in distinct texts (what score_pairs embeds), so the rate reads texts/s.
    texts = len(dict.fromkeys(pairs.a + pairs.b))
    bar = tqdm(total=texts, unit=" texts", desc="evaluating", file=sys.stderr)
    result = metrics.evaluate(service, pairs, lambda frac, _desc: bar.update(round(frac * texts) - bar.n))
    bar.close()
    emit(cli_output.evaluate_pairs_output(result, pairs, args.json))
    if args.out:  # stderr: stdout stays the table, or one JSON document
        emit(cli_output.files_written(metrics.write_results(result, pairs, Path(args.out))))
    if args.save_calibration:
        # through the service's one door for bands: the file it writes is the one a server reads
        saved = service.set_bands(bands_from_result(result, pairs.name))
        print(f"calibration saved to {saved}", file=sys.stderr)
    return 0
