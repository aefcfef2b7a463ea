"""What the fault-proofing of issue 19 costs at start and per request, on GTE-large's shape.

* fp32 load as transformers leaves it (weights memory-mapped from model.safetensors) against the
  same load plus ``own_weights`` (weights copied out of the map, so a file rewritten under the
  server cannot SIGBUS it): seconds and peak / final RSS, each in a fresh process, rounds
  interleaved;
* the weight-file check every start runs (``check_weight_files``: the safetensors header) and
  the SHA-256 an int8 start runs over its cached export (measured on a file of the export's
  size);
* the API-key guard's page-cookie check, per request.

    python3 bench/bench_load_safety.py [--rounds 3] [--model FOLDER]
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

LOAD = """
import json, resource, sys, time
import torch
from transformers import AutoModel
from gte_ui.engine.backends.pytorch import own_weights
t0 = time.perf_counter()
model = AutoModel.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
if sys.argv[2] == "copy":
    own_weights(model)
seconds = time.perf_counter() - t0
rss = int(open("/proc/self/statm").read().split()[1]) * 4096
t1 = time.perf_counter()
with torch.inference_mode():  # the first request: a mapped model reads its weights only now
    model(input_ids=torch.randint(1000, 5000, (8, 128)), attention_mask=torch.ones(8, 128, dtype=torch.long))
first = time.perf_counter() - t1
print(json.dumps({"s": seconds, "first": first, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "rss": rss, "rss_served": int(open("/proc/self/statm").read().split()[1]) * 4096}))
"""


def load_once(folder: Path, variant: str) -> dict:
    out = subprocess.run([sys.executable, "-c", LOAD, str(folder), variant], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", help="a model folder (default: a random BERT of GTE-large's shape)")
    args = ap.parse_args()

    from gte_ui.engine.models.hub import check_weight_files
    from gte_ui.engine.backends.onnx_export import file_sha256
    from gte_ui.frontends.http.security import GradioApiGuard
    from gte_ui.core.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-load-safety-"))
    if args.model:
        folder = Path(args.model)
    else:
        from gte_ui.testing.toymodel import build_random_bert

        folder = build_random_bert(tmp / "gte-large", "gte-large", seed=0)
    weights = folder / "model.safetensors"
    size = weights.stat().st_size

    runs: dict[str, list[dict]] = {"mmap": [], "copy": []}
    for _ in range(args.rounds):
        for variant in ("mmap", "copy"):  # interleaved: both see the same machine load
            runs[variant].append(load_once(folder, variant))

    def med(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[variant])

    t0 = time.perf_counter()
    for _ in range(20):
        check_weight_files(folder)
    header_ms = (time.perf_counter() - t0) / 20 * 1000
    # the int8 export is ~1/4 of the fp32 weights (int8 GEMM weights + fp32 embeddings, norms)
    export_like = tmp / "export-sized.bin"
    with weights.open("rb") as src, export_like.open("wb") as dst:
        dst.write(src.read(size // 4))
    hash_s = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        file_sha256(export_like)
        hash_s.append(time.perf_counter() - t0)

    guard = GradioApiGuard(None, Settings(api_key="k"), page_event=lambda _: True)
    cookie = {"cookie": f"gte_page={guard.page_token()}"}
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        guard._has_page_cookie(cookie)
    guard_us = (time.perf_counter() - t0) / n * 1e6

    gib = 2**30
    print(f"model: {folder.name}, model.safetensors {size / gib:.2f} GiB, {args.rounds} interleaved rounds, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    print("| fp32 CPU load | load s | first batch (8 × 128) s | load + first s | RSS after load GiB | "
          "RSS after first batch GiB | peak RSS GiB |")
    print("|---|---|---|---|---|---|---|")
    for variant, label in (("mmap", "transformers as is (weights mapped from the file)"),
                           ("copy", "+ own_weights (weights copied out of the file)")):
        print(f"| {label} | {med(variant, 's'):.2f} | {med(variant, 'first'):.2f} | "
              f"{med(variant, 's') + med(variant, 'first'):.2f} | {med(variant, 'rss') / gib:.2f} | "
              f"{med(variant, 'rss_served') / gib:.2f} | {med(variant, 'peak') / gib:.2f} |")
    ratio = (med("copy", "s") + med("copy", "first")) / (med("mmap", "s") + med("mmap", "first"))
    print(f"\nload + first batch, copy / mmap: {ratio:.2f}x (medians of {args.rounds})\n")
    print("| check | cost |")
    print("|---|---|")
    print(f"| weight-file header check at every start | {header_ms:.2f} ms |")
    print(f"| SHA-256 of an int8 export ({size / 4 / gib:.2f} GiB) at every int8 start | "
          f"{statistics.median(hash_s):.2f} s ({size / 4 / statistics.median(hash_s) / 2**20:.0f} MiB/s) |")
    print(f"| page-cookie check per /gradio_api request | {guard_us:.1f} µs |")


if __name__ == "__main__":
    main()
