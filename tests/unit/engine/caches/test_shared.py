"""The shared Redis tier (--cache-url): real redis-server processes, real app processes.

Redis down, slow or full never fails a request; the counters say what happened; vectors that
come back from Redis are bit-identical to the model's.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import redis
import requests

from conftest import AppProcess, LiveServer, RedisServer
from gte_ui.engine.caches.local import CachedVector
from gte_ui.engine.caches.shared import SharedCache, pack, redact_url, shared_key, unpack
from gte_ui.service.options import TextOptions

pytestmark = pytest.mark.redis


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_values_are_the_exact_float32_bytes_and_keys_cover_the_options():
    vec = np.random.default_rng(0).standard_normal(1024).astype(np.float32)
    vec /= np.linalg.norm(vec)
    key = shared_key("model|fp32|512", "文本")
    raw = pack(key, CachedVector(vec, 17, True, 3))
    assert len(raw) == 12 + 16 + 4096  # header, the entry's own key digest, the floats
    back = unpack(key, raw, dim=1024)
    assert back.vector.tobytes() == vec.tobytes()
    assert (back.token_count, back.truncated, back.chunks) == (17, True, 3)
    assert not back.vector.flags.writeable
    assert len(key) == 39 and key.startswith("gte:v2:")
    assert key != shared_key("model|int8|512", "文本") != shared_key("model|fp32|512", "文本 ")


def test_redacted_url_never_shows_the_password():
    assert redact_url("redis://:s3cret@cache.internal:6380/2") == "redis://cache.internal:6380/2"
    assert redact_url("rediss://user:s3cret@h/0") == "rediss://h/0"


def test_service_fills_and_reads_the_shared_tier(tiny_encoder, tiny_settings, redis_server):
    from gte_ui.service.service import EmbeddingService

    settings = tiny_settings.replace(cache_url=redis_server.url)
    a = EmbeddingService.from_settings(settings, batching=False)
    b = EmbeddingService(tiny_encoder, settings, shared=SharedCache(redis_server.url))
    try:
        texts = ["今天天气很好", "手机电量很耐用", "充电速度特别快"]
        va = a.embed(texts).vectors
        assert a.shared.flush() and a.shared.writes == 3
        before = b.encoder.texts_encoded
        res = b.embed(texts)
        assert res.cached == 3 and b.encoder.texts_encoded == before  # no model work in B
        assert res.vectors.tobytes() == va.tobytes()  # bit-identical
        assert b.shared.stats()["hits"] == 3
        b.embed(texts)  # now in B's own LRU: Redis is not asked again
        assert b.shared.stats()["hits"] == 3 and b.cache.hits == 3
        # another long-text mode is another key: a miss in Redis, embedded and shared
        b.embed(texts, options=TextOptions(long_text="chunk"))
        assert b.shared.stats()["misses"] == 3
    finally:
        a.close()
        b.close()


def test_two_app_processes_share_hits_with_identical_vectors(tiny_model_dir, tmp_path):
    """Two real servers, one password-protected Redis: B serves what A embedded, bit for bit;
    the password shows up in no log and no /health."""
    password = "pw-7f3c9a"
    rs = RedisServer(tmp_path, "--requirepass", password).start()
    url = f"redis://:{password}@127.0.0.1:{rs.port}/0"
    apps = [AppProcess(tiny_model_dir, tmp_path, "--cache-url", url) for _ in range(2)]
    try:
        threads = [threading.Thread(target=app.start) for app in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        a, b = apps
        texts = [f"共享缓存的第{i}句话" for i in range(20)]
        va = requests.post(a.url + "/embed", json={"inputs": texts}, timeout=30).json()
        assert wait_for(lambda: requests.get(a.url + "/health").json()["cache"]["shared"]["writes"] == 20)
        vb = requests.post(b.url + "/embed", json={"inputs": texts}, timeout=30).json()
        assert np.array(vb, np.float32).tobytes() == np.array(va, np.float32).tobytes()
        hb = requests.get(b.url + "/health").json()
        assert hb["cache"]["shared"]["hits"] == 20 and hb["cache"]["shared"]["up"]
        assert hb["texts_encoded"] == 0  # B never ran the model for them
        assert password not in str(hb) and hb["cache"]["shared"]["url"] == f"redis://127.0.0.1:{rs.port}/0"
        for app in apps:
            assert password not in app.log
    finally:
        for app in apps:
            app.stop()
        rs.stop()


def test_redis_killed_and_restarted_mid_load_fails_no_request(tiny_model_dir, redis_server, caplog):
    """8 clients for a bounded number of requests; Redis is SIGKILLed after a third of them and
    restarted after two thirds. Every request answers 200 with the right vector; the error
    counter shows the outage; exactly one warning; the tier is used again once Redis is back."""
    from gte_ui.core.settings import Settings
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32",
                        cache_url=redis_server.url, cache_size=0)  # no LRU: every request asks Redis
    service = EmbeddingService.from_settings(settings)
    service.shared.retry_s = 0.2
    reference = EmbeddingService.from_settings(settings.replace(cache_url=None), batching=False)
    texts = [f"第{i}条句子，缓存测试" for i in range(40)]
    expected = {t: v for t, v in zip(texts, reference.embed(texts).vectors)}
    failures: list[str] = []
    done = [0]
    lock = threading.Lock()
    per_client = 30

    def client(c: int) -> None:
        with requests.Session() as s:
            for i in range(per_client):
                text = texts[(c * 7 + i) % len(texts)]
                try:
                    r = s.post(server.url + "/embed", json={"inputs": [text]}, timeout=30)
                    ok = r.status_code == 200 and np.allclose(r.json()[0], expected[text], atol=1e-6)
                    if not ok:
                        failures.append(f"{r.status_code} {r.text[:100]}")
                except requests.RequestException as exc:
                    failures.append(repr(exc))
                with lock:
                    done[0] += 1

    total = 8 * per_client
    with caplog.at_level("WARNING", logger="gte_ui.engine.caches.shared"), LiveServer(create_app(service, settings)) as server:
        clients = [threading.Thread(target=client, args=(c,)) for c in range(8)]
        for t in clients:
            t.start()
        assert wait_for(lambda: done[0] >= total // 3, 60)
        redis_server.stop()
        assert wait_for(lambda: done[0] >= 2 * total // 3, 60)
        errors_while_down = service.shared.errors
        redis_server.start()
        for t in clients:
            t.join(timeout=120)
        assert wait_for(lambda: service.shared.up, 10)
        writes = service.shared.writes
        requests.post(server.url + "/embed", json={"inputs": ["重新连上之后的新句子"]}, timeout=30)
        assert wait_for(lambda: service.shared.writes > writes, 10)  # used again after the restart
        stats = requests.get(server.url + "/health").json()["cache"]["shared"]
    service.close()
    reference.close()
    assert done[0] == total and failures == []
    assert errors_while_down >= 1 and stats["errors"] >= 1 and stats["up"] and stats["hits"] > 0
    down = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(down) == 1 and redis_server.url.split("//")[1] in down[0].getMessage()


def test_full_redis_counts_refused_writes_and_serves(tiny_encoder, tiny_settings, tmp_path, caplog):
    """maxmemory reached under noeviction: Redis refuses writes (OOM); requests still succeed."""
    from gte_ui.service.service import EmbeddingService

    rs = RedisServer(tmp_path, "--maxmemory", "1mb", "--maxmemory-policy", "noeviction").start()
    try:
        filler = redis.Redis(port=rs.port)
        # fill it up to the limit with ballast, as another tenant would
        for i in range(2000):
            try:
                filler.set(f"ballast:{i}", b"x" * 1024)
            except redis.ResponseError:
                break
        svc = EmbeddingService(tiny_encoder, tiny_settings, shared=SharedCache(rs.url))
        with caplog.at_level("WARNING", logger="gte_ui.engine.caches.shared"):
            res = svc.embed([f"满了的缓存{i}" for i in range(50)])
            assert res.vectors.shape == (50, tiny_encoder.dim)
            assert svc.shared.flush()
        st = svc.stats()["cache"]["shared"]
        assert st["errors"] >= 50 and st["writes"] == 0 and st["up"]  # refused, but Redis is up
        assert sum("refused" in r.getMessage() for r in caplog.records) == 1
        svc.close()
    finally:
        rs.stop()


def test_slow_redis_is_bypassed_not_waited_on(tiny_encoder, tiny_settings, redis_server):
    """DEBUG SLEEP freezes the real Redis for 2 s: the request gives up after the 250 ms socket
    timeout, is served from the model, and the breaker keeps later requests off Redis."""
    from gte_ui.service.service import EmbeddingService

    svc = EmbeddingService(tiny_encoder, tiny_settings, shared=SharedCache(redis_server.url, timeout_s=0.25,
                                                                           retry_s=0.5))
    sleeper = threading.Thread(target=lambda: redis.Redis(port=redis_server.port).execute_command("DEBUG", "SLEEP", "2"))
    sleeper.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    first = svc.embed(["慢的缓存"])
    second = svc.embed(["慢的缓存二"])
    elapsed = time.perf_counter() - t0
    down_meanwhile = not svc.shared.up
    sleeper.join()
    assert first.vectors.shape[0] == second.vectors.shape[0] == 1
    assert elapsed < 1.5  # one timeout, then the open breaker: never the 2 s sleep
    assert svc.shared.errors >= 1 and down_meanwhile
    assert wait_for(lambda: svc.shared.up, 5)  # back once Redis answers pings again
    svc.close()


def test_bad_cache_url_is_a_config_error():
    from gte_ui.core.errors import ConfigError
    from gte_ui.core.settings import parse_settings

    with pytest.raises(ConfigError) as err:
        parse_settings(["--cache-url", "http://cache:6379"], env={})
    assert "redis://" in err.value.message and " / " in err.value.message
    assert parse_settings([], env={"GTE_CACHE_URL": "redis://h:1/0"}).cache_url == "redis://h:1/0"
