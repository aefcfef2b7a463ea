"""A short soak (16 clients x 10 s, loopback) and overload behaviour over HTTP.

The full load test (64 clients x 60 s, locust) is bench/loadtest.py; this is its CI-sized sibling.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

pytestmark = pytest.mark.slow

SOURCES = ["这款手机电池续航很强", "今天天气很好", "银行卡怎么解绑", "我想借钱", "苹果手机很好用"]
CANDS = ["手机电量很耐用", "充电速度特别快", "今天下雨了", "如何修改密码"]


def test_soak_16_clients_10_seconds(live_server):
    svc = live_server.service
    expected_vec = {s: svc.encoder.encode([s]).vectors[0] for s in SOURCES}
    expected_rank = {s: svc.encoder.encode([s] + CANDS).vectors for s in SOURCES}
    errors: list[str] = []
    counts = [0] * 16
    stop = time.time() + 10

    def client(i: int) -> None:
        rng = random.Random(i)
        session = requests.Session()
        while time.time() < stop:
            s = rng.choice(SOURCES)
            kind = rng.randrange(4)
            try:
                if kind == 0:
                    r = session.post(live_server.url + "/api/predict", json={"data": [s, ""]}, timeout=30)
                    ok = r.ok and np.allclose(r.json()["data"], expected_vec[s], atol=1e-4)
                elif kind == 1:
                    r = session.post(live_server.url + "/api/predict", json={"data": [s, "\n".join(CANDS)]}, timeout=30)
                    v = expected_rank[s]
                    ok = r.ok and np.allclose(r.json()["data"], v[1:] @ v[0], atol=1e-4)
                elif kind == 2:
                    r = session.post(live_server.url + "/v1/embeddings", json={"input": [s]}, timeout=30)
                    ok = r.ok and np.allclose(r.json()["data"][0]["embedding"], expected_vec[s], atol=1e-4)
                else:
                    r = session.post(live_server.url + "/similarity", json={"sentence_a": s, "sentence_b": CANDS[0]},
                                     timeout=30)
                    v = expected_rank[s]
                    ok = r.ok and abs(r.json()["similarity"] - float(v[1] @ v[0])) < 1e-4
            except requests.RequestException as exc:
                errors.append(repr(exc))
                continue
            counts[i] += 1
            if not ok:
                errors.append(f"{r.status_code} {r.text[:200]}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(client, range(16)))
    total = sum(counts)
    print(f"\nsoak: {total} requests from 16 clients in 10 s, {len(errors)} errors; "
          f"cache hit rate {svc.cache.hit_rate:.1%}")
    assert not errors, errors[:5]
    assert total >= 16 and min(counts) > 0
    assert requests.get(live_server.url + "/health", timeout=10).json()["status"] == "ok"


def test_full_queue_answers_429_fast(tiny_service):
    from conftest import LiveServer

    from gte_ui.engine.batching import DynamicBatcher
    from gte_ui.server import create_app

    gate = threading.Event()
    entered = threading.Event()

    def gated_encode(texts):
        entered.set()
        gate.wait(timeout=30)
        return tiny_service.encoder.encode(texts)

    tiny_service.runner = DynamicBatcher(gated_encode, max_batch=4, wait_ms=0, max_queue=2)
    try:
        with LiveServer(create_app(tiny_service, tiny_service.settings)) as server, ThreadPoolExecutor(4) as pool:
            busy = pool.submit(requests.post, server.url + "/v1/embeddings", json={"input": "占住模型"}, timeout=60)
            assert entered.wait(10)
            waiting = pool.submit(requests.post, server.url + "/v1/embeddings", json={"input": ["甲", "乙"]}, timeout=60)
            deadline = time.time() + 10
            while tiny_service.runner.pending < 2 and time.time() < deadline:
                time.sleep(0.01)
            t0 = time.perf_counter()
            r = requests.post(server.url + "/api/predict", json={"data": ["丙", ""]}, timeout=10)
            assert time.perf_counter() - t0 < 2.0
            assert r.status_code == 429 and r.headers.get("Retry-After") == "1"
            assert "server busy" in r.json()["error"] and r.json()["error_type"] == "overloaded"
            gate.set()
            assert busy.result().ok and waiting.result().ok
            assert requests.post(server.url + "/api/predict", json={"data": ["丙", ""]}, timeout=30).ok
    finally:
        gate.set()
        tiny_service.runner.close()
