"""The top-level parser of ``python -m gte_ui`` and the flags its subcommands share.

``evaluate``, ``map``, ``index`` and ``search`` have their own parsers (their modules); they are
listed here so that ``--help`` names them."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence

from gte_ui.core.settings import model_flags_epilog, program_name
from gte_ui.service.corpus import DEFAULT_CHUNK


def prog() -> str:
    """The command as typed (``gte-ui`` or ``python -m gte_ui``), for usage lines and hints."""
    return program_name(default="python -m gte_ui")


def model_epilog(extra: Sequence[str] = ()) -> str:
    return model_flags_epilog(prog(), extra)


def add_text_options(p: argparse.ArgumentParser) -> None:
    """The per-request text options every front end offers (``--long-text`` is a model flag)."""
    p.add_argument("--t2s", action="store_true", help="Traditional → Simplified Chinese first (OpenCC)")
    p.add_argument("--nfkc", action="store_true", help="full-width → half-width (Unicode NFKC) first")
    p.add_argument("--collapse-whitespace", action="store_true", help="runs of whitespace → one space")


def text_options(args: argparse.Namespace) -> dict[str, object]:
    """The text options as given, for :func:`gte_ui.service.options.read_options`."""
    return {"t2s": args.t2s, "nfkc": args.nfkc, "collapse_whitespace": args.collapse_whitespace,
            "prompt_name": getattr(args, "prompt_name", None), "instruction": getattr(args, "instruction", None)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog(),
        description="GTE workbench command line. Model options are the server's (--model, --offline, "
        "--precision, --device, --max-length, --batch-size, --long-text, --max-chars, … and their GTE_* "
        "environment variables); put them after the command. Speed and memory: docs/performance.md.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    model_sub = functools.partial(sub.add_parser, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_parser("serve", help=f"start the web UI + API (same as python app.py; `{prog()} serve --help` "
                   "lists its flags)", add_help=False)
    d = sub.add_parser("download", help="fetch a model into a folder for offline use")
    d.add_argument("--model", required=True, help="ModelScope id (iic/…) or Hugging Face id (thenlper/…)")
    d.add_argument("--to", required=True, help="target folder; later run with --model FOLDER --offline")
    d.add_argument("--hub", default="auto", choices=("auto", "modelscope", "huggingface"),
                   help="auto: ModelScope for iic/ and damo/ ids, else Hugging Face (default: auto)")
    d.add_argument("--revision", help="branch, tag or commit (default: the hub's main branch)")
    e = model_sub("embed", help="embed a corpus file into .npy / .csv / .parquet (streams, resumes)",
                  epilog=model_epilog())
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
    s = model_sub("similarity", help="cosine similarity of two texts (JSON)", epilog=model_epilog())
    s.add_argument("a")
    s.add_argument("b")
    r = model_sub("rank", help="rank candidates against a source (rank, score, verdict, text)",
                  epilog=model_epilog())
    r.add_argument("source")
    r.add_argument("candidates", nargs="*")
    r.add_argument("--file", help="candidates from a .txt (one a line) or .csv/.tsv file")
    r.add_argument("--top-k", type=int, help="print only the best K (default: all)")
    r.add_argument("--json", action="store_true", help="print JSON instead of tab-separated lines")
    rr = model_sub("rerank", help="rerank documents against a query with --reranker (else by embedding "
                   "cosine; the output says which)", epilog=model_epilog(["reranker"]))
    rr.add_argument("query")
    rr.add_argument("documents", nargs="*")
    rr.add_argument("--file", help="documents from a .txt (one a line) or .csv/.tsv file")
    rr.add_argument("--top-n", type=int)
    rr.add_argument("--raw-scores", action="store_true", help="the cross-encoder's raw logits, not their sigmoid")
    rr.add_argument("--method", default="auto", choices=("auto", "cross-encoder", "embedding"))
    rr.add_argument("--json", action="store_true", help="print JSON instead of tab-separated lines")
    for p in (e, s, r, rr):
        add_text_options(p)
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
