"""Scale-out figures, each compared with what a user would run instead, ratios from one run.

    python bench/bench_scale.py            # ~5 min on a quiet 2-core box
    python bench/bench_scale.py --quick    # shorter rounds
    python bench/bench_scale.py --capacity # sentences/s per core at 24 / 128 tokens, RSS per replica

Model: a random BERT with GTE-large-zh's exact shape (``~/.cache/gte_ui/bench``), int8 accurate
on ONNX Runtime, 1 thread per process or replica, 24-token Chinese sentences, every request a
text no cache has seen (except where a cache is what is measured).

1. Ray Serve, 16 concurrent clients of one text each: 2 replicas x 1 thread vs 1 replica x 1
   thread (texts/s), rounds alternated.
2. Ray Serve with 1 replica vs the plain process (``python -m gte_ui serve --threads 1``) at
   batch 1, sequential requests over HTTP: p50 and its overhead, rounds alternated.
3. A shared-cache hit (Redis on loopback, LRU off) vs an LRU hit vs the model, in-process p50.
4. A second process's first pass over 10,000 texts with a warm Redis vs embedding them: the
   Redis pass is timed whole in a fresh process; the model's rate is measured on a sample.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis as redis_py  # noqa: E402
import requests  # noqa: E402

from gte_ui.core.settings import Settings  # noqa: E402
from gte_ui.engine.caches.local import CachedVector  # noqa: E402
from gte_ui.engine.caches.shared import shared_key  # noqa: E402
from gte_ui.server import serve_application  # noqa: E402
from gte_ui.service.options import DEFAULT_OPTIONS  # noqa: E402
from gte_ui.service.service import EmbeddingService  # noqa: E402
from gte_ui.testing.toymodel import _COMMON_ZH, cached_random_bert  # noqa: E402

_CHARS = sorted(set(_COMMON_ZH))


def sentences(n: int, seed: int, tokens: int = 24) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_CHARS) for _ in range(tokens - 2)) for _ in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up")


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def sequential_latencies(url: str, texts: list[str]) -> list[float]:
    out = []
    with requests.Session() as s:
        for t in texts:
            t0 = time.perf_counter()
            r = s.post(url, json={"inputs": [t]}, timeout=120)
            out.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text[:200]
    return out


def cpu_split() -> tuple[float, float]:
    """CPU seconds used so far by (embedder replicas, everything else: Ray's proxy, the ingress,
    the controller, Redis, this client process…)."""
    import psutil

    replicas = other = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        try:
            t = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        busy = t.user + t.system
        if "Embedder" in " ".join(proc.info["cmdline"] or []):
            replicas += busy
        else:
            other += busy
    return replicas, other


def throughput(url: str, seconds: float, seed: int, clients: int = 16, per_request: int = 1) -> float:
    texts = sentences(20_000, seed)
    done = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(c: int) -> None:
        i = c
        with requests.Session() as s:
            while time.perf_counter() < stop:
                batch = [texts[(i + k) % len(texts)] for k in range(per_request)]
                r = s.post(url, json={"inputs": batch}, timeout=120)
                assert r.status_code == 200, r.text[:200]
                i += clients * per_request
                with lock:
                    done[0] += per_request

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - t0)


def second_pass(model: str, cache_url: str, n: int, seed: int) -> None:
    """Run in a fresh process: the first pass over ``n`` texts, everything in Redis already."""
    settings = Settings(model=model, device="cpu", precision="int8", threads=1, cache_url=cache_url,
                        max_texts=256)
    svc = EmbeddingService.from_settings(settings, batching=False)
    texts = sentences(n, seed)
    t0 = time.perf_counter()
    for i in range(0, n, 256):
        svc.embed(texts[i:i + 256])
    seconds = time.perf_counter() - t0
    shared = svc.stats()["cache"]["shared"]
    print(json.dumps({"seconds": seconds, "hits": shared["hits"], "texts_encoded": svc.encoder.texts_encoded}))


def capacity_worker(model: str, precision: str, n: int) -> None:
    """Run in a fresh process: one replica's RSS and its rate at 24 and 128 tokens, 1 thread."""
    import psutil

    from gte_ui.engine.encoder import Encoder

    enc = Encoder.load(Settings(model=model, device="cpu", precision=precision, threads=1))
    enc.encode(sentences(4, 1))
    rates = {}
    for tokens in (24, 128):
        texts = sentences(n, tokens, tokens=tokens)
        t0 = time.perf_counter()
        for i in range(0, n, 32):
            enc.encode(texts[i:i + 32])
        rates[tokens] = n / (time.perf_counter() - t0)
    print(json.dumps({"rss_mb": psutil.Process().memory_info().rss / 2**20, "rates": rates}))


def capacity(model: str) -> None:
    """Sentences/s per core (1 thread, batch 32) and memory per replica, int8 and fp32."""
    print("| precision | 24 tokens, sent/s per core | 128 tokens | RSS per replica MB |")
    print("|---|---|---|---|")
    for precision, n in (("int8", 64), ("fp32", 32)):
        out = subprocess.run([sys.executable, __file__, "--capacity-worker", model, precision, str(n)],
                             capture_output=True, text=True, cwd=ROOT, timeout=1200)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {precision} | {r['rates']['24']:.1f} | {r['rates']['128']:.1f} | {r['rss_mb']:.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--capacity", action="store_true", help="only the per-core rates and replica memory")
    ap.add_argument("--second-pass", nargs=4, metavar=("MODEL", "URL", "N", "SEED"), help=argparse.SUPPRESS)
    ap.add_argument("--capacity-worker", nargs=3, metavar=("MODEL", "PRECISION", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.second_pass:
        model, url, n, seed = args.second_pass
        second_pass(model, url, int(n), int(seed))
        return
    if args.capacity_worker:
        model, precision, n = args.capacity_worker
        capacity_worker(model, precision, int(n))
        return
    if args.capacity:
        print(f"load average at start: {os.getloadavg()[0]:.1f}")
        capacity(str(cached_random_bert("gte-large")))
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        return
    rounds, seconds, seq = (2, 8.0, 12) if args.quick else (3, 12.0, 20)
    model = str(cached_random_bert("gte-large"))
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    procs: list[subprocess.Popen] = []
    print(f"load average at start: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    try:
        # Redis on loopback, memory only
        rport = free_port()
        procs.append(subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no"], stdout=subprocess.DEVNULL))
        cache_url = f"redis://127.0.0.1:{rport}/0"
        # the plain process, 1 thread (exports int8 once into the shared export cache)
        pport = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "gte_ui", "serve", "--model", model, "--precision", "int8",
                                       "--threads", "1", "--port", str(pport), "--log-level", "warning"],
                                      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        plain = f"http://127.0.0.1:{pport}"
        wait_http(plain + "/health")

        # ray: imported once the plain process is up (its import alone takes seconds)
        import ray
        from ray import serve

        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)  # logical CPUs: 3 replicas + room
        sport = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": sport})
        t0 = time.perf_counter()
        for name, n in (("one", 1), ("two", 2)):
            settings = Settings(model=model, device="cpu", precision="int8", threads=1, replicas=n)
            serve.run(serve_application(settings), name=name, route_prefix=f"/{name}")
        print(f"Serve apps up in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        one, two = f"http://127.0.0.1:{sport}/one", f"http://127.0.0.1:{sport}/two"
        for url in (plain, one, two):  # warm up: first requests pay for lazy init
            sequential_latencies(url + "/embed", sentences(4, 999))

        # 1 + 2: alternated rounds
        lat = {"plain": [], "serve1": []}
        tput = {"one": [], "two": []}
        tput8 = {"one": [], "two": []}
        cpu = {"one": [0.0, 0.0, 0], "two": [0.0, 0.0, 0]}  # replica CPU s, other CPU s, texts
        for r in range(rounds):
            order = [("plain", plain), ("serve1", one)] if r % 2 == 0 else [("serve1", one), ("plain", plain)]
            for key, url in order:
                lat[key] += sequential_latencies(url + "/embed", sentences(seq, 100 + r * 10 + len(key)))
            for key, url in ([("one", one), ("two", two)] if r % 2 == 0 else [("two", two), ("one", one)]):
                before, t0 = cpu_split(), time.perf_counter()
                tput[key].append(throughput(url + "/embed", seconds, seed=200 + r * 10 + len(key)))
                after = cpu_split()
                cpu[key][0] += after[0] - before[0]
                cpu[key][1] += after[1] - before[1]
                cpu[key][2] += round(tput[key][-1] * (time.perf_counter() - t0))
                # the same clients, 8 texts a request (how RAG pipelines send chunks)
                tput8[key].append(throughput(url + "/embed", seconds, seed=300 + r * 10 + len(key), per_request=8))
        serve.shutdown()
        ray.shutdown()

        # 3: in-process cache hits
        base = Settings(model=model, device="cpu", precision="int8", threads=1, max_texts=256)
        filler = EmbeddingService.from_settings(base.replace(cache_url=cache_url), batching=False)
        sample = sentences(256, 7)
        t0 = time.perf_counter()
        for i in range(0, len(sample), 32):
            filler.embed(sample[i:i + 32])
        model_rate = len(sample) / (time.perf_counter() - t0)
        filler.shared.flush(30)
        model_b1 = []
        for t in sentences(10, 8):
            t0 = time.perf_counter()
            filler.embed([t])
            model_b1.append((time.perf_counter() - t0) * 1000)
        lru_hits = []
        for t in sample[:200]:
            t0 = time.perf_counter()
            filler.embed([t])
            lru_hits.append((time.perf_counter() - t0) * 1000)
        reader = EmbeddingService(filler.encoder, base.replace(cache_url=cache_url, cache_size=0),
                                  shared=filler.shared)
        shared_hits = []
        for t in sample[:200]:
            t0 = time.perf_counter()
            res = reader.embed([t])
            shared_hits.append((time.perf_counter() - t0) * 1000)
            assert res.cached == 1

        # 4: fill Redis with 10,000 texts' entries through the service's own write path (the
        # vectors of the 256 embedded above, reused: same size, same bytes per entry), then a
        # fresh process makes its first pass over them
        n = 10_000
        texts = sentences(n, 11)
        prefix = f"{filler.vector_prefix}|{filler.settings.long_text}|{DEFAULT_OPTIONS.norm.key()}"
        vectors = filler.embed(sample).vectors
        items = [(shared_key(prefix, t), CachedVector(vectors[i % len(sample)], 24, False)) for i, t in enumerate(texts)]
        for i in range(0, n, 1000):
            filler.shared.put_many(items[i:i + 1000])
            filler.shared.flush(60)
        info = redis_py.Redis(port=rport).info("memory")
        keys = redis_py.Redis(port=rport).dbsize()
        bytes_per = info["used_memory"] / keys
        filler.close()
        out = subprocess.run([sys.executable, __file__, "--second-pass", model, cache_url, str(n), "11"],
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
        second = json.loads(out.stdout.strip().splitlines()[-1])
        assert second["hits"] == n and second["texts_encoded"] == 0, second
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

    plain_p50, serve_p50 = p50(lat["plain"]), p50(lat["serve1"])
    one_r, two_r = statistics.median(tput["one"]), statistics.median(tput["two"])
    ratios = [b / a for a, b in zip(tput["one"], tput["two"])]
    ratios8 = [b / a for a, b in zip(tput8["one"], tput8["two"])]
    model_s = n / model_rate
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}; {rounds} rounds\n")
    print("| what | figure | vs | ratio |")
    print("|---|---|---|---|")
    print(f"| Serve, 16 clients, 2 replicas x 1 thread | {two_r:.1f} texts/s | 1 replica x 1 thread: {one_r:.1f} texts/s "
          f"| {statistics.median(ratios):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)}) |")
    print(f"| Serve, 16 clients x 8 texts a request, 2 replicas x 1 thread | {statistics.median(tput8['two']):.1f} texts/s "
          f"| 1 replica x 1 thread: {statistics.median(tput8['one']):.1f} texts/s "
          f"| {statistics.median(ratios8):.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios8)}) |")
    print(f"| Serve, 1 replica, batch 1, p50 | {serve_p50:.1f} ms | plain process: {plain_p50:.1f} ms "
          f"| +{(serve_p50 / plain_p50 - 1) * 100:.0f} % |")
    print(f"| shared-cache hit (Redis loopback, LRU off), p50 | {p50(shared_hits):.2f} ms | LRU hit {p50(lru_hits):.3f} ms; "
          f"model batch 1 {p50(model_b1):.1f} ms | {p50(model_b1) / p50(shared_hits):.0f}x faster than the model |")
    print(f"| 2nd process, first pass over {n:,} texts, warm Redis | {second['seconds']:.2f} s "
          f"({n / second['seconds']:,.0f} texts/s) | embedding them: {model_s:.0f} s ({model_rate:.1f} texts/s, "
          f"batch 32, measured on 256) | {model_s / second['seconds']:.0f}x |")
    print(f"| Redis memory per cached 1024-d vector | {bytes_per:,.0f} bytes | value 4,108 + key 39 | |")
    print("\nCPU per text during the 1-text-a-request rounds (ms; replicas vs everything else on the box):")
    for key in ("one", "two"):
        rep, other, texts = cpu[key]
        print(f"  {key} replica(s): replicas {rep / max(texts, 1) * 1000:.1f} ms, proxy + ingress + clients + rest "
              f"{other / max(texts, 1) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
