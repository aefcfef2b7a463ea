"""Batch-1 latency of the default int8 path at several commits, interleaved, on one box in one run.

    python bench/bench_bisect.py c166b6f dbf0fa5 HEAD          # the encoder's batch-1 row
    python bench/bench_bisect.py --service c166b6f HEAD        # + the service's pair() on new texts

Each commit is checked out (``git worktree add --detach``) under ``--workdir`` and served by its own
worker process, which imports that commit's ``gte_ui`` and nothing else, with its own int8 export
cache (an export made by other code is never reused). The driver sends one request to each worker
per round, the order rotated every round, so a busy neighbour slows every commit alike: compare
the ratios, not the milliseconds of another day. The model is a random BERT in GTE-large-zh's exact
shape (bench_speed.py's; random weights cost what the real ones cost); texts are 24 tokens and new
every request (no cache effects).

The encoder row is bench_speed.py's batch-1 row (``Encoder.encode`` of one text); ``--service``
adds the service's ``pair(a, b)`` of two new texts (validation, tokenising, caches, scoring: what a
request costs in-process before HTTP).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_speed import sentences  # noqa: E402 - the same 24-token sentences bench_speed times

from gte_ui.testing.toymodel import cached_random_bert  # noqa: E402

# The worker runs inside the commit's checkout: it may only use what every commit since
# 2026-11-24 has (Encoder.load(Settings(...)), EmbeddingService.from_settings, .pair), whichever
# module they lived in then.
WORKER = r'''
import dataclasses, importlib, json, sys, time
import torch
torch.set_num_threads(int(sys.argv[2]))

def first(*names):
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(names)

settings_mod = first("gte_ui.core.settings", "gte_ui.config")
encoder_mod = first("gte_ui.engine.encoder", "gte_ui.encoder")
wanted = {"model": sys.argv[1], "device": "cpu", "precision": "int8", "int8_mode": "accurate",
          "int8_engine": "onnx", "batch_size": 64, "threads": int(sys.argv[2]), "export_cache": sys.argv[3]}
names = {f.name for f in dataclasses.fields(settings_mod.Settings)}
settings = settings_mod.Settings(**{k: v for k, v in wanted.items() if k in names})
enc = encoder_mod.Encoder.load(settings)
service = None
if sys.argv[4] == "1":
    service_mod = first("gte_ui.service.service", "gte_ui.service")
    service = service_mod.EmbeddingService.from_settings(settings, batching=False)
print("READY", flush=True)
for line in sys.stdin:
    kind, _, payload = line.rstrip("\n").partition(" ")
    if kind == "stop":
        break
    texts = json.loads(payload)
    t = time.perf_counter()
    if kind == "encode":
        enc.encode(texts)
    else:
        service.pair(texts[0], texts[1])
    print(f"MS {(time.perf_counter() - t) * 1000:.3f}", flush=True)
'''


def checkout(rev: str, workdir: Path) -> tuple[str, Path, str]:
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    where = workdir / sha
    if not (where / "gte_ui").is_dir():
        subprocess.run(["git", "worktree", "add", "--detach", "-f", str(where), sha], cwd=ROOT, check=True,
                       capture_output=True)
    about = subprocess.run(["git", "log", "-1", "--format=%ad %s", "--date=format:%m-%d %H:%M", sha], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    return sha, where, about


def _read(proc: subprocess.Popen, tag: str) -> str | None:
    for line in proc.stdout:
        if line.startswith(tag):
            return line[len(tag):].strip()
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("revs", nargs="+", help="commits to compare (any git revision; HEAD is the checkout)")
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--service", action="store_true", help="also time the service's pair() per commit")
    ap.add_argument("--workdir", default="/tmp/gte-bisect")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model = str(cached_random_bert())
    revs = [checkout(r, workdir) for r in args.revs]
    kinds = ["encode", *(["pair"] if args.service else [])]
    workers: dict[str, subprocess.Popen] = {}
    try:
        for sha, where, about in revs:
            print(f"… loading {sha} {about[:60]} (first time: exports its int8 model)", file=sys.stderr, flush=True)
            proc = subprocess.Popen([sys.executable, "-c", WORKER, model, str(args.threads),
                                     str(workdir / f"{sha}-exports"), "1" if args.service else "0"],
                                    cwd=where, env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin",
                                                    "HOME": str(Path.home()), "OMP_NUM_THREADS": str(args.threads)},
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            if _read(proc, "READY") is None:
                print(f"  {sha} failed to start", file=sys.stderr)
                proc.kill()
                continue
            workers[sha] = proc
        live = list(workers)
        times = {(sha, k): [] for sha in live for k in kinds}
        pool = iter(sentences(2 * len(live) * len(kinds) * (args.rounds + 2), seed=7))
        for r in range(args.rounds + 1):  # round 0 warms every worker up
            print(f"… round {r}/{args.rounds}", file=sys.stderr, flush=True)
            for sha in live[r % len(live):] + live[:r % len(live)]:
                for kind in kinds:
                    texts = [next(pool)] if kind == "encode" else [next(pool), next(pool)]
                    time.sleep(0.2)  # let the previous worker's spinning threads go idle
                    workers[sha].stdin.write(f"{kind} {json.dumps(texts, ensure_ascii=False)}\n")
                    workers[sha].stdin.flush()
                    ms = _read(workers[sha], "MS ")
                    if r and ms is not None:
                        times[(sha, kind)].append(float(ms))
    finally:
        for proc in workers.values():
            try:
                proc.stdin.write("stop\n")
                proc.stdin.close()
                proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
    base = {k: statistics.median(times[(live[0], k)]) for k in kinds} if live else {}
    head = f"{'commit':<9}{'date':<13}{'encoder b1 p50 ms':>19}{'vs first':>10}"
    if args.service:
        head += f"{'pair() p50 ms':>15}{'vs first':>10}"
    print(head)
    for sha, _where, about in revs:
        if sha not in workers:
            print(f"{sha:<9}{about[:12]:<13}{'failed to start':>19}")
            continue
        row = f"{sha:<9}{about[:12]:<13}"
        for kind in kinds:
            med = statistics.median(times[(sha, kind)])
            row += f"{med:>{19 if kind == 'encode' else 15}.1f}{base[kind] / med:>9.2f}x"
        print(row + "   " + about[12:70])
    print(f"{args.rounds} interleaved rounds, {args.threads} threads; 'vs first' > 1: faster than {live[0] if live else '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
