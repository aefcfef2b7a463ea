"""Command line: ``python -m gte_ui {serve,download,embed,index,search,similarity,rank,evaluate,map,health}``.

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
import errno
import functools
import json
import sys
import types
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from gte_ui.cluster import ray_data
from gte_ui.core.errors import GteError
from gte_ui.core.resources import sample_names, sample_path
from gte_ui.core.settings import model_flags_epilog, parse_settings, program_name
from gte_ui.core.textfiles import read_candidates_file
from gte_ui.frontends import cli_index, cli_retrieval
from gte_ui.service.corpus import DEFAULT_CHUNK, _err, disk_full_error, embed_file
from gte_ui.service.options import read_options


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


def health(url: str | None = None, timeout: float = 4.0) -> tuple[bool, str]:
    """Ask a running server's ``/health``: (ready, what it said). Docker's HEALTHCHECK runs this.

    Default URL: 127.0.0.1 on the port the server's own settings give (``--port`` /
    ``GRADIO_SERVER_PORT`` / ``GTE_PORT`` / ``PORT``, else 7860).
    """
    if url is None:
        url = f"http://127.0.0.1:{parse_settings([]).port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
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
    sub.add_parser("index", help="corpus indexes: build (resumable, --ray), list, info, delete (see its --help)",
                   add_help=False)
    sub.add_parser("search", help="search an index: top-k with scores and verdicts, --rerank (see its --help)",
                   add_help=False)
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
    if argv and argv[0] in ("index", "search"):  # their own parsers (gte_ui/frontends/cli_index.py)
        return cli_index.main(argv, _prog())
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
    options = read_options({"t2s": args.t2s, "nfkc": args.nfkc, "collapse_whitespace": args.collapse_whitespace,
                            "prompt_name": getattr(args, "prompt_name", None),
                            "instruction": getattr(args, "instruction", None)})
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
        report = ray_data.embed_file_ray(settings, args.input, args.out, address=args.ray, column=args.column,
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
