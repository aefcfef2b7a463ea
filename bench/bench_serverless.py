"""Cold and warm timings of the serverless handler, against a handler that loads per request.

    python bench/bench_serverless.py             # tiny model + GTE-large shape (fp32, int8 x2)
    python bench/bench_serverless.py --quick     # tiny model only

Each configuration runs in a fresh interpreter, as a new function instance would:

* cold = interpreter start → first answer of ``handler(event)``: imports, model load (settings
  from ``GTE_*`` variables as in an image) and the first request;
* warm = later invocations in the same process, each with new texts (no cache hits);
* reload = what a handler without the module-level cache pays on *every* request: load the
  service and answer (files already in the page cache, so this is the best case for it).

The GTE-large shape is a random BERT with GTE-large-zh's exact shape (built once, shared with
bench_speed.py): random weights cost exactly what the real ones cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gte_ui.testing.toymodel import cached_random_bert  # noqa: E402

WORKER = r"""
import json, os, statistics, sys, time
t_import = time.perf_counter()
from gte_ui.frontends import serverless
t_imported = time.perf_counter()

def event(i):
    body = {"sentence_a": f"这款手机电池续航很强，第{i}次测试", "sentence_b": f"手机电量很耐用，用了{i}天"}
    return {"httpMethod": "POST", "path": "/similarity", "body": json.dumps(body, ensure_ascii=False)}

r = serverless.handler(event(0), None)
t_first = time.perf_counter()
assert r["statusCode"] == 200, r
warm = []
for i in range(1, int(sys.argv[1]) + 1):
    t0 = time.perf_counter()
    assert serverless.handler(event(i), None)["statusCode"] == 200
    warm.append(time.perf_counter() - t0)
reload = []
from gte_ui.core.settings import parse_settings
from gte_ui.service.service import EmbeddingService
for i in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    svc = EmbeddingService.from_settings(parse_settings([]), batching=False)
    svc.pair(f"重新加载{i}", "每次都加载模型")
    reload.append(time.perf_counter() - t0)
    del svc
print(json.dumps({"import_s": t_imported - t_import, "first_call_s": t_first - t_imported,
                  "load_s": serverless._COLD_START_S, "warm_ms": [w * 1000 for w in warm],
                  "reload_s": reload}))
"""


def tiny_model() -> Path:
    from gte_ui.testing.toymodel import build_random_bert

    return build_random_bert(Path(tempfile.mkdtemp(prefix="gte-bench-tiny-")), "tiny")


def run(model: Path, precision: str, warm: int, reloads: int, threads: int | None) -> dict:
    precision, _, int8_mode = precision.partition(" ")
    env = {**os.environ, "GTE_MODEL": str(model), "GTE_DEVICE": "cpu", "GTE_PRECISION": precision,
           **({"GTE_INT8_MODE": int8_mode} if int8_mode else {}),
           **({"GTE_THREADS": str(threads)} if threads else {}),
           "GTE_OFFLINE": "1", "GTE_LOG_LEVEL": "warning", "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.perf_counter()
    # The worker prints its figures; the parent adds the interpreter start-up it cannot see.
    proc = subprocess.run([sys.executable, "-c", "import time; T0 = time.perf_counter()\n" + WORKER,
                           str(warm), str(reloads)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny model only")
    ap.add_argument("--warm", type=int, default=20, help="warm invocations per configuration")
    ap.add_argument("--reloads", type=int, default=3, help="load-per-request invocations")
    ap.add_argument("--threads", type=int, help="GTE_THREADS for the function (default: torch's, all cores)")
    args = ap.parse_args()
    configs = [("tiny (2 layers, 32-d)", tiny_model(), "fp32")]
    if not args.quick:
        big = cached_random_bert("gte-large")
        configs += [("GTE-large shape", big, p) for p in ("fp32", "int8 accurate", "int8 dynamic")]
    import torch

    print(f"CPU threads: {args.threads or torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} "
          "(other work on the machine makes every figure slower)\n")
    print("| model | precision | cold: process start → 1st answer | of which service load (torch import + "
          "weights) | 1st request | warm p50 | warm p90 | load per request (no module cache) | its cost / warm |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, folder, precision in configs:
        r = run(folder, precision, args.warm, args.reloads, args.threads)
        warm = sorted(r["warm_ms"])
        p50 = statistics.median(warm)
        p90 = warm[min(len(warm) - 1, int(round(0.9 * (len(warm) - 1))))]
        reload = statistics.median(r["reload_s"])
        cold = r["process_s"] - sum(r["warm_ms"]) / 1000 - sum(r["reload_s"])
        first = r["first_call_s"] - r["load_s"]
        print(f"| {name} | {precision} | {cold:.1f} s | {r['load_s']:.1f} s | {first * 1000:.0f} ms | "
              f"{p50:.0f} ms | {p90:.0f} ms | {reload:.2f} s | {reload * 1000 / p50:.0f}× |", flush=True)


if __name__ == "__main__":
    main()
