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


def sentence_pool(n: int, seed: int = 0) -> list[str]:
    """Distinct sentences, so most requests miss the cache and reach the batcher and the model."""
    import random

    from gte_ui.testing.toymodel import _COMMON_ZH

    rng = random.Random(seed)
    chars = sorted(set(_COMMON_ZH))
    pool = {"".join(rng.choice(chars) for _ in range(rng.randint(6, 30))) for _ in range(n)}
    return sorted(pool) + SOURCES


def expected_vectors(model: str, texts: list[str]) -> dict[str, list[float]]:
    """Vectors the server must return, from the same engine (computed before the load starts)."""
    from gte_ui.core.settings import Settings
    from gte_ui.engine.encoder import Encoder

    enc = Encoder.load(Settings(model=model, device="cpu", precision="fp32"))
    vectors = enc.encode(texts).vectors
    return {t: [round(float(x), 7) for x in v] for t, v in zip(texts, vectors)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--model", default=None, help="model folder (default: a tiny random BERT)")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--pool", type=int, default=3000, help="distinct sentences the clients draw from")
    args = ap.parse_args()
    if args.users < 1 or args.users > 512 or args.seconds <= 0 or args.seconds > 600:
        ap.error("--users must be 1..512 and --seconds 0..600 (the test is bounded)")

    tmp = tempfile.mkdtemp(prefix="gte-load-")
    model = args.model
    if model is None:
        from gte_ui.testing.toymodel import build_random_bert

        model = str(build_random_bert(Path(tmp) / "tiny", "tiny"))
    pool = sentence_pool(args.pool)
    expected = {"vec": expected_vectors(model, pool + CANDIDATES)}

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
        report = run_locust(url, args.users, args.seconds, expected, args.tolerance, tmp)
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


def run_locust(url: str, users: int, seconds: float, expected: dict, tol: float, tmp: str) -> dict:
    """Run locust headless in its own process (gevent must not patch this one) and read its CSVs."""
    import csv

    exp_file = Path(tmp) / "expected.json"
    exp_file.write_text(json.dumps({**expected, "sources": list(expected["vec"])[:-len(CANDIDATES)],
                                    "candidates": CANDIDATES}, ensure_ascii=False), encoding="utf-8")
    prefix = Path(tmp) / "locust"
    env = {**os.environ, "GTE_LOAD_EXPECTED": str(exp_file), "GTE_LOAD_TOLERANCE": str(tol)}
    subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                    "-u", str(users), "-r", str(users), "-t", f"{int(seconds)}s", "--host", url,
                    "--csv", str(prefix), "--only-summary", "--stop-timeout", "10", "--exit-code-on-error", "0"],
                   env=env, check=True, timeout=seconds + 120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wrong: dict[str, int] = {}
    with open(f"{prefix}_failures.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if "wrong answer" in row["Error"]:
                wrong[row["Name"]] = wrong.get(row["Name"], 0) + int(row["Occurrences"])
    routes, total = {}, None
    with open(f"{prefix}_stats.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            entry = {"requests": int(row["Request Count"]), "wrong": wrong.get(row["Name"], 0),
                     "p50": float(row["50%"] or 0), "p95": float(row["95%"] or 0),
                     "rps": float(row["Requests/s"] or 0)}
            entry["errors"] = int(row["Failure Count"]) - entry["wrong"]
            if row["Name"] == "Aggregated":
                total = entry
                total["wrong"] = sum(wrong.values())
                total["errors"] = int(row["Failure Count"]) - total["wrong"]
            else:
                routes[row["Name"]] = entry
    return {"routes": routes, "total": total}


if __name__ == "__main__":
    sys.exit(main())
