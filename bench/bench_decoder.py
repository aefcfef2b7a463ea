"""Decoder embedders: speed, memory and numerical fidelity of each precision, against
sentence-transformers on the same folder, in one run.

    python bench/bench_decoder.py            # a few minutes on 2 cores (plus building the model once)
    python bench/bench_decoder.py --quick    # fewer rounds and pairs

The model is a random Qwen3 with Qwen3-Embedding-0.6B's exact shape (hidden 1024, 28 layers, 16
heads of 128, 8 KV heads, intermediate 3072, vocab 151669; ~2.4 GB fp32, built once into
~/.cache/gte_ui/bench): random weights cost what the real ones cost, so speed and memory hold for
the real model. Its scores mean nothing, so "fidelity" here is |Δcos| against gte_ui fp32 on the
same pairs: how far a precision moves the numbers, on random weights (real Qwen3 activations have
outlier channels random ones lack; see docs/decoders.md).

Each path runs in its own subprocess (load time and RSS are its own); batch 1 and batch 16 are
timed round by round across all paths in rotated order, so a busy neighbour slows every path
alike, and "vs ST" is the median of per-round ratios. Queries carry the model's query prompt, as
a retrieval client sends them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_speed import stop_workers  # noqa: E402
from gte_ui.core.resources import SAMPLES  # noqa: E402
from gte_ui.testing.decoder_model import cached_random_decoder  # noqa: E402

# name -> (engine, precision, int8_mode)
PATHS = {
    "sentence-transformers fp32": ("st", "fp32", None),
    "gte_ui fp32": ("gte", "fp32", None),
    "sentence-transformers bf16": ("st", "bf16", None),
    "gte_ui bf16": ("gte", "bf16", None),
    "gte_ui int8 accurate (torch W8A8)": ("gte", "int8", "accurate"),
    "gte_ui int8 fast (torch W8A8)": ("gte", "int8", "fast"),
}
QUICK_PATHS = ("sentence-transformers fp32", "gte_ui fp32", "gte_ui bf16", "gte_ui int8 accurate (torch W8A8)")
BATCH = 16


def texts(n: int, offset: int = 0) -> list[str]:
    """Real Chinese sentences (STS-B zh sample, both columns), ``n`` of them, cycling if needed."""
    rows = [line.split("\t") for line in (SAMPLES / "stsb_zh_300.tsv").read_text(encoding="utf-8").splitlines()]
    pool = [r[0] for r in rows] + [r[1] for r in rows]
    return [pool[(offset + i) % len(pool)] for i in range(n)]


# ---------------------------------------------------------------------------- worker side
def worker(args: argparse.Namespace) -> None:
    import psutil
    import torch

    torch.set_num_threads(args.threads)
    engine, precision, mode = PATHS[args.path]
    t0 = time.perf_counter()
    if engine == "st":
        from sentence_transformers import SentenceTransformer

        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
        model = SentenceTransformer(args.model, device="cpu", model_kwargs={"dtype": dtype})
        prompt = model.prompts["query"]

        def encode(batch, query=False):
            return model.encode(batch, batch_size=BATCH, prompt=prompt if query else None,
                                normalize_embeddings=True)
    else:
        from gte_ui.core.settings import Settings
        from gte_ui.service.options import TextOptions
        from gte_ui.service.service import EmbeddingService

        service = EmbeddingService.from_settings(
            Settings(model=args.model, device="cpu", precision=precision, int8_mode=mode or "accurate",
                     batch_size=BATCH, threads=args.threads, cache_size=0), batching=False)
        note = service.info.backend_note

        def encode(batch, query=False):
            return service.embed(batch, options=TextOptions(prompt_name="query" if query else None),
                                 limit=len(batch)).vectors
    out = {"load_s": time.perf_counter() - t0}
    if engine != "st":
        out["note"] = note
    if args.kind == "speed":
        encode(texts(1), query=True)
        out["first_answer_s"] = time.perf_counter() - t0
        out["rss_mb"] = psutil.Process().memory_info().rss / 2**20
        print("READY " + json.dumps(out), flush=True)
        offset = 1
        for line in sys.stdin:
            size = int(line)
            if size == 0:
                return
            batch = texts(size, offset)
            offset += size
            t = time.perf_counter()
            encode(batch, query=size == 1)  # batch 1: a query (prompted); batch 16: documents
            print(f"MS {(time.perf_counter() - t) * 1000:.3f}", flush=True)
        return
    rows = [line.split("\t") for line in (SAMPLES / "stsb_zh_300.tsv").read_text(encoding="utf-8").splitlines()]
    rows = rows[:args.pairs]
    a = encode([r[0] for r in rows], query=True)
    b = encode([r[1] for r in rows])
    out["cos"] = [float(x) for x in (a * b).sum(1)]
    print("RESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------------------- driver side
def _cmd(path: str, kind: str, model: str, args: argparse.Namespace) -> list[str]:
    return [sys.executable, __file__, "--worker", "--path", path, "--kind", kind, "--model", model,
            "--threads", str(args.threads), "--pairs", str(args.pairs)]


def _env() -> dict[str, str]:
    return {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}


def _read(proc: subprocess.Popen, tag: str) -> str | None:
    for line in proc.stdout:
        if line.startswith(tag):
            return line[len(tag):].strip()
    return None


def speed(paths: list[str], model: str, args: argparse.Namespace) -> dict[str, dict | None]:
    """Load the paths one at a time, then time every path round by round (rotated order)."""
    workers: dict[str, subprocess.Popen] = {}
    results: dict[str, dict | None] = {}
    try:
        for p in paths:
            print(f"… loading {p}", file=sys.stderr, flush=True)
            proc = subprocess.Popen(_cmd(p, "speed", model, args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True, env=_env())
            line = _read(proc, "READY ")
            if line is None:
                proc.kill()
                results[p] = None
                print(f"  {p} failed to start", file=sys.stderr)
                continue
            workers[p], results[p] = proc, json.loads(line)
        live = list(workers)
        for size, reps in ((1, args.reps_b1), (BATCH, args.reps)):
            times: dict[str, list[float]] = {p: [] for p in live}
            for r in range(reps + 1):  # round 0 warms up
                print(f"… batch {size}, round {r}/{reps}", file=sys.stderr, flush=True)
                for p in live[r % len(live):] + live[:r % len(live)]:
                    time.sleep(0.2)
                    workers[p].stdin.write(f"{size}\n")
                    workers[p].stdin.flush()
                    ms = _read(workers[p], "MS ")
                    if r and ms is not None:
                        times[p].append(float(ms))
            for p in live:
                if times[p]:
                    results[p][f"b{size}_times"] = times[p]
                    results[p][f"b{size}_p50"] = statistics.median(times[p])
    finally:
        stop_workers(workers.values(), timeout=60)
    return results


def fidelity(path: str, model: str, args: argparse.Namespace) -> dict | None:
    proc = subprocess.run(_cmd(path, "accuracy", model, args), capture_output=True, text=True, env=_env(), timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"  {path} accuracy failed:\n{proc.stderr[-1500:]}", file=sys.stderr)
    return None


def per_round(num: list[float], den: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(num, den))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer rounds and pairs; ST bf16 and int8 fast left out")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--only", help="comma-separated path names to run (default: all; --quick: four)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--reps-b1", type=int, default=None)
    ap.add_argument("--pairs", type=int, default=None)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return 0
    args.reps = args.reps or (2 if args.quick else 5)
    args.reps_b1 = args.reps_b1 or (3 if args.quick else 8)
    args.pairs = args.pairs or (64 if args.quick else 300)
    import numpy as np
    import torch

    load_before = os.getloadavg()[0]
    t_start = time.perf_counter()
    model = str(cached_random_decoder("qwen3-0.6b"))
    paths = [p for p in PATHS if not args.quick or p in QUICK_PATHS]
    if args.only:
        paths = [p for p in PATHS if p in {x.strip() for x in args.only.split(",")}]
    rows = speed(paths, model, args)
    acc = {}
    for p in paths:
        print(f"… fidelity: {p}", file=sys.stderr, flush=True)
        acc[p] = fidelity(p, model, args)
    ref = acc.get("gte_ui fp32")
    st = rows.get("sentence-transformers fp32") or {}
    header = (f"{'path':<36}{'b1 ms':>8}{'b16 ms':>9}{'sent/s':>8}{'vs ST fp32':>11}{'RSS MB':>8}{'load s':>8}"
              f"{'mean|Δcos|':>11}{'max|Δcos|':>10}")
    print(f"\nQwen3-Embedding-0.6B shape (random), {args.threads} threads, torch {torch.__version__}; batch 1 = a "
          f"prompted query, batch {BATCH} = documents (STS-B zh sentences); fidelity on {args.pairs} pairs vs gte_ui fp32")
    print(header)
    print("-" * len(header))
    for p in paths:
        s, a = rows.get(p), acc.get(p)
        if not s or "b16_times" not in s:
            print(f"{p:<36} failed")
            continue
        ratio = f"{per_round(st['b16_times'], s['b16_times']):>10.2f}x" if st.get("b16_times") else f"{'—':>11}"
        fid = ""
        if a and ref:
            d = np.abs(np.array(a["cos"]) - np.array(ref["cos"]))
            fid = f"{d.mean():>11.2e}{d.max():>10.2e}"
        print(f"{p:<36}{s['b1_p50']:>8.0f}{s['b16_p50']:>9.0f}{BATCH * 1000 / s['b16_p50']:>8.2f}{ratio}"
              f"{s['rss_mb']:>8.0f}{s['load_s']:>8.1f}{fid}")
        if s.get("note"):
            print(f"    note: {s['note']}")
    print(f"\n('vs ST fp32' = median of per-round ratios of batch-{BATCH} times; RSS after the first request; "
          f"total {time.perf_counter() - t_start:.0f} s; load avg before/after {load_before:.2f} / {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
