"""Load test: many concurrent clients against a real server on loopback, bounded in time.

    python bench/loadtest.py                      # 64 users x 60 s, tiny random BERT
    python bench/loadtest.py --users 16 --seconds 10 --model ./models/gte-large-zh

Starts ``app.py`` as a subprocess on 127.0.0.1 (a free port), then runs locust headless with a
mix of pairwise (/similarity), ranking and embedding (/api/predict) and /v1/embeddings calls.
Every answer is checked against expected values computed beforehand by the same engine in this
process. Reports requests, errors, wrong answers, p50/p95 per route, throughput, the server's
RSS at start and end, and cache stats. Exit status 1 on any error or wrong answer.
Only loopback addresses are ever contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCES = ["这款手机电池续航很强", "今天天气很好", "银行卡怎么解绑", "我想借钱", "苹果手机很好用",
           "北京的冬天很冷", "学生在学校考试", "猫和狗是好朋友"]
CANDIDATES = ["手机电量很耐用", "这台设备待机时间久", "电池容量大，用一天没问题", "充电速度特别快",
              "今天下雨了", "如何修改密码", "我的额度是多少", "上海的夏天很热"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def expected_answers(model: str) -> dict:
    """Scores and vectors the server must return, from the same engine (computed before load)."""
    from gte_ui.config import Settings
    from gte_ui.service import EmbeddingService

    svc = EmbeddingService.from_settings(Settings(model=model, device="cpu", precision="fp32"))
    out = {"pair": {}, "rank": {}, "vec": {}}
    for s in SOURCES:
        out["rank"][s] = svc.rank(s, CANDIDATES).scores
        out["vec"][s] = svc.embed([s]).vectors[0].tolist()
        for c in CANDIDATES[:2]:
            out["pair"][f"{s}\t{c}"] = svc.pair(s, c).score
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--model", default=None, help="model folder (default: a tiny random BERT)")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    if args.users < 1 or args.users > 512 or args.seconds <= 0 or args.seconds > 600:
        ap.error("--users must be 1..512 and --seconds 0..600 (the test is bounded)")

    tmp = tempfile.mkdtemp(prefix="gte-load-")
    model = args.model
    if model is None:
        from gte_ui.toymodel import build_random_bert

        model = str(build_random_bert(Path(tmp) / "tiny", "tiny"))
    expected = expected_answers(model)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GTE_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--model", model, "--host", "127.0.0.1",
                               "--port", str(port), "--device", "cpu", "--precision", "fp32"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        import psutil
        import requests

        deadline = time.time() + 120
        while True:
            try:
                if requests.get(url + "/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.time() > deadline or server.poll() is not None:
                print("server did not start:", server.stderr.read() if server.poll() is not None else "")
                return 1
            time.sleep(0.3)
        proc = psutil.Process(server.pid)
        rss_start = proc.memory_info().rss
        report = run_locust(url, args.users, args.seconds, expected, args.tolerance)
        rss_end = proc.memory_info().rss
        health = requests.get(url + "/health", timeout=10).json()
        still_ok = requests.post(url + "/similarity", json={"sentence_a": "你好", "sentence_b": "您好"},
                                 timeout=10).ok
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()

    print(f"\nLoad test: {args.users} users x {args.seconds:.0f} s against {url} (model {model})")
    print(f"{'route':<28}{'requests':>10}{'errors':>8}{'wrong':>7}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>8}")
    for name, row in report["routes"].items():
        print(f"{name:<28}{row['requests']:>10}{row['errors']:>8}{row['wrong']:>7}"
              f"{row['p50']:>9.0f}{row['p95']:>9.0f}{row['rps']:>8.1f}")
    t = report["total"]
    print(f"{'TOTAL':<28}{t['requests']:>10}{t['errors']:>8}{t['wrong']:>7}{t['p50']:>9.0f}{t['p95']:>9.0f}{t['rps']:>8.1f}")
    print(f"server RSS: start {rss_start / 2**20:.0f} MiB, end {rss_end / 2**20:.0f} MiB "
          f"(+{(rss_end - rss_start) / 2**20:.0f} MiB); cache: {json.dumps(health.get('cache', {}))}")
    print(f"server still answering after the run: {still_ok}")
    ok = t["errors"] == 0 and t["wrong"] == 0 and still_ok
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def run_locust(url: str, users: int, seconds: float, expected: dict, tol: float) -> dict:
    """Run locust in-process (gevent) and collect per-route stats plus answer checks."""
    import random

    import gevent
    from locust import HttpUser, between, task
    from locust.env import Environment

    wrong: dict[str, int] = {}

    def check(name: str, ok: bool, response) -> None:
        if not ok:
            wrong[name] = wrong.get(name, 0) + 1
            response.failure("wrong answer")

    class Client(HttpUser):
        wait_time = between(0.0, 0.05)
        host = url

        @task(3)
        def pairwise(self) -> None:
            s, c = random.choice(SOURCES), random.choice(CANDIDATES[:2])
            with self.client.post("/similarity", json={"sentence_a": s, "sentence_b": c},
                                  name="POST /similarity (pair)", catch_response=True) as r:
                if r.ok:
                    check("pair", abs(r.json()["similarity"] - expected["pair"][f"{s}\t{c}"]) < tol, r)

        @task(2)
        def ranking(self) -> None:
            s = random.choice(SOURCES)
            with self.client.post("/api/predict", json={"data": [s, "\n".join(CANDIDATES)]},
                                  name="POST /api/predict (rank)", catch_response=True) as r:
                if r.ok:
                    got = r.json()["data"]
                    check("rank", max(abs(a - b) for a, b in zip(got, expected["rank"][s])) < tol, r)

        @task(2)
        def embed_legacy(self) -> None:
            s = random.choice(SOURCES)
            with self.client.post("/api/predict", json={"data": [s, "", False, False, False, False]},
                                  name="POST /api/predict (vector)", catch_response=True) as r:
                if r.ok:
                    got = r.json()["data"]
                    check("vec", max(abs(a - b) for a, b in zip(got, expected["vec"][s])) < tol, r)

        @task(2)
        def embed_openai(self) -> None:
            batch = random.sample(SOURCES, 3)
            with self.client.post("/v1/embeddings", json={"input": batch, "model": "gte"},
                                  name="POST /v1/embeddings", catch_response=True) as r:
                if r.ok:
                    data = r.json()["data"]
                    good = all(max(abs(a - b) for a, b in zip(d["embedding"], expected["vec"][batch[d["index"]]])) < tol
                               for d in data)
                    check("openai", good and len(data) == 3, r)

    env = Environment(user_classes=[Client])
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.spawn_later(seconds, runner.quit)
    runner.greenlet.join()

    routes = {}
    total_req = total_err = 0
    for (name, _method), entry in sorted(env.stats.entries.items()):
        routes[name] = {"requests": entry.num_requests, "errors": entry.num_failures,
                        "wrong": 0, "p50": entry.get_response_time_percentile(0.5) or 0,
                        "p95": entry.get_response_time_percentile(0.95) or 0,
                        "rps": entry.num_requests / seconds}
        total_req += entry.num_requests
        total_err += entry.num_failures
    for name, key in [("POST /similarity (pair)", "pair"), ("POST /api/predict (rank)", "rank"),
                      ("POST /api/predict (vector)", "vec"), ("POST /v1/embeddings", "openai")]:
        if name in routes:
            routes[name]["wrong"] = wrong.get(key, 0)
    agg = env.stats.total
    n_wrong = sum(wrong.values())
    return {"routes": routes, "total": {"requests": total_req, "errors": total_err - n_wrong, "wrong": n_wrong,
                                        "p50": agg.get_response_time_percentile(0.5) or 0,
                                        "p95": agg.get_response_time_percentile(0.95) or 0,
                                        "rps": total_req / seconds}}


if __name__ == "__main__":
    sys.exit(main())
