"""Prometheus /metrics on a real server: parsed with prometheus_client's own parser."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import LiveServer, serve_app

KEY = "metrics-test-key"


def scrape(server, headers=None) -> dict[tuple[str, tuple], float]:
    r = requests.get(server.url + "/metrics", headers=headers or {}, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def sample(metrics, name, **labels) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def keyed_server(tiny_model_dir):
    from gte_ui.core.settings import Settings

    settings = Settings(model=str(tiny_model_dir), device="cpu", precision="fp32", api_key=KEY)
    with serve_app(settings) as server:
        yield server


def test_metrics_need_the_api_key(keyed_server):
    r = requests.get(keyed_server.url + "/metrics", timeout=10)
    assert r.status_code == 401 and "API" in r.json()["error"]
    scrape(keyed_server, {"Authorization": f"Bearer {KEY}"})


def test_metrics_open_serves_without_the_key(tiny_encoder, tiny_settings):
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    settings = tiny_settings.replace(api_key=KEY, metrics_open=True)
    with LiveServer(create_app(EmbeddingService(tiny_encoder, settings), settings)) as server:
        assert "gte_model_load_seconds" in requests.get(server.url + "/metrics", timeout=10).text
        assert requests.post(server.url + "/embed", json={"inputs": "x"}, timeout=10).status_code == 401


def test_requests_latency_batches_tokens_and_cache_are_counted(keyed_server):
    auth = {"Authorization": f"Bearer {KEY}"}
    before = scrape(keyed_server, auth)
    for text in ("今天天气很好", "今天天气很好", "明天会下雨"):  # the second is a local cache hit
        assert requests.post(keyed_server.url + "/embed", json={"inputs": text}, headers=auth,
                             timeout=10).status_code == 200
    assert requests.post(keyed_server.url + "/embed", json={"inputs": ""}, headers=auth,
                         timeout=10).status_code == 422
    m = scrape(keyed_server, auth)

    def delta(name, **labels):
        return sample(m, name, **labels) - sample(before, name, **labels)

    assert delta("gte_http_requests_total", route="/embed", method="POST", status="200") == 3
    assert delta("gte_http_requests_total", route="/embed", method="POST", status="422") == 1
    assert delta("gte_http_request_duration_seconds_count", route="/embed", method="POST", status="200") == 3
    assert delta("gte_batch_size_count") == 2 and delta("gte_batch_size_sum") == 2  # two misses, one text each
    svc = keyed_server.service
    assert sample(m, "gte_tokens_embedded_total") == svc.tokens_embedded > 0
    assert delta("gte_cache_hits_total", tier="local") == 1
    assert delta("gte_cache_misses_total", tier="local") == 2
    assert sample(m, "gte_cache_up", tier="shared") == 0  # no --cache-url
    assert sample(m, "gte_model_load_seconds") == svc.info.load_seconds
    assert sample(m, "gte_queue_depth") == 0
    assert sample(m, "gte_http_requests_in_progress") == 1  # the scrape itself
    info = [k for k in m if k[0] == "gte_model_info"]
    assert info and ("dim", "32") in info[0][1]
