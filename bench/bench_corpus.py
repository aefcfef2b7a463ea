"""Corpus throughput: ``python -m gte_ui embed`` in int8 vs ``SentenceTransformer.encode`` fp32
on the same file of passages (issue 17).

    python bench/bench_corpus.py                  # 200 passages, 2 rounds
    python bench/bench_corpus.py --passages 10000 --rounds 1   # the issue's corpus size (hours on 2 cores)

The corpus is a realistic mix of knowledge-base chunks of 50-500 tokens: 60 % full chunks of
300-500 tokens, 40 % section ends of 50-300 (mean ~310 tokens), Chinese text, written one
passage a line. The model is the GTE-large-shape random BERT (random weights cost what real
ones cost). Each round runs both paths as separate processes, one after the other, in rotated
order; time = the command's own work (reading, tokenising, encoding, writing) without the model
load, and "int8 / ST" is the median of per-round ratios. The embed command runs as a user would
run it (``--precision int8``, default ``--max-batch-tokens``); sentence-transformers gets the
same file and its own defaults (``batch_size=32``, length-sorted batches).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gte_ui.testing.toymodel import _COMMON_ZH, cached_random_bert  # noqa: E402

ST_SCRIPT = """
import json, sys, time, torch
torch.set_num_threads({threads})
from sentence_transformers import SentenceTransformer
model = SentenceTransformer({model!r}, device="cpu")
texts = [line.rstrip("\\n") for line in open({corpus!r}, encoding="utf-8") if line.strip()]
t = time.perf_counter()
vectors = model.encode(texts, batch_size=32, normalize_embeddings=True)
print("RESULT " + json.dumps({{"seconds": time.perf_counter() - t, "texts": len(texts)}}))
"""


def corpus_lengths(n: int, seed: int = 0) -> list[int]:
    """Token counts ([CLS] + text + [SEP]) of a knowledge-base chunk mix, 50-500."""
    rng = random.Random(seed)
    return [rng.randint(300, 500) if rng.random() < 0.6 else rng.randint(50, 299) for _ in range(n)]


def write_corpus(path: Path, lengths: list[int], seed: int = 0) -> None:
    rng = random.Random(seed)
    chars = sorted(set(_COMMON_ZH))
    with path.open("w", encoding="utf-8") as f:
        for n in lengths:  # one Chinese character is one token here
            f.write("".join(rng.choice(chars) for _ in range(n - 2)) + "\n")


def run_embed(model: str, corpus: Path, out: Path, threads: int, engine: str = "onnx") -> dict:
    cmd = [sys.executable, "-m", "gte_ui", "embed", str(corpus), "--out", str(out), "--restart",
           "--model", model, "--device", "cpu", "--precision", "int8", "--int8-engine", engine,
           "--threads", str(threads)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=7200)
    if proc.returncode:
        raise RuntimeError(f"embed failed: {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    bars = [b for b in re.split(r"[\r\n]", proc.stderr) if "texts/s" in b or "tokens/s" in b]
    return {"seconds": report["seconds"], "texts": report["texts"], "bar": bars[-1].strip() if bars else ""}


def run_st(model: str, corpus: Path, threads: int) -> dict:
    script = ST_SCRIPT.format(threads=threads, model=model, corpus=str(corpus))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=14400)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"sentence-transformers failed: {proc.stderr[-2000:]}")


def _env() -> dict[str, str]:
    return {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_VERBOSITY": "error"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--int8-engine", default="onnx", choices=("onnx", "openvino"),
                    help="embed's int8 engine (openvino: the opt-in engine in its accurate mode, needs gte-ui[openvino])")
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    t_start = time.perf_counter()
    model = str(cached_random_bert("gte-large"))
    lengths = corpus_lengths(args.passages)
    with tempfile.TemporaryDirectory(prefix="gte-corpus-") as tmp:
        corpus = Path(tmp) / "passages.txt"
        write_corpus(corpus, lengths)
        print("… warming the int8 export cache (exports once if needed)", file=sys.stderr, flush=True)
        small = Path(tmp) / "warm.txt"
        small.write_text("预热\n", encoding="utf-8")
        run_embed(model, small, Path(tmp) / "warm.npy", args.threads, args.int8_engine)
        runs: dict[str, list[dict]] = {"embed int8": [], "ST fp32": []}
        for r in range(args.rounds):
            order = ["embed int8", "ST fp32"] if r % 2 == 0 else ["ST fp32", "embed int8"]
            for name in order:
                print(f"… round {r + 1}/{args.rounds}: {name}", file=sys.stderr, flush=True)
                result = (run_embed(model, corpus, Path(tmp) / "out.npy", args.threads, args.int8_engine)
                          if name == "embed int8"
                          else run_st(model, corpus, args.threads))
                runs[name].append(result)
                print(f"  {name}: {result['seconds']:.1f} s", file=sys.stderr, flush=True)  # survives a kill
    tokens = sum(lengths)
    print(f"\nCorpus: {args.passages} passages, {tokens:,} tokens (50-500, mean {tokens / len(lengths):.0f}), "
          f"GTE-large shape, {args.threads} threads, {args.rounds} round(s)")
    print(f"{'path':<44}{'s (median)':>11}{'texts/s':>9}{'tokens/s':>10}{'vs ST':>8}")
    st_times = [x["seconds"] for x in runs["ST fp32"]]
    for name, label in (("ST fp32", "SentenceTransformer.encode fp32 (batch 32)"),
                        ("embed int8", f"python -m gte_ui embed --precision int8 ({args.int8_engine})")):
        secs = [x["seconds"] for x in runs[name]]
        med = statistics.median(secs)
        ratio = statistics.median(s / e for s, e in zip(st_times, secs))
        print(f"{label:<44}{med:>11.1f}{args.passages / med:>9.2f}{tokens / med:>10.0f}{ratio:>7.2f}x")
    print(f"embed's progress bar at the end: {runs['embed int8'][-1]['bar']}")
    print(f"(total {time.perf_counter() - t_start:.0f} s; load avg before/after {load_start:.2f} / "
          f"{os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
